"""End to end through a real SMPP upstream: smsgate -> connector -> SMSC -> receipts back,
beside Kannel 1.4.5 against the same SMSC.

Starts ``smsgate simulator`` (the standalone SMSC: every message delivered after ``--delay-ms``)
and ``smsgate serve`` with one connector to it and one route, then measures:

1. **SMPP in -> SMPP out**: :mod:`smpp_load`'s raw generator submits ``--messages`` over
   ``--binds`` binds with receipts requested (as fast as answered, or at ``--rate``); receipts
   come back as deliver_sm. Messages/s end to end and submit-to-receipt latency: as fast as
   answered, that latency is mostly the wait in the queue between acceptance and delivery;
   at a rate below the end-to-end one it is the path's own.
2. **HTTP in -> SMPP out**: signed SendMessageToGlobe requests (``--concurrency`` keep-alive
   clients); receipts come back as Alibaba's HTTP push to a local receiver. Delivered-with-
   receipt messages/s (first request to last receipt) and request-to-receipt latency.
3. **Kannel** (unless ``--no-kannel``; Debian's ``kannel`` package): sendsms over HTTP with a DLR
   URL, one SMPP connection to the same SMSC with the same window; the same figures, and the
   ratio smsgate / Kannel.

    python3 bench/e2e_carriers.py --messages 50000
    python3 bench/e2e_carriers.py --no-kannel --skip-http --upstream-binds 4
    python3 bench/e2e_carriers.py --no-kannel --skip-http --inline-connectors

The SMSC keeps at most 64 receipts unanswered per bind and each is answered once durable, so the
number of upstream binds bounds the receipts a second (README, Performance). "server CPU" is the
server process's; "child CPU" its connector process's (``[upstream] connector_process``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_send
import kannel_peer
import simulator_smsc
import smpp_load


def cli(data_dir: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "smsgate.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    ms = sorted(1000 * v for v in values)

    def at(p: float) -> float:
        return ms[min(len(ms) - 1, int(len(ms) * p))]

    return f"p50 {at(0.5):.0f} ms, p90 {at(0.9):.0f} ms, p99 {at(0.99):.0f} ms"


async def http_phase(
    http_port: int,
    key_id: str,
    secret: str,
    messages: int,
    concurrency: int,
    receipts: dict[str, float],
) -> tuple[float, int, float, list[float]]:
    """Send; wait for every receipt. (send seconds, accepted, end-to-end seconds, latencies)."""
    sent_at: dict[str, float] = {}
    counter = iter(range(messages))
    accepted = 0

    async def client() -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
        head = (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{http_port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
        )
        try:
            for i in counter:
                to = f"659{1 + (i * 7919) % 8}{(i * 104_729) % 1_000_000:06d}"
                data = http_send.body_for(key_id, secret, to, i).encode()
                started = time.perf_counter()
                writer.write(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
                await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                answer = json.loads(await reader.readexactly(length))
                if answer.get("ResponseCode") == "OK":
                    sent_at[answer["MessageId"]] = started
                    accepted += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    send_s = time.perf_counter() - started
    deadline = time.monotonic() + 120
    while len(receipts.keys() & sent_at.keys()) < accepted and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    end_s = max(receipts.values(), default=started) - started
    latencies = [receipts[m] - t for m, t in sent_at.items() if m in receipts]
    return send_s, accepted, end_s, latencies


async def receipt_receiver(receipts: dict[str, float]) -> tuple[web.AppRunner, int]:
    async def push(request: web.Request) -> web.Response:
        now = time.perf_counter()
        for receipt in await request.json():
            if str(receipt.get("Status")) == "1":
                receipts.setdefault(receipt["MessageId"], now)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/receipts", push)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--binds", type=int, default=4, help="SMPP in: client binds")
    parser.add_argument("--window", type=int, default=64, help="SMPP in: window per bind")
    parser.add_argument(
        "--rate", type=float, default=0, help="SMPP in: submits/s (0: as fast as answered)"
    )
    parser.add_argument("--upstream-binds", type=int, default=2)
    parser.add_argument("--upstream-window", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=64, help="HTTP clients")
    parser.add_argument("--delay-ms", type=int, default=100, help="the SMSC's receipt delay")
    parser.add_argument(
        "--inline-connectors",
        action="store_true",
        help="run the connectors in the server's own process ([upstream] connector_process)",
    )
    parser.add_argument("--no-kannel", action="store_true")
    parser.add_argument("--skip-smpp", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="smsgate-e2e-"))
    simulator = server = None
    try:
        rules = tmp / "rules.toml"
        rules.write_text(f"[simulator]\ndelay_ms = {args.delay_ms}\nrules = []\n")
        simulator, smsc_port = simulator_smsc.start_simulator(rules, "dec", 1_000_000, 64)
        data_dir = tmp / "data"
        account, key_id, secret = http_send.create_account(data_dir)
        http_send.lift_number_limits(data_dir, account)
        smpp_load.add_smpp_credentials(data_dir, account)
        cli(data_dir, "connectors", "add", "upstream", "--host", "127.0.0.1",
            "--port", str(smsc_port), "--system-id", simulator_smsc.SYSTEM_ID,
            "--password", simulator_smsc.PASSWORD, "--binds", str(args.upstream_binds),
            "--window", str(args.upstream_window))  # fmt: skip
        cli(data_dir, "routes", "add", "--connector", "upstream")
        http_port = _free_port()
        server, line = http_send.start_server(
            data_dir,
            http_port,
            "full",
            ("--smpp-port", "0"),
            ready="SMPP 3.4 listening on",
            extra_config=(
                "[upstream]\nconnector_process = false\n" if args.inline_connectors else ""
            ),
        )
        smpp_port = int(line.rsplit(":", 1)[1])
        print(
            f"smsgate serve -> connector 'upstream' ({args.upstream_binds} binds, window "
            f"{args.upstream_window}) -> smsgate simulator (receipts after {args.delay_ms} ms)"
        )

        if not args.skip_smpp:
            print("\n== SMPP in -> SMPP out, receipts back as deliver_sm")
            load = argparse.Namespace(
                binds=args.binds, window=args.window, messages=args.messages, rate=args.rate,
                processes=1, receipts=True, receipt_timeout=120, stall_timeout=60,
                system_id=smpp_load.SYSTEM_ID, password=smpp_load.PASSWORD,
                endpoint="smsgate serve -> upstream SMSC",
            )  # fmt: skip
            smpp_load.drive(load, "127.0.0.1", smpp_port, server.pid)

        smsgate_http = None
        if not args.skip_http:
            print("\n== HTTP in -> SMPP out, receipts back as HTTP pushes")
            smsgate_http = asyncio.run(
                _http(data_dir, server, http_port, account, key_id, secret, args)
            )

        if not args.no_kannel:
            # Kannel gets the machine and a fresh SMSC of its own, as smsgate had: an SMSC
            # gives receipts to any receiver bind of a system_id, so sharing one would hand
            # Kannel's receipts to smsgate's binds.
            for proc in (server, simulator):
                proc.terminate()
                proc.wait(30)
            server = None
            simulator, smsc_port = simulator_smsc.start_simulator(rules, "dec", 1_000_000, 64)
            print("\n== Kannel 1.4.5: sendsms in -> SMPP out, DLRs back to a URL")
            with kannel_peer.running_kannel(
                f"127.0.0.1:{smsc_port}",
                simulator_smsc.SYSTEM_ID,
                simulator_smsc.PASSWORD,
                args.upstream_window,
            ):
                run = asyncio.run(kannel_peer.load(args.messages, args.concurrency))
            print(run.report())
            kannel_rate = len(run.dlr_latencies) / max(run.end_to_end_seconds, 1e-9)
            if smsgate_http:
                print(
                    f"ratio smsgate / Kannel, delivered with receipt per second: "
                    f"{smsgate_http / kannel_rate:.1f}"
                )
    finally:
        for proc in (server, simulator):
            if proc is not None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


async def _http(
    data_dir: Path,
    server: subprocess.Popen[str],
    http_port: int,
    account: str,
    key_id: str,
    secret: str,
    args: argparse.Namespace,
) -> float:
    receipts: dict[str, float] = {}
    runner, receiver_port = await receipt_receiver(receipts)
    await asyncio.to_thread(
        cli, data_dir, "accounts", "set-callback", account,
        f"http://127.0.0.1:{receiver_port}/receipts",
    )  # fmt: skip
    await asyncio.sleep(1.5)  # the server re-reads settings within refresh_s (1 s)
    cpu0 = http_send.cpu_seconds(server.pid)
    send_s, accepted, end_s, latencies = await http_phase(
        http_port, key_id, secret, args.messages, args.concurrency, receipts
    )
    cpu = http_send.cpu_seconds(server.pid) - cpu0
    await runner.cleanup()
    rate = len(latencies) / max(end_s, 1e-9)
    print(
        f"smsgate: accepted {accepted:,} of {args.messages:,} in {send_s:.1f} s "
        f"({accepted / send_s:,.0f}/s)"
    )
    print(
        f"smsgate: delivered with receipt {len(latencies):,} in {end_s:.1f} s "
        f"({rate:,.0f}/s end to end); request-to-receipt {percentiles(latencies)}"
    )
    print(
        f"smsgate: server CPU {cpu:.1f} s ({1e6 * cpu / max(accepted, 1):.0f} us a message), "
        f"RSS {http_send.rss_mb(server.pid):.0f} MB"
    )
    return rate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
