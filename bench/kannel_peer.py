"""Kannel 1.4.5 as the peer to measure smsgate against: HTTP sendsms in, SMPP out, DLRs back.

Starts ``bearerbox`` and ``smsbox`` (Debian's ``kannel`` package: ``apt-get install kannel``)
with one SMPP SMSC connection to ``--smsc HOST:PORT``, then sends ``--messages`` through
smsbox's ``/cgi-bin/sendsms`` with ``dlr-mask=1`` (delivered) and a ``dlr-url`` on a local
receiver, ``--concurrency`` requests at a time. Prints sendsms accepted/s, delivered-with-receipt
messages/s end to end (first request to last DLR), submit-to-DLR latency percentiles, and how
many messages were still waiting in Kannel when the last request was accepted.

Used by bench/e2e_carriers.py, which runs it beside smsgate against the same SMSC; standalone:

    python3 bench/kannel_peer.py --smsc 127.0.0.1:2775 --system-id kannel --password s3cret
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

SENDSMS_USER = "bench"
SENDSMS_PASSWORD = "bench"  # a throwaway Kannel on loopback
ADMIN_PASSWORD = "bench"


@dataclass
class KannelRun:
    messages: int
    accepted: int = 0
    refused: int = 0
    send_seconds: float = 0.0
    waiting_at_end_of_send: int | None = None
    dlr_latencies: list[float] = field(default_factory=list)
    end_to_end_seconds: float = 0.0

    def report(self) -> str:
        lat = sorted(self.dlr_latencies)

        def pct(p: float) -> str:
            return f"{1000 * lat[min(len(lat) - 1, int(len(lat) * p))]:.0f}" if lat else "-"

        delivered = len(lat)
        waiting = "?" if self.waiting_at_end_of_send is None else self.waiting_at_end_of_send
        return "\n".join(
            [
                f"kannel: sendsms accepted {self.accepted:,} of {self.messages:,} in "
                f"{self.send_seconds:.1f} s ({self.accepted / self.send_seconds:,.0f}/s), "
                f"{self.refused} refused",
                f"kannel: still queued in bearerbox when sending ended: {waiting}",
                f"kannel: delivered with receipt {delivered:,} in {self.end_to_end_seconds:.1f} s "
                f"({delivered / max(self.end_to_end_seconds, 1e-9):,.0f}/s end to end)",
                f"kannel: request-to-DLR latency ms p50 {pct(0.5)} p90 {pct(0.9)} p99 {pct(0.99)}",
            ]
        )


def _config(work: Path, smsc: str, system_id: str, password: str, window: int) -> Path:
    host, port = smsc.rsplit(":", 1)
    conf = work / "kannel.conf"
    conf.write_text(
        f"""group = core
admin-port = 13900
admin-password = {ADMIN_PASSWORD}
smsbox-port = 13901
log-level = 3
log-file = "{work}/bearerbox.log"
box-allow-ip = 127.0.0.1
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = upstream
host = {host}
port = {port}
transceiver-mode = true
smsc-username = "{system_id}"
smsc-password = "{password}"
system-type = ""
max-pending-submits = {window}
enquire-link-interval = 30
msg-id-type = 0x00

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = 13913
log-level = 3
log-file = "{work}/smsbox.log"
mo-recode = false

group = sendsms-user
username = {SENDSMS_USER}
password = {SENDSMS_PASSWORD}
max-messages = 10
concatenation = true
"""
    )
    return conf


@contextlib.contextmanager
def running_kannel(smsc: str, system_id: str, password: str, window: int = 64) -> Iterator[Path]:
    """bearerbox + smsbox bound to ``smsc``; yields the work directory (logs)."""
    if shutil.which("bearerbox") is None and not Path("/usr/sbin/bearerbox").exists():
        raise SystemExit("Kannel is not installed: apt-get install kannel")
    work = Path(tempfile.mkdtemp(prefix="kannel-bench-"))
    conf = _config(work, smsc, system_id, password, window)
    boxes = []
    try:
        boxes.append(
            subprocess.Popen(
                ["/usr/sbin/bearerbox", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait_port(13901)
        boxes.append(
            subprocess.Popen(
                ["/usr/sbin/smsbox", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait_port(13913)
        _wait_bound()
        yield work
    finally:
        for box in reversed(boxes):
            box.send_signal(signal.SIGTERM)
            try:
                box.wait(15)
            except subprocess.TimeoutExpired:
                box.kill()
        shutil.rmtree(work, ignore_errors=True)


def _wait_port(port: int, timeout_s: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"Kannel did not open port {port}")


def _status() -> str:
    import urllib.request

    url = f"http://127.0.0.1:13900/status.txt?password={ADMIN_PASSWORD}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


def _wait_bound(timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if "online" in _status():
                return
        time.sleep(0.2)
    raise SystemExit("Kannel's SMSC connection never came online")


def queued() -> int | None:
    """Messages bearerbox still holds (its 'queued' SMS count)."""
    with contextlib.suppress(OSError):
        # "SMS: received 12 (0 queued), sent 3000 (1234 queued), store size 0"
        found = re.search(r"SMS: received \d+ \(\d+ queued\), sent \d+ \((\d+) queued\)", _status())
        if found:
            return int(found.group(1))
    return None


async def load(messages: int, concurrency: int, destination: str = "6591234567") -> KannelRun:
    """Send ``messages`` through sendsms and wait for their DLRs (up to 120 s after the last)."""
    run = KannelRun(messages)
    sent_at: dict[int, float] = {}
    all_in = asyncio.Event()

    async def dlr(request: web.Request) -> web.Response:
        number = int(request.query["n"])
        if request.query.get("s") == "1" and number in sent_at:
            run.dlr_latencies.append(time.perf_counter() - sent_at.pop(number))
            if len(run.dlr_latencies) >= run.accepted and sending_done.is_set():
                all_in.set()
        return web.Response(text="ok")

    sending_done = asyncio.Event()
    app = web.Application()
    app.router.add_get("/dlr", dlr)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    counter = iter(range(messages))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", 13913)
        try:
            for number in counter:
                dlr_url = quote(f"http://127.0.0.1:{port}/dlr?n={number}&s=%d", safe="")
                path = (
                    f"/cgi-bin/sendsms?username={SENDSMS_USER}&password={SENDSMS_PASSWORD}"
                    f"&to={destination}&from=Bench&text=kannel+bench+{number}"
                    f"&dlr-mask=1&dlr-url={dlr_url}"
                )
                sent_at[number] = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if b" 202 " in status or b" 200 " in status:
                    run.accepted += 1
                else:
                    run.refused += 1
                    sent_at.pop(number, None)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    run.send_seconds = time.perf_counter() - started
    run.waiting_at_end_of_send = await asyncio.to_thread(queued)
    sending_done.set()
    if len(run.dlr_latencies) >= run.accepted:
        all_in.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_in.wait(), 120)
    run.end_to_end_seconds = time.perf_counter() - started
    await runner.cleanup()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smsc", required=True, help="HOST:PORT of the SMSC Kannel binds to")
    parser.add_argument("--system-id", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--window", type=int, default=64, help="Kannel max-pending-submits")
    args = parser.parse_args()
    with running_kannel(args.smsc, args.system_id, args.password, args.window):
        run = asyncio.run(load(args.messages, args.concurrency))
    print(run.report())
    if run.dlr_latencies:
        print(f"kannel: mean DLR latency {statistics.mean(run.dlr_latencies) * 1000:.0f} ms")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
