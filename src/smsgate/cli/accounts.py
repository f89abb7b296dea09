"""``smsgate accounts``, ``smsgate keys`` and ``smsgate messages``."""

from __future__ import annotations

import argparse
from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smsgate.cli.common import (
    CliError,
    Commands,
    Tools,
    actions_arg,
    example,
    money_arg,
    must_account,
    with_store,
)
from smsgate.cli.output import iso_time
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
    rows = []
    for message in await tools.store.list_messages(args.account_id, args.limit):
        row = message_view(message)
        row["created_at"] = iso_time(message.created_at, UTC)
        row["created_local"] = iso_time(message.created_at, args.tz)
        rows.append(row)
    return rows


def _zone(name: str) -> tzinfo:
    """``--tz``: an IANA time zone name."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {name!r} (an IANA name such as Asia/Singapore or Europe/Paris)"
        ) from None


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    accounts = commands.add_parser(
        "accounts", help="manage accounts", **example("create --name demo --balance 100 --json")
    ).add_subparsers(title="commands")
    p = accounts.add_parser(
        "create",
        parents=[common],
        help="create an account and its key",
        **example(
            "--name demo --balance 100 --json",
            "--name shop --callback-url https://shop.example/receipts --actions "
            "SendMessageToGlobe,QueryMessage",
        ),
    )
    p.add_argument("--name", required=True)
    p.add_argument("--balance", default="0", help="initial balance, e.g. 100.00")
    p.add_argument("--callback-url", help="URL receiving receipt pushes")
    p.add_argument("--actions", help="actions the first key may call (default: all)")
    p.set_defaults(run=with_store(_create))
    accounts.add_parser(
        "list", parents=[common], help="every account", **example("", "--json")
    ).set_defaults(run=with_store(_list))
    p = accounts.add_parser(
        "show", parents=[common], help="an account and its keys", **example("ACCOUNT_ID")
    )
    p.add_argument("account_id")
    p.set_defaults(run=with_store(_show))
    for name, state in (("disable", AccountState.SUSPENDED), ("enable", AccountState.NORMAL)):
        p = accounts.add_parser(
            name, parents=[common], help=f"set state {state.value}", **example("ACCOUNT_ID")
        )
        p.add_argument("account_id")
        p.set_defaults(run=with_store(_set_state), state=state.value)
    p = accounts.add_parser(
        "set-state", parents=[common], help="set any state", **example("ACCOUNT_ID abnormal")
    )
    p.add_argument("account_id")
    p.add_argument("state", choices=[s.value for s in AccountState])
    p.set_defaults(run=with_store(_set_state))
    p = accounts.add_parser(
        "top-up", parents=[common], help="add to the balance", **example("ACCOUNT_ID 50.00")
    )
    p.add_argument("account_id")
    p.add_argument("amount")
    p.set_defaults(run=with_store(_top_up))
    p = accounts.add_parser(
        "set-callback",
        parents=[common],
        help="receipt push URL ('none')",
        **example("ACCOUNT_ID https://shop.example/receipts", "ACCOUNT_ID none"),
    )
    p.add_argument("account_id")
    p.add_argument("url")
    p.set_defaults(run=with_store(_set_callback))

    keys = commands.add_parser(
        "keys", help="manage AccessKeys", **example("create ACCOUNT_ID --actions QueryMessage")
    ).add_subparsers(title="commands")
    p = keys.add_parser(
        "create",
        parents=[common],
        help="another AccessKey for an account",
        **example("ACCOUNT_ID", "ACCOUNT_ID --actions QueryMessage"),
    )
    p.add_argument("account_id")
    p.add_argument("--actions", help="comma-separated actions this key may call (default: all)")
    p.set_defaults(run=with_store(_key_create))
    p = keys.add_parser(
        "list", parents=[common], help="an account's AccessKeys", **example("ACCOUNT_ID")
    )
    p.add_argument("account_id")
    p.set_defaults(run=with_store(_key_list))
    for change in ("enable", "disable", "delete"):
        p = keys.add_parser(
            change, parents=[common], help=f"{change} an AccessKey", **example("ACCESS_KEY_ID")
        )
        p.add_argument("key_id")
        p.set_defaults(run=with_store(_key_change), change=change)
    p = keys.add_parser(
        "set-actions",
        parents=[common],
        help="the actions an AccessKey may call",
        **example("ACCESS_KEY_ID SendMessageToGlobe,QueryMessage", "ACCESS_KEY_ID all"),
    )
    p.add_argument("key_id")
    p.add_argument("actions", help="comma-separated actions, or 'all'")
    p.set_defaults(run=with_store(_key_change), change="set-actions")

    messages = commands.add_parser(
        "messages", help="inspect messages", **example("list ACCOUNT_ID --tz Asia/Singapore")
    ).add_subparsers(title="commands")
    p = messages.add_parser(
        "list",
        parents=[common],
        help="an account's latest messages",
        description="An account's latest messages, newest first, with their creation time in "
        "UTC (created_at) and in the --tz zone (created_local), both ISO 8601.",
        **example("ACCOUNT_ID", "ACCOUNT_ID --limit 10 --tz Asia/Singapore --json"),
    )
    p.add_argument("account_id")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument(
        "--tz",
        type=_zone,
        default=UTC,
        metavar="ZONE",
        help="IANA time zone of created_local, e.g. Europe/Paris (default: UTC)",
    )
    p.set_defaults(run=with_store(_messages))
