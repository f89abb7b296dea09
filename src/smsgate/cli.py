"""The ``smsgate`` command: run the server and administer accounts, keys and templates.

Administration commands work on the data directory's store directly, whether or not a server is
running on it (SQLite WAL lets both write); a running server sees changes within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from smsgate.app import Gateway, open_store
from smsgate.config import Config, ConfigError, load_config
from smsgate.domain.models import (
    AccessKey,
    Account,
    AccountState,
    Message,
    Template,
    TemplateStatus,
)
from smsgate.ports.clock import SystemClock
from smsgate.ports.store import Store
from smsgate.service.accounts import AccountService, format_money, parse_money

__all__ = ["main"]

TEMPLATE_TYPES = ("verification", "notification", "promotion")


class CliError(Exception):
    """A user mistake: printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        config = load_config(
            Path(args.config) if args.config else None,
            data_dir=Path(args.data_dir) if args.data_dir else None,
            http_port=getattr(args, "http_port", None),
            smpp_port=getattr(args, "smpp_port", None),
            host=getattr(args, "host", None),
        )
        result: int = args.run(config, args)
        return result
    except (ConfigError, CliError) as exc:
        print(f"smsgate: {exc}", file=sys.stderr)
        return 2


# --- serve -----------------------------------------------------------------------------------


