"""``smsgate smpp``: SMPP credentials (system_id, password, status profile) of accounts.

Kept in the policy document ``smpp`` with scrypt password hashes; a running server sees changes
within ``refresh_s``. A credential added without ``--status-codes`` follows the server's
``[smpp] status_codes``.
"""

from __future__ import annotations

import argparse
from typing import Any

from smsgate.cli.common import CliError, Commands, Tools, example, must_account, with_store
from smsgate.errors import SMPP_STATUS_PROFILES
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
    entry = {"account_id": args.account_id, "password_hash": hash_password(args.password)}
    if args.status_codes is not None:
        entry["status_codes"] = args.status_codes
    doc[args.system_id] = entry
    await tools.admin.put_policy(DOCUMENT, doc)
    return _shown(args.system_id, entry)


async def _list(tools: Tools, _args: argparse.Namespace) -> Any:
    doc = await tools.admin.get_policy(DOCUMENT) or {}
    return [_shown(system_id, entry) for system_id, entry in sorted(doc.items())]


def _shown(system_id: str, entry: dict[str, str]) -> dict[str, str | None]:
    """A credential without its password hash; status_codes None follows the server's default."""
    return {
        "system_id": system_id,
        "account_id": entry["account_id"],
        "status_codes": entry.get("status_codes"),
    }


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
    p.add_argument(
        "--status-codes",
        choices=SMPP_STATUS_PROFILES,
        help="how refusals read: the seed table's SMPP codes (seed) or standard SMPP 3.4 "
        "statuses (smpp34); default: the server's [smpp] status_codes",
    )
    p.set_defaults(run=with_store(_add))
    smpp.add_parser(
        "list", parents=[common], help="list SMPP system_ids", **example("", "--json")
    ).set_defaults(run=with_store(_list))
    p = smpp.add_parser(
        "remove", parents=[common], help="remove an SMPP system_id", **example("acme")
    )
    p.add_argument("system_id")
    p.set_defaults(run=with_store(_remove))
