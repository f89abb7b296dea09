"""The HTTP port under idle, slow and greedy clients: what one peer holds cannot take it down.

A real server with small limits; the abusive peer connects from 127.0.0.2 and the legitimate
client from 127.0.0.1 (both loopback), so the per-peer cap is exercised as it is in production.
"""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator

import pytest

from smsgate import errors

from .conftest import SIMULATOR_CONFIG, Account, ServerProcess, v1_call

ABUSER = "127.0.0.2"
KEEPALIVE_S = 1.0
BODY_TIMEOUT_S = 1.0
PER_PEER = 50


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = SIMULATOR_CONFIG + (
        "\n[http]\n"
        f"keepalive_timeout_s = {KEEPALIVE_S}\n"
        f"body_timeout_s = {BODY_TIMEOUT_S}\n"
        f"max_connections_per_peer = {PER_PEER}\n"
        "max_connections = 400\n"
        "max_header_bytes = 4096\n"
    )
    proc = ServerProcess(tmp_path_factory.mktemp("limited") / "data", config)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(limited: ServerProcess) -> Account:
    return limited.create_account("legit", balance="100")


def _connect(server: ServerProcess, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP response: its head and its body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a full response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def _send_ok(server: ServerProcess, account: Account) -> None:
    answer = v1_call(server, account, "SendMessageToGlobe", {"To": "6591234567", "Message": "hi"})
    assert answer["ResponseCode"] == "OK"


def test_idle_connection_is_closed_after_the_keepalive_timeout(limited: ServerProcess) -> None:
    sock = _connect(limited)
    opened = time.monotonic()
    assert _read_all(sock) == b""  # closed by the server, nothing sent
    assert KEEPALIVE_S * 0.5 <= time.monotonic() - opened < KEEPALIVE_S + 5
    sock.close()


def test_trickled_headers_are_cut_off(limited: ServerProcess) -> None:
    sock = _connect(limited)
    opened = time.monotonic()
    sock.sendall(b"GET /?Action=SendMessageToGlobe HTTP/1.1\r\n")
    closed = False
    while time.monotonic() - opened < KEEPALIVE_S + 5:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
        except OSError:  # reset by the server
            closed = True
            break
        sock.settimeout(0.2)
        try:
            if sock.recv(65536) == b"":
                closed = True
                break
        except TimeoutError:
            continue
    assert closed, "a client trickling headers kept its connection"
    sock.close()


def test_slow_body_gets_request_timeout(limited: ServerProcess) -> None:
    sock = _connect(limited)
    sock.sendall(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\nAction=Send"
    )
    head, body = _read_response(sock)
    assert head.startswith(b"HTTP/1.1 408")
    assert b"connection: close" in head.lower()
    assert json.loads(body)["Code"] == errors.REQUEST_TIMEOUT.code
    sock.close()


def test_oversized_header_is_refused_before_parsing(limited: ServerProcess) -> None:
    sock = _connect(limited)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n")
    assert _read_all(sock).split(b" ", 2)[1] == b"400"
    sock.close()


def test_parameter_flood_is_refused_without_decoding(
    limited: ServerProcess, client: Account
) -> None:
    query = "&".join(f"k{i}=v" for i in range(200_000))
    sock = _connect(limited)
    started = time.monotonic()
    sock.sendall(f"GET /?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = _read_all(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["Code"] == errors.INVALID_PARAMETER.code
    assert time.monotonic() - started < 1.0
    sock.close()
    _send_ok(limited, client)


def test_one_peer_cannot_hold_every_connection(limited: ServerProcess, client: Account) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    held: list[socket.socket] = []
    try:
        refused = 0
        for _ in range(PER_PEER + 20):
            sock = _connect(limited, ABUSER)
            held.append(sock)
        for sock in held[PER_PEER:]:
            answer = _read_all(sock)
            assert answer.startswith(b"HTTP/1.1 503")
            assert json.loads(answer.partition(b"\r\n\r\n")[2])["Code"] == "ServiceUnavailable"
            refused += 1
        assert refused == 20
        for _ in range(5):  # the legitimate client is served while the abuser holds its share
            _send_ok(limited, client)
    finally:
        for sock in held:
            sock.close()


def test_sigterm_stops_within_the_shutdown_bound_despite_a_stalled_upload(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    config = SIMULATOR_CONFIG + "\n[http]\nbody_timeout_s = 60.0\nshutdown_timeout_s = 1.0\n"
    proc = ServerProcess(tmp_path_factory.mktemp("stopping") / "data", config)
    proc.start()
    sock = _connect(proc)
    try:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAction=")
        started = time.monotonic()
        proc.stop()  # SIGTERM, then waits for the exit
        assert time.monotonic() - started < 5.0
    finally:
        sock.close()
