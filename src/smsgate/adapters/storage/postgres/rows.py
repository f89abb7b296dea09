"""Records to rows and back, for the PostgreSQL store's modules.

Rows are tuples in the column order of the constants here; asyncpg gives back ``Record``s, which
index the same way. Unlike the SQLite store, None is bound as None (asyncpg encodes NULL without
a slow path), carrier ids and key actions are ``text[]`` and booleans are booleans.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from smsgate.adapters.storage.common import message_from_columns, parse_id
from smsgate.domain.carrier_receipts import carrier_key
from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import (
    Account,
    AccountState,
    Message,
    MessageStatus,
    ReviewStatus,
    SignName,
    Template,
    TemplateStatus,
)
from smsgate.ports.store import InboundPart, InboundPushJob, PendingReceipt

__all__ = [
    "ACCOUNT_COLUMNS",
    "A_COLUMNS",
    "MESSAGE_COLUMNS",
    "MESSAGE_COLUMN_NAMES",
    "MO_COLUMNS",
    "M_COLUMNS",
    "PART_COLUMNS",
    "PENDING_COLUMNS",
    "SIGN_COLUMNS",
    "TEMPLATE_COLUMNS",
    "UNFINISHED",
    "Row",
    "account_from_row",
    "account_row",
    "actions_from_row",
    "carrier_keys",
    "message_from_row",
    "message_row",
    "mo_from_row",
    "part_from_row",
    "part_row",
    "pending_from_row",
    "pending_rows",
    "push_from_row",
    "sign_from_row",
    "template_from_row",
    "template_row",
]

Row = tuple[Any, ...]

MESSAGE_COLUMN_NAMES: Final = (
    "id",
    "account_id",
    "to_number",
    "sender",
    "body",
    "encoding",
    "segments",
    "country",
    "region_code",
    "region",
    "network",
    "msg_type",
    "created_at",
    "status",
    "task_id",
    "channel_id",
    "template_code",
    "sms_up_extend_code",
    "validity_period",
    "door",
    "error_code",
    "send_date",
    "receive_date",
    "carrier_ids",
    "converted",
    "conversion_time",
    "extra",
    "price_micros",
    "registered_delivery",
    "system_id",
    "bind_id",
    "connector",
    "carrier_status",
)
MESSAGE_COLUMNS: Final = ", ".join(MESSAGE_COLUMN_NAMES)
M_COLUMNS: Final = ", ".join("m." + c for c in MESSAGE_COLUMN_NAMES)
#: The balance comes from its own table: ``a`` is accounts, ``b`` its balances row.
ACCOUNT_COLUMNS: Final = "a.id, a.name, a.state, b.balance_micros, a.callback_url, a.created_at"
A_COLUMNS: Final = ACCOUNT_COLUMNS
TEMPLATE_COLUMNS: Final = "account_id, code, content, template_type, status, created_at"
SIGN_COLUMNS: Final = "account_id, name, status, created_at"
UNFINISHED: Final = "('accepted', 'submitted')"
PENDING_COLUMNS: Final = (
    "connector, carrier_key, reported_id, status, error_code, carrier_status, done_at, refund, "
    "received_at"
)
MO_COLUMNS: Final = (
    "m.sequence_id, m.account_id, m.source, m.destination, m.dest_code, m.text, m.received_at, "
    "m.connector"
)
PART_COLUMNS: Final = (
    "connector, source, destination, reference, total, number, data_coding, received_at, body"
)


# -- messages -----------------------------------------------------------------------------------


def message_row(m: Message) -> Row:
    """The row of a new message, in ``MESSAGE_COLUMN_NAMES`` order (ValueError for a bad id,
    raised in the caller before anything is queued)."""
    mid = parse_id(m.id)
    if mid is None:
        raise ValueError(f"message id {m.id!r} is not a canonical decimal below 2**63")
    return (
        mid,
        m.account_id,
        m.to,
        m.sender,
        m.body,
        m.encoding,
        m.segments,
        m.country,
        m.region_code,
        m.region,
        m.network,
        m.msg_type,
        m.created_at,
        m.status.value,
        m.task_id,
        m.channel_id,
        m.template_code,
        m.sms_up_extend_code,
        m.validity_period,
        m.door,
        m.error_code,
        m.send_date,
        m.receive_date,
        list(m.carrier_ids) if m.carrier_ids else None,
        m.converted,
        m.conversion_time,
        json.dumps(m.extra) if m.extra else None,
        m.price_micros,
        m.registered_delivery,
        m.system_id,
        m.bind_id,
        m.connector,
        m.carrier_status,
    )


def message_from_row(row: Row) -> Message:
    return message_from_columns(
        row,
        carrier_ids=tuple(row[23]) if row[23] else (),
        converted=row[24],
    )


def carrier_keys(carrier_ids: Sequence[str]) -> list[str]:
    """The carrier keys of a message's part ids, in part order, without repeats."""
    return list(dict.fromkeys(carrier_key(c) for c in carrier_ids))


