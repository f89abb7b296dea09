"""Operator views of records: the JSON shapes the CLI prints and the admin API answers.

One set of shapes for both operator doors, so a script can move from one to the other.
Secrets appear only where a key has just been created.
"""

from __future__ import annotations

from typing import Any

from smsgate.domain.models import AccessKey, Account, Message, SignName, Template
from smsgate.domain.pricing import format_micros

__all__ = ["account_view", "key_view", "message_view", "sign_name_view", "template_view"]


def account_view(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.id,
        "name": account.name,
        "state": account.state.value,
        "balance": format_micros(account.balance_micros),
        "callback_url": account.callback_url,
    }


def key_view(key: AccessKey, with_secret: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "access_key_id": key.id,
        "account_id": key.account_id,
        "enabled": key.enabled,
        "actions": sorted(key.allowed_actions) if key.allowed_actions is not None else "all",
    }
    if with_secret:
        view["access_key_secret"] = key.secret
    return view


def template_view(t: Template) -> dict[str, Any]:
    return {
        "account_id": t.account_id,
        "code": t.code,
        "type": t.template_type,
        "status": t.status.value,
        "content": t.content,
    }


def sign_name_view(s: SignName) -> dict[str, Any]:
    return {"account_id": s.account_id, "name": s.name, "status": s.status.value}


def message_view(m: Message) -> dict[str, Any]:
    return {
        "message_id": m.id,
        "to": m.to,
        "from": m.sender,
        "status": m.status.value,
        "error_code": m.error_code,
        "connector": m.connector,
        "carrier_status": m.carrier_status,
        "segments": m.segments,
        "price": format_micros(m.price_micros),
        "message": m.body,
        "created_at": m.created_at,
    }
