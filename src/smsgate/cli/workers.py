"""``smsgate serve --workers N``: N server processes behind the same ports.

The command runs :class:`smsgate.supervisor.Supervisor` over N copies of itself, each given
``--workers 1`` (so it serves instead of supervising), the ports chosen here (the same for
all), ``--node-id`` of its own and ``--reuse-port``. Everything else on the command line and in
the configuration reaches every child unchanged. Each child's output is shown with its number.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence

from smsgate.config import Config
from smsgate.supervisor import Supervisor, reserve_port

__all__ = ["child_command", "supervise"]


def supervise(config: Config, argv: Sequence[str]) -> int:
    """Run ``config.server.workers`` children until SIGINT or SIGTERM; the exit status."""
    server = config.server
    if config.smpp.tls_cert and config.smpp.tls_port == 0:
        print("smsgate: --workers needs a fixed [smpp] tls_port", file=sys.stderr)
        return 2
    try:
        http, http_port = reserve_port(server.host, server.http_port)
        smpp, smpp_port = reserve_port(server.host, server.smpp_port)
    except OSError as exc:
        print(f"smsgate: cannot start: {exc}", file=sys.stderr)
        return 1
    with http, smpp:
        supervisor = Supervisor(
            lambda index: child_command(argv, index, config, http_port, smpp_port),
            server.workers,
            on_line=_show,
        )
        print(
            f"smsgate: {server.workers} workers on HTTP port {http_port} and SMPP port "
            f"{smpp_port}, node ids {server.node_id}-{server.node_id + server.workers - 1}",
            flush=True,
        )
        asyncio.run(_run(supervisor))
    return 0


def child_command(
    argv: Sequence[str], index: int, config: Config, http_port: int, smpp_port: int
) -> list[str]:
    """The command line of child ``index``: the supervisor's own, with what is the child's
    appended (argparse keeps the last value given for an option)."""
    return [
        sys.executable,
        "-m",
        "smsgate.cli",
        *argv,
        "--workers",
        "1",
        "--http-port",
        str(http_port),
        "--smpp-port",
        str(smpp_port),
        "--node-id",
        str(config.server.node_id + index),
        "--reuse-port",
    ]


async def _run(supervisor: Supervisor) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.stop)
    await supervisor.run()


def _show(index: int, line: str) -> None:
    """A child's line, with its number: ``smsgate[1]: ...``."""
    if line.startswith("smsgate:"):
        line = f"smsgate[{index}]:" + line.removeprefix("smsgate:")
    else:
        line = f"smsgate[{index}]: {line}"
    print(line, flush=True)
