"""What every administration command shares: the store of the data directory, the services over
it, argument parsing helpers and output."""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeAlias

from smsgate.adapters.storage.factory import open_store
from smsgate.cli.output import print_output
from smsgate.config import Config
from smsgate.domain.models import Account
from smsgate.ports.clock import SystemClock
from smsgate.ports.store import Store
from smsgate.service.accounts import AccountService, parse_money
from smsgate.service.admin import AdminService, NotFoundError

__all__ = [
    "CliError",
    "Commands",
    "Tools",
    "actions_arg",
    "example",
    "money_arg",
    "must_account",
    "require_data_dir",
    "server_url",
    "with_store",
]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(Exception):
    """A user mistake: printed as one line, exit status 2."""


@dataclass(frozen=True, slots=True)
class Tools:
    store: Store
    accounts: AccountService
    admin: AdminService


Work = Callable[[Tools, argparse.Namespace], Coroutine[Any, Any, Any]]


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual but keeps the examples' lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def tune_for_traffic() -> None:
    """Settings of a long-running process that handles traffic (``serve``, ``simulator``).

    Every message allocates PDUs and records, and long-lived caches (numbers, nonces, throttle
    counters) hold millions of objects: with the default thresholds, young collections run
    every few hundred messages and full ones often, each a pause for everything in flight.
    Fewer, larger collections cost less. uvloop, where installed, runs the event loop faster."""
    gc.set_threshold(100_000, 50, 100)
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, absent on some platforms

        uvloop.install()
    except ImportError:
        pass


def example(*lines: str) -> dict[str, Any]:
    """``add_parser`` keyword arguments that end the command's ``--help`` with examples.

    Each line is the command's arguments; ``--help`` shows it after the command's own name.
    """
    shown = "\n".join(f"  %(prog)s {line}".rstrip() for line in lines)
    heading = "example:" if len(lines) == 1 else "examples:"
    return {"epilog": f"{heading}\n{shown}", "formatter_class": _HelpFormatter}


def require_data_dir(config: Config) -> None:
    """Refuse to go on without an existing data directory.

    Opening a store creates one, and an administration command run from another folder would
    then fill a new, empty directory that no server reads. Only ``init`` and ``serve`` create it.
    """
    data_dir = config.server.data_dir
    if data_dir.is_dir():
        return
    where = data_dir.resolve()
    raise CliError(
        f"no data directory {where} (from {config.data_dir_source}). Create it with "
        f"`smsgate init --data-dir {where}` or by starting the server on it "
        f"(`smsgate serve --data-dir {where}`), or point at an existing one with --data-dir, "
        "SMSGATE_DATA_DIR or [server] data_dir in the --config file"
    )


def with_store(work: Work) -> Callable[[Config, argparse.Namespace], int]:
    """Run ``work`` against the data directory's store and print what it returns."""

    def run(config: Config, args: argparse.Namespace) -> int:
        require_data_dir(config)

        async def go() -> Any:
            store = open_store(config)
            await store.start()
            clock = SystemClock()
            try:
                return await work(
                    Tools(store, AccountService(store, clock), AdminService(store, clock)), args
                )
            except NotFoundError as exc:
                raise CliError(str(exc)) from None
            except ValueError as exc:
                raise CliError(str(exc)) from None
            finally:
                await store.close()

        output = asyncio.run(go())
        if output is not None:
            print_output(output, args.json)
        return 0

    return run


def server_url(config: Config, endpoint: str | None) -> str:
    """The running server's base URL (ending in ``/``): ``endpoint`` (``--endpoint``), else the
    configured HTTP port on this machine."""
    if endpoint:
        url = endpoint
        if not url.startswith(("http://", "https://")):
            url = f"http://{url}"
        return url if url.endswith("/") else f"{url}/"
    host = config.server.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - listening on all: call it locally
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.server.http_port}/"


def actions_arg(raw: str | None) -> frozenset[str] | None:
    if raw is None or raw.strip().lower() == "all":
        return None
    actions = frozenset(a.strip() for a in raw.split(",") if a.strip())
    if not actions:
        raise CliError("--actions needs a comma-separated list of actions, or 'all'")
    return actions


def money_arg(raw: str) -> int:
    try:
        return parse_money(raw)
    except ValueError as exc:
        raise CliError(str(exc)) from None


async def must_account(store: Store, account_id: str) -> Account:
    account = await store.get_account(account_id)
    if account is None:
        raise CliError(f"no account {account_id}")
    return account
