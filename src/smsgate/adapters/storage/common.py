"""Rules both store adapters apply the same way, so the memory fake cannot drift from SQLite."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Final

from smsgate.domain.ids import first_id_at
from smsgate.domain.models import Message
from smsgate.domain.pricing import MAX_AMOUNT_MICROS, MICROS

__all__ = [
    "MAX_ID",
    "MAX_ID_DIGITS",
    "accepting_account",
    "balance_refusal",
    "check_json",
    "first_id_of_page",
    "id_window",
    "parse_after_id",
    "parse_id",
]

MAX_ID_DIGITS: Final = 19  # 2**63 - 1 has 19 digits
MAX_ID: Final = 2**63 - 1


def parse_id(message_id: str) -> int | None:
    """Message ids are canonical decimal strings below 2**63 (kept as SQLite integers)."""
    if (
        0 < len(message_id) < MAX_ID_DIGITS
        and message_id.isascii()
        and message_id.isdigit()
        and message_id[0] != "0"
    ):
        return int(message_id)  # under 19 digits is under 2**63; no leading zero: canonical
    if not (0 < len(message_id) <= MAX_ID_DIGITS and message_id.isascii()):
        return None
    if not message_id.isdigit():
        return None
    value = int(message_id)
    if value > MAX_ID or str(value) != message_id:
        return None
    return value


def balance_refusal(delta_micros: int) -> str:
    """Why adding ``delta_micros`` to a balance was refused: below zero, or over the maximum."""
    if delta_micros < 0:
        return "insufficient balance"
    return f"the balance would exceed {MAX_AMOUNT_MICROS // MICROS}"


def parse_after_id(after_id: str | None) -> int:
    """A paging cursor (``after_id``): -1 for the first page; ValueError for a bad id, which
    is the caller's mistake (ids come from an earlier page), not a lookup that finds nothing."""
    after = -1 if after_id is None else parse_id(after_id)
    if after is None:
        raise ValueError(f"not a message id: {after_id!r}")
    return after


def first_id_of_page(since_id: str, after_id: str | None) -> int:
    """The lowest id a page of "ids at or above ``since_id``" may hold, after the previous
    page's last id ``after_id`` (None: the first page). ValueError for a bad id."""
    since = parse_id(since_id)
    if since is None:
        raise ValueError(f"not a message id: {since_id!r}")
    return max(since, parse_after_id(after_id) + 1)


def id_window(since: float, until: float) -> tuple[int, int] | None:
    """[since, until) as an inclusive id range, None if empty: the ids whose millisecond is in
    the window (ids embed the unix ms they were made at, see ``smsgate.domain.ids``).

    A message's id millisecond is its ``created_at`` (taken from one clock reading), except when
    the generator ran ahead of the clock (over 4,096 ids in a millisecond, or a clock that
    stepped back): then the id's later time counts, so a message still falls in exactly one of
    adjacent windows, the same way the quota counts (``count_messages_since``) see it. An index
    on created_at would have cost the insert path 2.2 us per message (30% of the writer's time).
    """
    low = int(first_id_at(math.ceil(since * 1000)))
    high = min(int(first_id_at(math.ceil(until * 1000))) - 1, MAX_ID)
    return (low, high) if low <= high else None


def check_json(name: str, body: str) -> None:
    """Refuse what every server would fail to load."""
    try:
        json.loads(body)
    except ValueError as exc:
        raise ValueError(f"document {name!r} is not JSON: {exc}") from exc


def accepting_account(messages: Sequence[Message], charge_micros: int) -> str:
    """The one account an accept charges."""
    if charge_micros < 0:
        raise ValueError("a charge cannot be negative")
    if not messages:
        raise ValueError("an accept needs at least one message")
    account_id = messages[0].account_id
    if any(m.account_id != account_id for m in messages):
        raise ValueError("the messages of one accept must belong to one account")
    return account_id
