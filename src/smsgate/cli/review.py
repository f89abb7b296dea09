"""``smsgate templates`` and ``smsgate signs``: submit, list and review."""

from __future__ import annotations

import argparse
from typing import Any

from smsgate.cli.common import Commands, Tools, example, must_account, with_store
from smsgate.domain.models import ReviewStatus
from smsgate.doors.views import sign_name_view, template_view
from smsgate.service.admin import TEMPLATE_TYPES

__all__ = ["add_commands"]

_VERDICTS = {"approve": ReviewStatus.APPROVED, "reject": ReviewStatus.REJECTED}
_VERDICTS["block"] = ReviewStatus.BLOCKED


async def _template_add(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    template = await tools.admin.add_template(args.account_id, args.code, args.content, args.type)
    if args.status is not None:
        template = await tools.admin.review_template(
            args.account_id, args.code, ReviewStatus(args.status)
        )
    return template_view(template)


async def _template_list(tools: Tools, args: argparse.Namespace) -> list[dict[str, Any]]:
    await must_account(tools.store, args.account_id)
    return [template_view(t) for t in await tools.store.list_templates(args.account_id)]


async def _template_review(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    status = _VERDICTS[args.verdict]
    return template_view(await tools.admin.review_template(args.account_id, args.code, status))


async def _sign_add(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    sign = await tools.admin.add_sign_name(args.account_id, args.name)
    if args.status is not None:
        sign = await tools.admin.review_sign_name(
            args.account_id, args.name, ReviewStatus(args.status)
        )
    return sign_name_view(sign)


async def _sign_list(tools: Tools, args: argparse.Namespace) -> list[dict[str, Any]]:
    await must_account(tools.store, args.account_id)
    return [sign_name_view(s) for s in await tools.store.list_sign_names(args.account_id)]


async def _sign_review(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    status = _VERDICTS[args.verdict]
    return sign_name_view(await tools.admin.review_sign_name(args.account_id, args.name, status))


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    statuses = [s.value for s in ReviewStatus]
    templates = commands.add_parser(
        "templates",
        help="templates and their review",
        **example("add ACCOUNT_ID --code SMS_123456789 --content 'Your code is ${code}'"),
    )
    sub = templates.add_subparsers(title="commands")
    p = sub.add_parser(
        "add",
        parents=[common],
        help="submit a template for review",
        **example(
            "ACCOUNT_ID --code SMS_123456789 --content 'Your code is ${code}'",
            "ACCOUNT_ID --code SMS_2 --content 'Hello ${name}' --type notification "
            "--status approved",
        ),
    )
    p.add_argument("account_id")
    p.add_argument("--code", required=True, help="e.g. SMS_123456789")
    p.add_argument("--content", required=True, help="text with ${name} variables")
    p.add_argument("--type", default="notification", choices=TEMPLATE_TYPES)
    p.add_argument("--status", choices=statuses, help="review it at once (operator)")
    p.set_defaults(run=with_store(_template_add))
    p = sub.add_parser(
        "list", parents=[common], help="an account's templates", **example("ACCOUNT_ID")
    )
    p.add_argument("account_id")
    p.set_defaults(run=with_store(_template_list))
    for verdict in _VERDICTS:
        p = sub.add_parser(
            verdict,
            parents=[common],
            help=f"{verdict} a template",
            **example("ACCOUNT_ID SMS_123456789"),
        )
        p.add_argument("account_id")
        p.add_argument("code")
        p.set_defaults(run=with_store(_template_review), verdict=verdict)

    signs = commands.add_parser(
        "signs",
        help="sign names / sender IDs and their review",
        **example("add ACCOUNT_ID Acme --status approved"),
    )
    sub = signs.add_subparsers(title="commands")
    p = sub.add_parser(
        "add",
        parents=[common],
        help="submit a sign name for review",
        **example("ACCOUNT_ID Acme", "ACCOUNT_ID Acme --status approved"),
    )
    p.add_argument("account_id")
    p.add_argument("name")
    p.add_argument("--status", choices=statuses, help="review it at once (operator)")
    p.set_defaults(run=with_store(_sign_add))
    p = sub.add_parser(
        "list", parents=[common], help="an account's sign names", **example("ACCOUNT_ID")
    )
    p.add_argument("account_id")
    p.set_defaults(run=with_store(_sign_list))
    for verdict in _VERDICTS:
        p = sub.add_parser(
            verdict, parents=[common], help=f"{verdict} a sign name", **example("ACCOUNT_ID Acme")
        )
        p.add_argument("account_id")
        p.add_argument("name")
        p.set_defaults(run=with_store(_sign_review), verdict=verdict)
