"""``smsgate serve``: run the server until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from smsgate.cli.common import Commands, example, tune_for_traffic
from smsgate.cli.workers import supervise
from smsgate.config import Config

if TYPE_CHECKING:
    from smsgate.app import Listening
from smsgate.logs import configure_logging
from smsgate.ports.store import StoreError

__all__ = ["add_commands"]


def _serve(config: Config, args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.log_format)
    # The store's writer thread needs the GIL briefly several times per group commit; with the
    # default 5 ms switch interval it waits behind the busy event loop, and every commit (and so
    # every accepted message's latency) stretches by that much.
    sys.setswitchinterval(0.0005)
    tune_for_traffic()
    if config.server.workers > 1:
        return supervise(config, args.argv)
    try:
        asyncio.run(_serve_async(config))
    except (OSError, StoreError) as exc:  # a port taken, a key file damaged, a store unreadable
        print(f"smsgate: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_async(config: Config) -> None:
    from smsgate.bootstrap import bootstrap  # noqa: PLC0415 - admin commands need not load it

    gateway = bootstrap(config)
    listening = await gateway.start()
    gc.freeze()  # what start-up built lives for the whole run: never scan it again
    print("\n".join(_banner(config, listening)), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("smsgate: stopping", flush=True)
    await gateway.stop()


def _banner(config: Config, listening: Listening) -> list[str]:
    """What the operator needs to know once the server is up: where it listens, where its data
    is, how to get started."""
    host, server = listening.http_host, config.server
    lines = []
    if listening.http_port is not None:
        lines.append(
            "smsgate: HTTP API (Alibaba Cloud SMS 2018-05-01) listening on "
            f"http://{host}:{listening.http_port}"
        )
    if listening.smpp_port is not None:
        lines.append(f"smsgate: SMPP 3.4 listening on {host}:{listening.smpp_port}")
    if listening.smpp_tls_port is not None:
        lines.append(f"smsgate: SMPP 3.4 over TLS listening on {host}:{listening.smpp_tls_port}")
    if server.role in ("all", "worker"):
        lines.append(f"smsgate: delivering as node {server.node_id}")
    data_dir = server.data_dir.resolve()
    if config.store.url:
        lines.append(f"smsgate: store PostgreSQL (keys in {data_dir})")
    else:
        lines.append(f"smsgate: data directory {data_dir}")
    if config.redis.url:
        lines.append("smsgate: limits and replay nonces shared in Redis")
    if listening.http_port is not None:
        lines.append(f"smsgate: admin API under /admin, token {_token_source(config)}")
    lines.append(
        f"smsgate: create credentials with: {_self_command()} accounts create "
        f"--data-dir {data_dir} --name demo --balance 100 --json"
    )
    if config.store.url:
        lines.append(
            "smsgate: administration commands need the same store: --store, "
            "SMSGATE_STORE_URL or [store] url"
        )
    lines.append(f"smsgate: ready (role {server.role})")
    return lines


def _self_command() -> str:
    """How the user can run this same smsgate again: its script, or the module."""
    script = Path(sys.argv[0])
    if script.name == "smsgate":
        return str(script.resolve())
    return f"{sys.executable} -m smsgate.cli"


def _token_source(config: Config) -> str:
    if config.admin.token:
        return "as set in the configuration file"
    return f"in {config.admin_token_path.resolve()}"


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="run the server",
        **example("", "--http-port 9000 --smpp-port 2775 --data-dir /var/lib/smsgate"),
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--http-port", type=int, help="HTTP API port (default 8080)")
    serve.add_argument("--smpp-port", type=int, help="SMPP port (default 2775)")
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes behind the same ports (default 1; more need --store and --redis)",
    )
    serve.add_argument(
        "--role",
        choices=["all", "api", "smpp", "worker"],
        help="what this process does (default all): the HTTP door, the SMPP door, or delivery "
        "(queue, receipts, callbacks, connectors); one part alone needs --store and --redis",
    )
    serve.add_argument(
        "--node-id",
        type=int,
        help="0-1023, in every message id this process issues: processes sharing a store need "
        "distinct ones (--workers N takes N from this one)",
    )
    serve.add_argument("--reuse-port", action="store_true", default=None, help=argparse.SUPPRESS)
    serve.add_argument(
        "--redis",
        metavar="URL",
        help="a Redis URL: throttling counters and replay nonces shared by every process "
        "(default: $SMSGATE_REDIS_URL, else [redis] url, else in this process's memory)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="one line per event as key=value text (default) or as a JSON object",
    )
    serve.set_defaults(run=_serve)