def _serve(config: Config, args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The store's writer thread needs the GIL briefly several times per group commit; with the
    # default 5 ms switch interval it waits behind the busy event loop, and every commit (and so
    # every accepted message's latency) stretches by that much.
    sys.setswitchinterval(0.0005)
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, absent on some platforms

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(_serve_async(config))
    except OSError as exc:  # the port is taken, the data directory is not writable...
        print(f"smsgate: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_async(config: Config) -> None:
    gateway = Gateway(config)
    listening = await gateway.start()
    data_dir = config.server.data_dir.resolve()
    print(
        f"smsgate: HTTP API (Alibaba Cloud SMS 2018-05-01) listening on "
        f"http://{listening.http_host}:{listening.http_port}\n"
        f"smsgate: data directory {data_dir}\n"
        f"smsgate: create credentials with: {_self_command()} accounts create "
        f"--data-dir {data_dir} --name demo --balance 100 --json",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("smsgate: stopping", flush=True)
    await gateway.stop()


def _self_command() -> str:
    """How the user can run this same smsgate again: its script, or the module."""
    script = Path(sys.argv[0])
    if script.name == "smsgate":
        return str(script.resolve())
    return f"{sys.executable} -m smsgate.cli"


# --- administration ------------------------------------------------------------------------


def _with_store(
    work: Callable[[Store, AccountService, argparse.Namespace], Coroutine[Any, Any, Any]],
) -> Callable[[Config, argparse.Namespace], int]:
    def run(config: Config, args: argparse.Namespace) -> int:
        async def go() -> Any:
            store = open_store(config)
            await store.start()
            try:
                return await work(store, AccountService(store, SystemClock()), args)
            finally:
                await store.close()

        output = asyncio.run(go())
        if output is not None:
            _print(output, args.json)
        return 0

    return run


def _print(output: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(output, indent=2, ensure_ascii=False))
        return
    rows = output if isinstance(output, list) else [output]
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items() if v is not None))


def _account_view(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.id,
        "name": account.name,
        "state": account.state.value,
        "balance": format_money(account.balance_micros),
        "callback_url": account.callback_url,
    }


def _key_view(key: AccessKey, with_secret: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "access_key_id": key.id,
        "account_id": key.account_id,
        "enabled": key.enabled,
        "actions": sorted(key.allowed_actions) if key.allowed_actions is not None else "all",
    }
    if with_secret:
        view["access_key_secret"] = key.secret
    return view


def _template_view(t: Template) -> dict[str, Any]:
    return {
        "account_id": t.account_id,
        "code": t.code,
        "type": t.template_type,
        "status": t.status.value,
        "content": t.content,
    }


def _actions(raw: str | None) -> frozenset[str] | None:
    if raw is None or raw.strip().lower() == "all":
        return None
    actions = frozenset(a.strip() for a in raw.split(",") if a.strip())
    if not actions:
        raise CliError("--actions needs a comma-separated list of actions, or 'all'")
    return actions


def _money(raw: str) -> int:
    try:
        return parse_money(raw)
    except ValueError as exc:
        raise CliError(str(exc)) from None


async def _must_account(store: Store, account_id: str) -> Account:
    account = await store.get_account(account_id)
    if account is None:
        raise CliError(f"no account {account_id}")
    return account


async def _accounts_create(
    _store: Store, service: AccountService, args: argparse.Namespace
) -> dict[str, Any]:
    account, key = await service.create_account(
        args.name,
        balance_micros=_money(args.balance),
        callback_url=args.callback_url,
        actions=_actions(args.actions),
    )
    return {**_account_view(account), **_key_view(key, with_secret=True)}


async def _accounts_list(
    store: Store, _service: AccountService, _args: argparse.Namespace
) -> list[dict[str, Any]]:
    return [_account_view(a) for a in await store.list_accounts()]


async def _accounts_show(
    store: Store, _service: AccountService, args: argparse.Namespace
) -> dict[str, Any]:
    account = await _must_account(store, args.account_id)
    keys = await store.list_keys(account.id)
    return {**_account_view(account), "keys": [_key_view(k) for k in keys]}


def _set_state(state: AccountState) -> Any:
    async def run(
        store: Store, _service: AccountService, args: argparse.Namespace
    ) -> dict[str, Any]:
        if not await store.set_account_state(args.account_id, state):
            raise CliError(f"no account {args.account_id}")
        return _account_view(await _must_account(store, args.account_id))

    return run


async def _accounts_set_state(
    store: Store, service: AccountService, args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = await _set_state(AccountState(args.state))(store, service, args)
    return result


async def _accounts_top_up(
    store: Store, _service: AccountService, args: argparse.Namespace
) -> dict[str, Any]:
    if await store.add_balance(args.account_id, _money(args.amount)) is None:
        raise CliError(f"no account {args.account_id}")
    return _account_view(await _must_account(store, args.account_id))


async def _accounts_set_callback(
    store: Store, _service: AccountService, args: argparse.Namespace
) -> dict[str, Any]:
    url = None if args.url in ("", "none") else args.url
    if url is not None and not url.startswith(("http://", "https://")):
        raise CliError("the callback URL must start with http:// or https://")
    if not await store.set_callback_url(args.account_id, url):
        raise CliError(f"no account {args.account_id}")
    return _account_view(await _must_account(store, args.account_id))


async def _keys_create(
    _store: Store, service: AccountService, args: argparse.Namespace
) -> dict[str, Any]:
    key = await service.create_key(args.account_id, _actions(args.actions))
    if key is None:
        raise CliError(f"no account {args.account_id}")
    return _key_view(key, with_secret=True)


async def _keys_list(
    store: Store, _service: AccountService, args: argparse.Namespace
) -> list[dict[str, Any]]:
    await _must_account(store, args.account_id)
    return [_key_view(k) for k in await store.list_keys(args.account_id)]


def _key_change(change: Callable[[Store, argparse.Namespace], Coroutine[Any, Any, bool]]) -> Any:
    async def run(store: Store, _service: AccountService, args: argparse.Namespace) -> Any:
        if not await change(store, args):
            raise CliError(f"no access key {args.key_id}")
        found = await store.find_key(args.key_id)
        return None if found is None else _key_view(found[0])

    return run


def _set_key_enabled(
    enabled: bool,
) -> Callable[[Store, argparse.Namespace], Coroutine[Any, Any, bool]]:
    async def change(store: Store, args: argparse.Namespace) -> bool:
        return await store.set_key_enabled(args.key_id, enabled)

    return change


async def _templates_add(
    store: Store, _service: AccountService, args: argparse.Namespace
) -> dict[str, Any]:
    await _must_account(store, args.account_id)
    template = Template(
        account_id=args.account_id,
        code=args.code,
        content=args.content,
        template_type=args.type,
        status=TemplateStatus(args.status),
        created_at=SystemClock().now(),
    )
    await store.put_template(template)
    return _template_view(template)


async def _templates_list(
    store: Store, _service: AccountService, args: argparse.Namespace
) -> list[dict[str, Any]]:
    return [_template_view(t) for t in await store.list_templates(args.account_id)]


def _message_view(m: Message) -> dict[str, Any]:
    return {
        "message_id": m.id,
        "to": m.to,
        "from": m.sender,
        "status": m.status.value,
        "error_code": m.error_code,
        "segments": m.segments,
        "message": m.body,
        "created_at": m.created_at,
    }


async def _messages_list(
    store: Store, _service: AccountService, args: argparse.Namespace
) -> list[dict[str, Any]]:
    await _must_account(store, args.account_id)
    return [_message_view(m) for m in await store.list_messages(args.account_id, args.limit)]


# --- argument parsing ----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML configuration file")
    common.add_argument("--data-dir", help="data directory (default: ./smsgate-data)")
    common.add_argument("--json", action="store_true", help="print JSON")

    parser = argparse.ArgumentParser(
        prog="smsgate", description="Self-hosted SMS platform, Alibaba Cloud SMS compatible."
    )
    commands = parser.add_subparsers(title="commands")
    _add_serve(commands, common)
    _add_accounts(commands, common)
    _add_keys(commands, common)
    _add_templates(commands, common)
    _add_messages(commands, common)
    return parser


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_serve(commands: Commands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--http-port", type=int, help="HTTP API port (default 8080)")
    serve.add_argument("--smpp-port", type=int, help="SMPP port (default 2775)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.set_defaults(run=_serve)


def _add_accounts(commands: Commands, common: argparse.ArgumentParser) -> None:
    accounts = commands.add_parser("accounts", help="manage accounts").add_subparsers()
    p = accounts.add_parser("create", parents=[common], help="create an account and its key")
    p.add_argument("--name", required=True)
    p.add_argument("--balance", default="0", help="initial balance, e.g. 100.00")
    p.add_argument("--callback-url", help="URL receiving receipt pushes")
    p.add_argument("--actions", help="actions the first key may call (default: all)")
    p.set_defaults(run=_with_store(_accounts_create))
    p = accounts.add_parser("list", parents=[common])
    p.set_defaults(run=_with_store(_accounts_list))
    p = accounts.add_parser("show", parents=[common])
    p.add_argument("account_id")
    p.set_defaults(run=_with_store(_accounts_show))
    for name, state in (("disable", AccountState.SUSPENDED), ("enable", AccountState.NORMAL)):
        p = accounts.add_parser(name, parents=[common], help=f"set state {state.value}")
        p.add_argument("account_id")
        p.set_defaults(run=_with_store(_set_state(state)))
    p = accounts.add_parser("set-state", parents=[common])
    p.add_argument("account_id")
    p.add_argument("state", choices=[s.value for s in AccountState])
    p.set_defaults(run=_with_store(_accounts_set_state))
    p = accounts.add_parser("top-up", parents=[common], help="add to the balance")
    p.add_argument("account_id")
    p.add_argument("amount")
    p.set_defaults(run=_with_store(_accounts_top_up))
    p = accounts.add_parser("set-callback", parents=[common], help="receipt push URL ('none')")
    p.add_argument("account_id")
    p.add_argument("url")
    p.set_defaults(run=_with_store(_accounts_set_callback))


def _add_keys(commands: Commands, common: argparse.ArgumentParser) -> None:
    keys = commands.add_parser("keys", help="manage AccessKeys").add_subparsers()
    p = keys.add_parser("create", parents=[common])
    p.add_argument("account_id")
    p.add_argument("--actions", help="comma-separated actions this key may call (default: all)")
    p.set_defaults(run=_with_store(_keys_create))
    p = keys.add_parser("list", parents=[common])
    p.add_argument("account_id")
    p.set_defaults(run=_with_store(_keys_list))
    for name, enabled in (("disable", False), ("enable", True)):
        p = keys.add_parser(name, parents=[common])
        p.add_argument("key_id")
        p.set_defaults(run=_with_store(_key_change(_set_key_enabled(enabled))))
    p = keys.add_parser("set-actions", parents=[common])
    p.add_argument("key_id")
    p.add_argument("actions", help="comma-separated actions, or 'all'")
    p.set_defaults(
        run=_with_store(_key_change(lambda s, a: s.set_key_actions(a.key_id, _actions(a.actions))))
    )
    p = keys.add_parser("delete", parents=[common])
    p.add_argument("key_id")
    p.set_defaults(run=_with_store(_key_change(lambda s, a: s.delete_key(a.key_id))))


def _add_templates(commands: Commands, common: argparse.ArgumentParser) -> None:
    templates = commands.add_parser("templates", help="manage templates").add_subparsers()
    p = templates.add_parser("add", parents=[common], help="add or replace a template")
    p.add_argument("account_id")
    p.add_argument("--code", required=True, help="e.g. SMS_123456789")
    p.add_argument("--content", required=True, help="text with ${name} variables")
    p.add_argument("--type", default="notification", choices=TEMPLATE_TYPES)
    p.add_argument("--status", default="approved", choices=[s.value for s in TemplateStatus])
    p.set_defaults(run=_with_store(_templates_add))
    p = templates.add_parser("list", parents=[common])
    p.add_argument("account_id")
    p.set_defaults(run=_with_store(_templates_list))


def _add_messages(commands: Commands, common: argparse.ArgumentParser) -> None:
    messages = commands.add_parser("messages", help="inspect messages").add_subparsers()
    p = messages.add_parser("list", parents=[common], help="an account's latest messages")
    p.add_argument("account_id")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=_with_store(_messages_list))


if __name__ == "__main__":
    sys.exit(main())