def pending_rows(p: PendingReceipt) -> list[Row]:
    return [
        (
            p.connector,
            key,
            p.reported_id,
            p.status.value,
            p.error_code,
            p.carrier_status,
            p.done_at,
            p.refund,
            p.received_at,
        )
        for key in p.keys
    ]


def pending_from_row(row: Row) -> PendingReceipt:
    """A kept receipt as one of its rows holds it (``keys`` is only the row's key)."""
    return PendingReceipt(
        connector=row[0],
        keys=(row[1],),
        reported_id=row[2],
        status=MessageStatus(row[3]),
        error_code=row[4],
        carrier_status=row[5],
        done_at=row[6],
        refund=row[7],
        received_at=row[8],
    )


# -- accounts, templates, sign names ------------------------------------------------------------


def account_row(account: Account) -> Row:
    """accounts' columns (the balance goes to its own table)."""
    return (
        account.id,
        account.name,
        account.state.value,
        account.callback_url,
        account.created_at,
    )


def account_from_row(row: Row) -> Account:
    return Account(
        id=row[0],
        name=row[1],
        state=AccountState(row[2]),
        balance_micros=row[3],
        callback_url=row[4],
        created_at=row[5],
    )


def actions_from_row(value: list[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def template_row(template: Template) -> Row:
    return (
        template.account_id,
        template.code,
        template.content,
        template.template_type,
        template.status.value,
        template.created_at,
    )


def template_from_row(row: Row) -> Template:
    return Template(
        account_id=row[0],
        code=row[1],
        content=row[2],
        template_type=row[3],
        status=TemplateStatus(row[4]),
        created_at=row[5],
    )


def sign_from_row(row: Row) -> SignName:
    return SignName(account_id=row[0], name=row[1], status=ReviewStatus(row[2]), created_at=row[3])


# -- MO messages --------------------------------------------------------------------------------


def part_row(part: InboundPart) -> Row:
    return (
        part.connector,
        part.source,
        part.destination,
        part.reference,
        part.total,
        part.number,
        part.data_coding,
        part.received_at,
        part.body,
    )


def part_from_row(row: Row) -> InboundPart:
    return InboundPart(
        connector=row[0],
        source=row[1],
        destination=row[2],
        reference=row[3],
        total=row[4],
        number=row[5],
        data_coding=row[6],
        received_at=row[7],
        body=bytes(row[8]),
    )


def mo_from_row(row: Row) -> InboundMessage:
    return InboundMessage(
        sequence_id=row[0],
        account_id=row[1],
        source=row[2],
        destination=row[3],
        dest_code=row[4],
        text=row[5],
        received_at=row[6],
        connector=row[7],
    )


def push_from_row(row: Row) -> InboundPushJob:
    return InboundPushJob(
        id=row[0], account_id=row[1], url=row[2], attempts=row[3], message=mo_from_row(row[4:])
    )
