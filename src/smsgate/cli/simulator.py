"""``smsgate simulator``: the carrier simulator as a standalone SMPP 3.4 SMSC, until SIGINT or
SIGTERM.

It decides every message by the same number rules as the embedded simulator: those of
``--rules FILE`` (a TOML file with a ``[simulator]`` table), else of the ``[simulator]`` table of
smsgate's configuration file (``--config`` or ``SMSGATE_CONFIG``), else the defaults. It needs no
data directory and stores nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from smsgate.cli.common import CliError, Commands, example, tune_for_traffic
from smsgate.config import Config, SimulatorConfig, load_simulator_config
from smsgate.logs import configure_logging

if TYPE_CHECKING:
    from smsgate.adapters.carriers.simulator_smsc import SimulatorSmsc, SmscSettings

__all__ = ["add_commands"]


def _simulate(config: Config, args: argparse.Namespace) -> int:
    settings = _settings(config, args)
    configure_logging(args.log_level, args.log_format)
    tune_for_traffic()
    try:
        asyncio.run(_run(settings, args, config.server.host if args.host is None else args.host))
    except OSError as exc:  # the port is taken
        print(f"smsgate: cannot start the simulator: {exc}", file=sys.stderr)
        return 1
    return 0


def _settings(config: Config, args: argparse.Namespace) -> SmscSettings:
    # Imported here, as serve imports the server: other commands need not load it.
    from smsgate.adapters.carriers.simulator_smsc import SmscSettings  # noqa: PLC0415

    system_ids: list[str] = args.system_id or []
    passwords: list[str] = args.password or []
    if len(system_ids) != len(passwords):
        raise CliError("give each --system-id its --password, in the same order")
    rules: SimulatorConfig = (
        load_simulator_config(Path(args.rules)) if args.rules else config.simulator
    )
    try:
        return SmscSettings(
            rules=rules,
            credentials=dict(zip(system_ids, passwords, strict=True)),
            ids=args.ids,
            receipt_ids=args.receipt_ids,
            max_tps=args.max_tps,
            max_pending=args.max_pending,
            window=args.window,
            receipt_retry_s=args.receipt_retry_s,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None


async def _run(settings: SmscSettings, args: argparse.Namespace, host: str) -> None:
    from smsgate.adapters.carriers.simulator_smsc import SimulatorSmsc  # noqa: PLC0415

    smsc = SimulatorSmsc(settings)
    port = await smsc.start(host, args.smpp_port)
    gc.freeze()  # what start-up loaded lives for the whole run: never scan it again
    if args.mo_every:
        smsc.send_mo_every(args.mo_every, args.mo_from, args.mo_to, args.mo_text)
    print(_banner(settings, args, host, port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("smsgate simulator: stopping", flush=True)
    await smsc.stop()
    print(_summary(smsc), flush=True)


def _banner(settings: SmscSettings, args: argparse.Namespace, host: str, port: int) -> str:
    binds = (
        "system_ids " + ", ".join(sorted(settings.credentials))
        if settings.credentials
        else "any system_id and password"
    )
    rules = f"{len(settings.rules.rules)} number rules"
    rules += f" from {args.rules}" if args.rules else " (the [simulator] table or the defaults)"
    cap = f"{settings.max_tps:g} messages/s per system_id" if settings.max_tps else "none"
    lines = [
        f"smsgate simulator: SMPP 3.4 SMSC listening on {host}:{port}",
        f"smsgate simulator: binds {binds}; message ids {settings.ids}"
        + (f", in receipts {settings.receipt_ids}" if settings.receipt_ids else ""),
        f"smsgate simulator: {rules}, receipts after {settings.rules.delay_ms} ms by default; "
        f"throughput cap {cap}",
    ]
    if args.mo_every:
        lines.append(
            f"smsgate simulator: an MO message from {args.mo_from} to {args.mo_to} every "
            f"{args.mo_every:g} s to each system_id with a receiver bound"
        )
    return "\n".join(lines)


def _summary(smsc: SimulatorSmsc) -> str:
    """What the run answered and owed, for whoever checks that a client lost nothing and sent
    nothing twice (submits taken, by status; receipts that came due; what was never answered)."""
    core = smsc.core
    answers = ", ".join(
        f"{_status_name(status)} {count}" for status, count in sorted(core.answers.items())
    )
    return (
        f"smsgate simulator: answered {core.answers.total()} submitted messages "
        f"({answers or 'none'}); {core.receipts_due} receipts due, {core.mo_sent} MO messages "
        f"sent, {core.outbox.owed()} deliver_sm never acknowledged"
    )


def _status_name(status: int) -> str:
    from smsgate.smpp.constants import CommandStatus  # noqa: PLC0415 - as SmscSettings

    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08x}"


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than zero, not {text}")
        return value

    return parse


def _not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def add_commands(commands: Commands, _common: argparse.ArgumentParser) -> None:
    sim = commands.add_parser(
        "simulator",
        help="run the carrier simulator as a standalone SMPP 3.4 SMSC",
        description=(
            "The carrier simulator as an SMPP 3.4 SMSC: it takes binds (any system_id and "
            "password unless --system-id/--password pairs are given), answers submit_sm, "
            "data_sm and submit_multi with message ids, and sends receipts as deliver_sm by "
            "the number rules of the embedded simulator."
        ),
        **example(
            "--smpp-port 2780",
            "--smpp-port 2780 --rules rules.toml --system-id acme --password s3cret --ids hex",
            "--smpp-port 2780 --max-tps 100 --mo-every 5 --mo-from 6591234567 --mo-to 12345",
        ),
    )
    sim.add_argument("--smpp-port", type=int, required=True, help="port to listen on (0: any)")
    sim.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    sim.add_argument(
        "--rules",
        help="TOML file with a [simulator] table (delay_ms, [[simulator.rules]]) as in "
        "smsgate's configuration (default: the one of --config, else the default rules)",
    )
    sim.add_argument(
        "--config",
        help="smsgate's configuration file, for its [simulator] table (default: $SMSGATE_CONFIG)",
    )
    sim.add_argument(
        "--system-id", action="append", help="a system_id that may bind (repeat for more)"
    )
    sim.add_argument("--password", action="append", help="the password of the --system-id before")
    sim.add_argument(
        "--ids", choices=["dec", "hex"], default="dec", help="message ids in decimal or hex"
    )
    sim.add_argument(
        "--receipt-ids",
        choices=["dec", "hex"],
        help="write the ids in receipts this way (default: as --ids)",
    )
    sim.add_argument(
        "--max-tps",
        type=_not_negative,
        default=0.0,
        help="messages per second per system_id before ESME_RTHROTTLED (default 0: no cap)",
    )
    sim.add_argument(
        "--max-pending",
        type=_positive(int),
        default=100_000,
        help="receipts and MO messages per system_id not yet acknowledged; beyond, submits "
        "asking for a receipt get ESME_RMSGQFUL (default 100000)",
    )
    sim.add_argument(
        "--window",
        type=_positive(int),
        default=64,
        help="deliver_sm sent to one bind and not yet answered (default 64)",
    )
    sim.add_argument(
        "--receipt-retry-s",
        type=_positive(float),
        default=10.0,
        help="a refused or unanswered deliver_sm is sent again after this (default 10)",
    )
    sim.add_argument(
        "--mo-every", type=_positive(float), help="send an MO message every this many seconds"
    )
    sim.add_argument("--mo-from", default="6591234567", help="the MO messages' sender")
    sim.add_argument("--mo-to", default="12345", help="the MO messages' destination")
    sim.add_argument(
        "--mo-text", default="MO message {n}", help="their text ({n}: the message's number)"
    )
    sim.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    sim.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="one line per event as key=value text (default) or as a JSON object",
    )
    sim.set_defaults(run=_simulate, data_dir=None, json=False)
