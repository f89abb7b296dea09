"""Rules the store adapters apply the same way, so the memory fake, SQLite and PostgreSQL cannot
drift apart."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from smsgate.domain.ids import first_id_at
from smsgate.domain.models import Message, MessageStatus
from smsgate.domain.pricing import MAX_AMOUNT_MICROS, MICROS

__all__ = [
    "MAX_ID",
    "MAX_ID_DIGITS",
    "accepting_account",
    "balance_refusal",
    "check_json",
    "first_id_of_page",
    "id_window",
    "message_from_columns",
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


def message_from_columns(
    row: Sequence[Any], carrier_ids: tuple[str, ...], converted: bool | None
) -> Message:
    """A message from a row of the messages table, its columns in the order both stores
    select them (``MESSAGE_COLUMN_NAMES``). The two columns whose types differ between SQLite
    and PostgreSQL (carrier ids as JSON or an array, a boolean as 0/1 or a boolean) come
    already converted by the store."""
    return Message(
        id=str(row[0]),
        account_id=row[1],
        to=row[2],
        sender=row[3],
        body=row[4],
        encoding=row[5],
        segments=row[6],
        country=row[7],
        region_code=row[8],
        region=row[9],
        network=row[10],
        msg_type=row[11],
        created_at=row[12],
        status=MessageStatus(row[13]),
        task_id=row[14],
        channel_id=row[15],
        template_code=row[16],
        sms_up_extend_code=row[17],
        validity_period=row[18],
        door=row[19],
        error_code=row[20],
        send_date=row[21],
        receive_date=row[22],
        carrier_ids=carrier_ids,
        converted=converted,
        conversion_time=row[25],
        extra=json.loads(row[26]) if row[26] else {},
        price_micros=row[27],
        registered_delivery=row[28],
        system_id=row[29],
        bind_id=row[30],
        connector=row[31],
        carrier_status=row[32],
    )
