"""``smsgate smpp``: SMPP credentials (system_id and password) of accounts.

Kept in the policy document ``smpp`` with scrypt password hashes; a running server sees changes
within ``refresh_s``.
"""

from __future__ import annotations

import argparse
from typing import Any

from smsgate.cli.common import CliError, Commands, Tools, example, must_account, with_store
from smsgate.service.smpp_accounts import (
    DOCUMENT,
    check_password,
    check_system_id,
    hash_password,
)

__all__ = ["add_commands"]


async def _add(tools: Tools, args: argparse.Namespace) -> Any:
    try:
        check_system_id(args.system_id)
        check_password(args.password)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    await must_account(tools.store, args.account_id)
    doc = dict(await tools.admin.get_policy(DOCUMENT) or {})
    if args.system_id in doc:
        raise CliError(f"system_id {args.system_id} already exists; remove it first")
    doc[args.system_id] = {
        "account_id": args.account_id,
        "password_hash": hash_password(args.password),
    }
    await tools.admin.put_policy(DOCUMENT, doc)
    return {"system_id": args.system_id, "account_id": args.account_id}


async def _list(tools: Tools, _args: argparse.Namespace) -> Any:
    doc = await tools.admin.get_policy(DOCUMENT) or {}
    return [
        {"system_id": system_id, "account_id": entry["account_id"]}
        for system_id, entry in sorted(doc.items())
    ]


async def _remove(tools: Tools, args: argparse.Namespace) -> Any:
    doc = dict(await tools.admin.get_policy(DOCUMENT) or {})
    if doc.pop(args.system_id, None) is None:
        raise CliError(f"no system_id {args.system_id}")
    await tools.admin.put_policy(DOCUMENT, doc)
    return {"system_id": args.system_id, "removed": True}


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    add_example = "ACCOUNT_ID --system-id acme --password s3cret"
    smpp = commands.add_parser(
        "smpp", help="SMPP credentials", **example(f"add {add_example}")
    ).add_subparsers()
    p = smpp.add_parser(
        "add",
        parents=[common],
        help="give an account an SMPP system_id",
        **example(add_example),
    )
    p.add_argument("account_id")
    p.add_argument("--system-id", required=True, help="1 to 15 characters")
    p.add_argument("--password", required=True, help="1 to 8 characters")
    p.set_defaults(run=with_store(_add))
    smpp.add_parser(
        "list", parents=[common], help="list SMPP system_ids", **example("", "--json")
    ).set_defaults(run=with_store(_list))
    p = smpp.add_parser(
        "remove", parents=[common], help="remove an SMPP system_id", **example("acme")
    )
    p.add_argument("system_id")
    p.set_defaults(run=with_store(_remove))
