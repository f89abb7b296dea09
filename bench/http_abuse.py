"""What idle, greedy and oversized HTTP clients do to everyone else's latency.

Starts ``smsgate serve`` with its default limits, then measures a legitimate client (a few
keep-alive connections from 127.0.0.1, signed SendMessageToGlobe requests) three times: alone,
while 1,100 idle connections from 127.0.0.2 are open, and while two connections from 127.0.0.2
keep sending request lines of several MiB (a parameter flood and one long parameter). Prints the
legitimate p50/p99 and how many of its requests were answered in each phase.

    python3 bench/http_abuse.py [--idle 1100] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_send

ABUSER = "127.0.0.2"


async def legit_phase(
    port: int, key_id: str, secret: str, requests: int, clients: int
) -> tuple[list[float], int]:
    """``requests`` signed sends over ``clients`` keep-alive connections: latencies, failures."""
    latencies: list[float] = []
    failures = [0]
    counter = [0]

    async def one_client() -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except (OSError, TimeoutError):
            failures[0] += 1
            return
        head = (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
        )
        try:
            while counter[0] < requests:
                i = counter[0]
                counter[0] += 1
                data = http_send.body_for(key_id, secret, f"6591{i % 10_000:06d}", i).encode()
                started = time.perf_counter()
                writer.write(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
                try:
                    status = await asyncio.wait_for(reader.readline(), 10)
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    await reader.readexactly(length)
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    failures[0] += 1
                    return
                if b" 200 " in status:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures[0] += 1
        finally:
            writer.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return sorted(latencies), failures[0]


def report(name: str, latencies: list[float], failures: int) -> None:
    if not latencies:
        print(f"{name:<28} answered 0, failed {failures}")
        return

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(
        f"{name:<28} answered {len(latencies):>5}, failed {failures:>4}, "
        f"p50 {q(0.5):6.1f} ms, p99 {q(0.99):7.1f} ms"
    )


def open_idle(port: int, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        sock = socket.socket()
        try:
            sock.bind((ABUSER, 0))
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            break
        held.append(sock)
    return held


def flood(port: int, stop: threading.Event, kind: str) -> None:
    """Send request lines of several MiB over and over, reading whatever comes back."""
    if kind == "pairs":
        query = "&".join(f"k{i}=v" for i in range(400_000))
    else:
        query = "Action=SendMessageToGlobe&Message=" + "%E4%BD%A0" * 440_000
    request = f"GET /?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    while not stop.is_set():
        with contextlib.suppress(OSError), socket.socket() as sock:
            sock.bind((ABUSER, 0))
            sock.settimeout(10)
            sock.connect(("127.0.0.1", port))
            sock.sendall(request)
            while sock.recv(65536):
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=int, default=1100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=18180)
    parser.add_argument("--server-config", default="", help="TOML added to the server's config")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 512)), hard))

    tmp = Path(tempfile.mkdtemp(prefix="smsgate-abuse-"))
    server = None
    try:
        data_dir = tmp / "data"
        _account, key_id, secret = http_send.create_account(data_dir)
        # The server gets the open-file limit an operator's default shell gives: 1,024.
        server, _ = http_send.start_server(
            data_dir,
            args.port,
            "full",
            ("--smpp-port", "0"),
            extra_config=args.server_config.replace("\\n", "\n"),
            preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)),
        )
        run = asyncio.run

        report("alone", *run(legit_phase(args.port, key_id, secret, args.requests, args.clients)))
        held = open_idle(args.port, args.idle)
        time.sleep(1)
        report(
            f"{len(held)} idle connections",
            *run(legit_phase(args.port, key_id, secret, args.requests, args.clients)),
        )
        for sock in held:
            sock.close()
        stop = threading.Event()
        flooders = [
            threading.Thread(target=flood, args=(args.port, stop, kind), daemon=True)
            for kind in ("pairs", "long")
        ]
        for thread in flooders:
            thread.start()
        time.sleep(1)
        report(
            "2 oversized request lines",
            *run(legit_phase(args.port, key_id, secret, args.requests, args.clients)),
        )
        stop.set()
        for thread in flooders:
            thread.join(15)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
