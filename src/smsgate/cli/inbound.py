"""``smsgate inbound``: which account receives the MO messages sent to a number or prefix.

Kept in the policy document ``inbound`` (``{number or prefix: account id}``, see
:mod:`smsgate.domain.inbound`); a running server sees changes within ``refresh_s``. A message
goes to the longest matching entry; the digits after it are its ``dest_code``.
"""

from __future__ import annotations

import argparse
from typing import Any

from smsgate.cli.common import CliError, Commands, Tools, example, must_account, with_store
from smsgate.cli.output import iso_time
from smsgate.domain.inbound import DOCUMENT, InboundMessage

__all__ = ["add_commands"]


def _number(raw: str) -> str:
    """A number or prefix as the document keys it: digits, without '+' or spaces."""
    number = raw.strip().removeprefix("+").replace(" ", "")
    if not (number.isascii() and number.isdigit()):
        raise CliError(f"{raw!r} is not a number or prefix (1-15 digits, '+' allowed)")
    return number


async def _add(tools: Tools, args: argparse.Namespace) -> Any:
    number = _number(args.number)
    await must_account(tools.store, args.account)
    doc = dict(await tools.admin.get_policy(DOCUMENT) or {})
    owner = doc.get(number)
    if owner is not None:
        raise CliError(f"{number} already goes to account {owner}; remove it first")
    doc[number] = args.account
    await tools.admin.put_policy(DOCUMENT, doc)  # validated: 1-15 digits
    return {"number": number, "account_id": args.account}


async def _list(tools: Tools, _args: argparse.Namespace) -> Any:
    doc = await tools.admin.get_policy(DOCUMENT) or {}
    return [{"number": number, "account_id": account} for number, account in sorted(doc.items())]


async def _remove(tools: Tools, args: argparse.Namespace) -> Any:
    number = _number(args.number)
    doc = dict(await tools.admin.get_policy(DOCUMENT) or {})
    if doc.pop(number, None) is None:
        raise CliError(f"no inbound number {number}")
    await tools.admin.put_policy(DOCUMENT, doc)
    return {"number": number, "removed": True}


async def _messages(tools: Tools, args: argparse.Namespace) -> Any:
    await must_account(tools.store, args.account_id)
    return [_view(m) for m in await tools.store.list_inbound(args.account_id, args.limit)]


def _view(message: InboundMessage) -> dict[str, Any]:
    return {
        "sequence_id": message.sequence_id,
        "from": message.source,
        "to": message.destination,
        "dest_code": message.dest_code,
        "text": message.text,
        "received_at": iso_time(message.received_at),
        "connector": message.connector,
    }


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    inbound = commands.add_parser(
        "inbound",
        help="numbers whose MO messages an account receives",
        **example("add 6591230000 --account ACCOUNT_ID"),
    ).add_subparsers(title="commands")
    p = inbound.add_parser(
        "add",
        parents=[common],
        help="give an account the MO messages sent to a number or prefix",
        **example("6591230000 --account ACCOUNT_ID", "659124 --account ACCOUNT_ID"),
    )
    p.add_argument("number", help="a number, or a prefix of numbers (digits, '+' allowed)")
    p.add_argument("--account", required=True, help="the account that receives them")
    p.set_defaults(run=with_store(_add))
    inbound.add_parser(
        "list", parents=[common], help="numbers and prefixes, and their accounts", **example("")
    ).set_defaults(run=with_store(_list))
    p = inbound.add_parser(
        "remove",
        parents=[common],
        help="stop receiving for a number or prefix",
        **example("659124"),
    )
    p.add_argument("number")
    p.set_defaults(run=with_store(_remove))
    p = inbound.add_parser(
        "messages",
        parents=[common],
        help="an account's latest MO messages",
        **example("ACCOUNT_ID --limit 20 --json"),
    )
    p.add_argument("account_id")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=with_store(_messages))
