"""Load benchmark of the standalone SMSC (``smsgate simulator``): windowed submit_sm over N
transceiver binds with delivery receipts, as the end-to-end benchmarks drive it.

Starts ``smsgate simulator`` on a free port (unless ``--endpoint`` is given) with a rules file
that delivers every message after ``--delay-ms``, then runs :mod:`smpp_load`'s generator (raw
asyncio Protocols over smsgate's sans-IO codec, no smpplib) against it: ``--messages`` submit_sm
with registered_delivery 1 over ``--binds`` binds of one system_id, ``--window`` unanswered per
bind, every deliver_sm answered at once and matched to the ids of the submit_sm_resp. Prints
accepted submits/s, response latency, receipts received / expected and their rate, and the
simulator's CPU and memory.

    python3 bench/simulator_smsc.py --messages 200000 --binds 4 --window 64
    python3 bench/simulator_smsc.py --messages 100000 --rate 6000 --delay-ms 100
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import smpp_load

SYSTEM_ID = "bench"
PASSWORD = "bench"


def start_simulator(
    rules: Path, ids: str, max_pending: int, window: int
) -> tuple[subprocess.Popen[str], int]:
    """``smsgate simulator`` on a port the OS picks; the process and its port."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smsgate.cli",
            "simulator",
            "--smpp-port",
            "0",
            "--rules",
            str(rules),
            "--system-id",
            SYSTEM_ID,
            "--password",
            PASSWORD,
            "--ids",
            ids,
            "--max-pending",
            str(max_pending),
            "--window",
            str(window),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=64, help="submit_sm unanswered per bind")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=0, help="submits/s overall (0: unlimited)")
    parser.add_argument("--processes", type=int, default=1, help="load-generator processes")
    parser.add_argument("--delay-ms", type=int, default=100, help="time before each receipt")
    parser.add_argument("--ids", choices=["dec", "hex"], default="dec")
    parser.add_argument(
        "--deliver-window", type=int, default=64, help="deliver_sm unanswered per bind"
    )
    parser.add_argument("--max-pending", type=int, default=1_000_000)
    parser.add_argument(
        "--receipts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask for delivery receipts (registered_delivery 1) and wait for them",
    )
    parser.add_argument("--receipt-timeout", type=float, default=60)
    parser.add_argument("--stall-timeout", type=float, default=30)
    parser.add_argument("--endpoint", help="host:port of a running simulator (bench/bench)")
    args = parser.parse_args()
    if not 1 <= args.processes <= args.binds:
        parser.error("--processes must be between 1 and --binds")
    args.system_id, args.password = SYSTEM_ID, PASSWORD

    tmp = Path(tempfile.mkdtemp(prefix="smsgate-bench-sim-"))
    proc = None
    try:
        if args.endpoint:
            host, port_text = args.endpoint.rsplit(":", 1)
            port = int(port_text)
        else:
            rules = tmp / "rules.toml"
            rules.write_text(f"[simulator]\ndelay_ms = {args.delay_ms}\nrules = []\n")
            proc, port = start_simulator(rules, args.ids, args.max_pending, args.deliver_window)
            host = "127.0.0.1"
            args.endpoint = f"smsgate simulator, receipts after {args.delay_ms} ms, ids {args.ids}"
        smpp_load.drive(args, host, port, None if proc is None else proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
