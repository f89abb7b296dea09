"""``smsgate accounts``, ``smsgate keys`` and ``smsgate messages``."""

from __future__ import annotations

import argparse
from typing import Any

from smsgate.cli.common import (
    CliError,
    Commands,
    Tools,
    actions_arg,
    money_arg,
    must_account,
    with_store,
)
from smsgate.domain.models import AccountState
from smsgate.doors.views import account_view, key_view, message_view

__all__ = ["add_commands"]


async def _create(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    account, key = await tools.accounts.create_account(
        args.name,
        balance_micros=money_arg(args.balance),
        callback_url=args.callback_url,
        actions=actions_arg(args.actions),
    )
    return {**account_view(account), **key_view(key, with_secret=True)}


async def _list(tools: Tools, _args: argparse.Namespace) -> list[dict[str, Any]]:
    return [account_view(a) for a in await tools.store.list_accounts()]


async def _show(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    account = await must_account(tools.store, args.account_id)
    keys = await tools.store.list_keys(account.id)
    return {**account_view(account), "keys": [key_view(k) for k in keys]}


async def _set_state(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    if not await tools.store.set_account_state(args.account_id, AccountState(args.state)):
        raise CliError(f"no account {args.account_id}")
    return account_view(await must_account(tools.store, args.account_id))


async def _top_up(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    if await tools.store.add_balance(args.account_id, money_arg(args.amount)) is None:
        raise CliError(f"no account {args.account_id}")
    return account_view(await must_account(tools.store, args.account_id))


async def _set_callback(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    url = None if args.url in ("", "none") else args.url
    if url is not None and not url.startswith(("http://", "https://")):
        raise CliError("the callback URL must start with http:// or https://")
    if not await tools.store.set_callback_url(args.account_id, url):
        raise CliError(f"no account {args.account_id}")
    return account_view(await must_account(tools.store, args.account_id))


async def _key_create(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    key = await tools.accounts.create_key(args.account_id, actions_arg(args.actions))
    if key is None:
        raise CliError(f"no account {args.account_id}")
    return key_view(key, with_secret=True)


async def _key_list(tools: Tools, args: argparse.Namespace) -> list[dict[str, Any]]:
    await must_account(tools.store, args.account_id)
    return [key_view(k) for k in await tools.store.list_keys(args.account_id)]


async def _key_change(tools: Tools, args: argparse.Namespace) -> dict[str, Any] | None:
    store = tools.store
    if args.change == "enable":
        changed = await store.set_key_enabled(args.key_id, True)
    elif args.change == "disable":
        changed = await store.set_key_enabled(args.key_id, False)
    elif args.change == "set-actions":
        changed = await store.set_key_actions(args.key_id, actions_arg(args.actions))
    else:
        changed = await store.delete_key(args.key_id)
    if not changed:
        raise CliError(f"no access key {args.key_id}")
    found = await store.find_key(args.key_id)
    return None if found is None else key_view(found[0])


async def _messages(tools: Tools, args: argparse.Namespace) -> list[dict[str, Any]]:
    await must_account(tools.store, args.account_id)
    return [message_view(m) for m in await tools.store.list_messages(args.account_id, args.limit)]


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    accounts = commands.add_parser("accounts", help="manage accounts").add_subparsers()
    p = accounts.add_parser("create", parents=[common], help="create an account and its key")
    p.add_argument("--name", required=True)
    p.add_argument("--balance", default="0", help="initial balance, e.g. 100.00")
    p.add_argument("--callback-url", help="URL receiving receipt pushes")
    p.add_argument("--actions", help="actions the first key may call (default: all)")
    p.set_defaults(run=with_store(_create))
    accounts.add_parser("list", parents=[common]).set_defaults(run=with_store(_list))
    p = accounts.add_parser("show", parents=[common])
    p.add_argument("account_id")
    p.set_defaults(run=with_store(_show))
    for name, state in (("disable", AccountState.SUSPENDED), ("enable", AccountState.NORMAL)):
        p = accounts.add_parser(name, parents=[common], help=f"set state {state.value}")
        p.add_argument("account_id")
        p.set_defaults(run=with_store(_set_state), state=state.value)
    p = accounts.add_parser("set-state", parents=[common])
    p.add_argument("account_id")
    p.add_argument("state", choices=[s.value for s in AccountState])
    p.set_defaults(run=with_store(_set_state))
    p = accounts.add_parser("top-up", parents=[common], help="add to the balance")
    p.add_argument("account_id")
    p.add_argument("amount")
    p.set_defaults(run=with_store(_top_up))
    p = accounts.add_parser("set-callback", parents=[common], help="receipt push URL ('none')")
    p.add_argument("account_id")
    p.add_argument("url")
    p.set_defaults(run=with_store(_set_callback))

    keys = commands.add_parser("keys", help="manage AccessKeys").add_subparsers()
    p = keys.add_parser("create", parents=[common])
    p.add_argument("account_id")
    p.add_argument("--actions", help="comma-separated actions this key may call (default: all)")
    p.set_defaults(run=with_store(_key_create))
    p = keys.add_parser("list", parents=[common])
    p.add_argument("account_id")
    p.set_defaults(run=with_store(_key_list))
    for change in ("enable", "disable", "delete"):
        p = keys.add_parser(change, parents=[common])
        p.add_argument("key_id")
        p.set_defaults(run=with_store(_key_change), change=change)
    p = keys.add_parser("set-actions", parents=[common])
    p.add_argument("key_id")
    p.add_argument("actions", help="comma-separated actions, or 'all'")
    p.set_defaults(run=with_store(_key_change), change="set-actions")

    messages = commands.add_parser("messages", help="inspect messages").add_subparsers()
    p = messages.add_parser("list", parents=[common], help="an account's latest messages")
    p.add_argument("account_id")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=with_store(_messages))
