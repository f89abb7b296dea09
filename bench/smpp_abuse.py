"""What a client that reads nothing and a password guesser do to an SMPP server and its users.

Starts ``smsgate serve`` with its default [smpp] limits and runs two phases, each beside a
legitimate client whose latency is measured:

1. **Non-reading client.** A bind submits (one PDU in 20 a submit_sm, the rest enquire_link) as
   fast as its socket takes them and never reads an answer. Prints the server's RSS before,
   at its peak and after, when the server cut the client off, and the enquire_link round trip
   of another bind meanwhile.
2. **Password guessing.** ``--guessers`` processes bind with wrong passwords as fast as they can
   (to the legitimate system_id and to made-up ones) for ``--seconds``. Prints attempts/s, the
   answers they got, the server's CPU use, and how long the legitimate client's bind took from
   another address (it bound from there before the attack, so the system_id's lock does not
   hold it).

    python3 bench/smpp_abuse.py [--seconds 10] [--guessers 4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import smpplib.consts
import smpplib.smpp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_send
import smpp_load

LEGIT_HOST = "127.0.0.2"  # the legitimate client's address; abusers come from 127.0.0.1


def pdu(command: str, sequence: int, **fields: object) -> bytes:
    made = smpplib.smpp.make_pdu(command, sequence=sequence, **fields)
    made.sequence = sequence  # make_pdu keeps it only when set after
    data: bytes = made.generate()
    return data


def read_pdu(sock: socket.socket) -> smpplib.command.Command:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by the server")
            data += chunk
        return data

    header = exactly(4)
    (length,) = struct.unpack(">L", header)
    return smpplib.smpp.parse_pdu(header + exactly(length - 4))


def bind(
    port: int,
    password: str,
    system_id: str = smpp_load.SYSTEM_ID,
    host: str = "127.0.0.1",
    rcvbuf: int = 0,
) -> tuple[socket.socket, int]:
    """A transceiver bind: the socket and the bind_resp's status."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((host, 0))
    sock.connect(("127.0.0.1", port))
    sock.sendall(pdu("bind_transceiver", 1, system_id=system_id, password=password))
    return sock, int(read_pdu(sock).status)


def percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "none"
    ms = sorted(1000 * x for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


def enquire_loop(port: int, stop: threading.Event, latencies: list[float]) -> None:
    """The legitimate client: an enquire_link round trip every 10 ms."""
    sock, status = bind(port, smpp_load.PASSWORD, host=LEGIT_HOST)
    assert status == 0, status
    sequence = 2
    while not stop.is_set():
        started = time.perf_counter()
        sock.sendall(pdu("enquire_link", sequence))
        while read_pdu(sock).command != "enquire_link_resp":
            pass
        latencies.append(time.perf_counter() - started)
        sequence += 1
        stop.wait(0.01)
    sock.close()


def non_reader_phase(port: int, pid: int, seconds: float) -> None:
    legit: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=enquire_loop, args=(port, stop, legit), daemon=True)
    watcher.start()
    sock, status = bind(port, smpp_load.PASSWORD, rcvbuf=4096)
    assert status == 0, status
    before = http_send.rss_mb(pid)
    submit = pdu(
        "submit_sm",
        1,
        source_addr="Bench",
        destination_addr="6591234567",
        short_message=b"never read",
    )
    enquire = pdu("enquire_link", 1)
    sent = [0]
    ended: list[str] = []

    def blast() -> None:
        sequence = 2
        try:
            while True:
                sock.sendall(
                    b"".join(
                        smpp_load._with_seq(submit if seq % 20 == 0 else enquire, seq)
                        for seq in range(sequence, sequence + 1000)
                    )
                )
                sequence += 1000
                sent[0] += 1000
        except OSError as exc:
            ended.append(f"{type(exc).__name__}")

    started = time.monotonic()
    blaster = threading.Thread(target=blast, daemon=True)
    blaster.start()
    peak = before
    while blaster.is_alive() and time.monotonic() - started < seconds:
        peak = max(peak, http_send.rss_mb(pid))
        blaster.join(0.05)
    cut = time.monotonic() - started
    sock.close()
    time.sleep(1)
    stop.set()
    watcher.join(10)
    print(
        f"non-reading client: {sent[0]:,} PDUs written in {cut:.1f} s, "
        f"{'cut off by the server (' + ended[0] + ')' if ended else 'NOT cut off'}"
    )
    print(
        f"  server RSS {before:.0f} MB before, {peak:.0f} MB peak, "
        f"{http_send.rss_mb(pid):.0f} MB after"
    )
    print(
        f"  another bind's enquire_link meanwhile: {len(legit)} round trips, {percentiles(legit)}"
    )


