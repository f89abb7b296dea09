"""``smsgate policy``, ``smsgate settings``, ``smsgate faults`` and ``smsgate keywords``.

Policy documents (prices, countries, keywords, limits, faults, per-account and per-key settings)
are validated before they are stored; a running server picks them up within a second.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from smsgate.cli.common import CliError, Commands, Tools, example, with_store

__all__ = ["add_commands"]


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise CliError(f"{what} is not valid JSON: {exc}") from None


async def _show(tools: Tools, args: argparse.Namespace) -> Any:
    return {"name": args.name, "document": await tools.admin.get_policy(args.name)}


async def _set(tools: Tools, args: argparse.Namespace) -> Any:
    text = Path(args.file).read_text() if args.file else args.document
    if text is None:
        raise CliError("give the document as an argument or with --file")
    version = await tools.admin.put_policy(args.name, _json_arg(text, args.name))
    return {"name": args.name, "version": version}


async def _settings(tools: Tools, args: argparse.Namespace) -> Any:
    changes: dict[str, Any] = {}
    if args.barred_actions is not None:
        barred = [a.strip() for a in args.barred_actions.split(",") if a.strip()]
        changes["barred_actions"] = barred or None
    if args.billing is not None:
        changes["billing"] = args.billing
    if args.max_param_length is not None:
        changes["max_param_length"] = args.max_param_length
    if args.limits is not None:
        changes["limits"] = _json_arg(args.limits, "--limits") or None
    current = await tools.admin.update_account_settings(args.account_id, changes)
    return {"account_id": args.account_id, "settings": current}


async def _fault_add(tools: Tools, args: argparse.Namespace) -> Any:
    rule: dict[str, Any] = {"account": args.account, "action": args.action, "code": args.code}
    if args.count is not None:
        rule["count"] = args.count
    if args.share is not None:
        rule["share"] = args.share
    return await tools.admin.add_fault(rule)


async def _fault_list(tools: Tools, _args: argparse.Namespace) -> Any:
    return await tools.admin.get_policy("faults") or []


async def _fault_clear(tools: Tools, args: argparse.Namespace) -> Any:
    return await tools.admin.clear_faults(args.account)


async def _keywords_set(tools: Tools, args: argparse.Namespace) -> Any:
    words = [w.strip() for w in Path(args.file).read_text().splitlines() if w.strip()]
    version = await tools.admin.put_policy("keywords", words)
    return {"name": "keywords", "version": version, "count": len(words)}


async def _keywords_add(tools: Tools, args: argparse.Namespace) -> Any:
    words = list(await tools.admin.get_policy("keywords") or [])
    words.extend(w for w in args.words if w not in words)
    version = await tools.admin.put_policy("keywords", words)
    return {"name": "keywords", "version": version, "count": len(words)}


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    policy = commands.add_parser(
        "policy", help="policy documents", **example("show prices")
    ).add_subparsers(title="commands")
    names = "platform, prices, countries, keywords, faults, account:<id> or key:<AccessKeyId>"
    p = policy.add_parser(
        "show",
        parents=[common],
        help="print a policy document",
        **example("prices", "account:ACCOUNT_ID --json"),
    )
    p.add_argument("name", help=names)
    p.set_defaults(run=with_store(_show))
    p = policy.add_parser(
        "set",
        parents=[common],
        help="replace a policy document",
        **example(
            """prices '{"default": "0.05", "countries": {"SG": {"price": "0.04"}}}'""",
            "countries --file countries.json",
        ),
    )
    p.add_argument("name", help=names)
    p.add_argument("document", nargs="?", help="the JSON document")
    p.add_argument("--file", help="read the JSON document from a file")
    p.set_defaults(run=with_store(_set))

    p = commands.add_parser(
        "settings",
        parents=[common],
        help="an account's settings",
        description="Show an account's settings, after applying the changes given: a table, or "
        "JSON with --json.",
        **example(
            "ACCOUNT_ID",
            """ACCOUNT_ID --billing overdue --limits '{"OTP": {"per_day": 20}}' --json""",
        ),
    )
    p.add_argument("account_id")
    p.add_argument("--barred-actions", help="comma-separated actions (isv.FORBIDDEN_ACTION)")
    p.add_argument("--billing", choices=["normal", "overdue"])
    p.add_argument("--max-param-length", type=int)
    p.add_argument("--limits", help="JSON overrides of the platform limits")
    p.set_defaults(run=with_store(_settings))

    faults = commands.add_parser(
        "faults",
        help="fault injection",
        **example("add --action SendMessageToGlobe --code isp.GATEWAY_ERROR --count 3"),
    ).add_subparsers(title="commands")
    p = faults.add_parser(
        "add",
        parents=[common],
        help="answer a code on purpose",
        **example(
            "--account ACCOUNT_ID --action SendMessageToGlobe --code isp.GATEWAY_ERROR --count 3",
            "--code isp.SYSTEM_ERROR/46 --share 0.1",
        ),
    )
    p.add_argument("--account", default="*", help="account id or * (default)")
    p.add_argument("--action", default="*", help="action name or * (default)")
    p.add_argument("--code", required=True, help="seed code, e.g. isp.GATEWAY_ERROR")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--count", type=int, help="for the next N calls")
    group.add_argument("--share", type=float, help="for this share of calls (0-1)")
    p.set_defaults(run=with_store(_fault_add))
    faults.add_parser(
        "list", parents=[common], help="the fault rules", **example("", "--json")
    ).set_defaults(run=with_store(_fault_list))
    p = faults.add_parser(
        "clear", parents=[common], help="remove fault rules", **example("", "--account ACCOUNT_ID")
    )
    p.add_argument("--account", help="only this account's rules")
    p.set_defaults(run=with_store(_fault_clear))

    keywords = commands.add_parser(
        "keywords", help="blocked keywords", **example("add casino lottery")
    ).add_subparsers(title="commands")
    p = keywords.add_parser(
        "set",
        parents=[common],
        help="replace the list from a file",
        **example("--file words.txt"),
    )
    p.add_argument("--file", required=True, help="one keyword per line")
    p.set_defaults(run=with_store(_keywords_set))
    p = keywords.add_parser(
        "add", parents=[common], help="add blocked keywords", **example("casino lottery")
    )
    p.add_argument("words", nargs="+")
    p.set_defaults(run=with_store(_keywords_add))