def guess(
    port: int,
    index: int,
    stop: multiprocessing.synchronize.Event,
    results: multiprocessing.Queue[Counter[str]],
) -> None:
    """One guesser: wrong passwords, to the real system_id and to made-up ones, until stopped."""
    answers: Counter[str] = Counter()
    n = 0
    while not stop.is_set():
        system_id = smpp_load.SYSTEM_ID if n % 2 else f"guess{index}-{n}"
        try:
            conn, status = bind(port, f"wrong{n}", system_id=system_id)
            conn.close()
            answers[smpplib.consts.DESCRIPTIONS.get(status, str(status))[:40]] += 1
        except OSError as exc:
            answers[type(exc).__name__] += 1
        n += 1
    results.put(answers)


def guessing_phase(port: int, pid: int, seconds: float, guessers: int) -> None:
    # The legitimate client has bound from its address before the attack.
    sock, status = bind(port, smpp_load.PASSWORD, host=LEGIT_HOST)
    assert status == 0, status
    sock.close()
    stop = multiprocessing.Event()
    results: multiprocessing.Queue[Counter[str]] = multiprocessing.Queue()
    cpu_before = http_send.cpu_seconds(pid)
    started = time.monotonic()
    # Processes, not threads: the legitimate client's timings must not wait for the GIL.
    guessers_ = [
        multiprocessing.Process(target=guess, args=(port, i, stop, results), daemon=True)
        for i in range(guessers)
    ]
    for process in guessers_:
        process.start()
    legit: list[float] = []
    refused: Counter[int] = Counter()
    while time.monotonic() - started < seconds:
        t0 = time.perf_counter()
        conn, status = bind(port, smpp_load.PASSWORD, host=LEGIT_HOST)
        conn.close()
        if status == 0:
            legit.append(time.perf_counter() - t0)
        else:
            refused[status] += 1
        time.sleep(0.2)
    stop.set()
    answers: Counter[str] = Counter()
    for _ in guessers_:
        answers.update(results.get(timeout=30))
    for process in guessers_:
        process.join(10)
    elapsed = time.monotonic() - started
    cpu = http_send.cpu_seconds(pid) - cpu_before
    total = sum(answers.values())
    print(
        f"password guessing, {guessers} processes: {total:,} attempts in {elapsed:.1f} s "
        f"({total / elapsed:,.0f}/s), server CPU {100 * cpu / elapsed:.0f}% of one core"
    )
    for answer, count in answers.most_common():
        print(f"  {count:>8,}  {answer}")
    print(
        f"  legitimate binds from {LEGIT_HOST}: {len(legit)} ok ({percentiles(legit)}), "
        f"{sum(refused.values())} refused {dict(refused) or ''}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--guessers", type=int, default=4)
    parser.add_argument(
        "--stall-wait",
        type=float,
        default=60.0,
        help="how long to wait for the cut-off ([smpp] write_stall_s is 30 by default)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="smsgate-smpp-abuse-"))
    server = None
    try:
        data_dir = tmp / "data"
        account, _key, _secret = http_send.create_account(data_dir)
        smpp_load.add_smpp_credentials(data_dir, account)
        server, port = smpp_load.start_server(data_dir, "full")
        non_reader_phase(port, server.pid, args.stall_wait)
        guessing_phase(port, server.pid, args.seconds, args.guessers)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
