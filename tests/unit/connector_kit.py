"""Scripted in-memory connectors for routing, failover and connector-manager tests.

A :class:`ScriptedConnector` answers every message with its ``mode`` (accept, retry, reject,
raise, silent), says whether it is up (``ConnectorHealth``) and what its binds are doing
(``BindReport``), records the batches it was handed, and can hold its submits on an event so a
test sees a submit in flight (never a sleep). Routes and connectors documents are written to a
memory store read through a PolicyCache with ``ttl_s`` 0, as a running server sees them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from smsgate import errors
from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.domain.models import Accepted, Message, Rejected, Retry, SubmitOutcome
from smsgate.ports.carrier import ReceiptSink

Mode = Literal["accept", "retry", "reject", "raise", "silent"]

T0 = 1_790_000_000.0
ACCOUNT_ID = "1000000000000001"
BOX = SecretBox(bytes(range(32)))
WAIT_S = 5.0  # a safety net: a step that never comes fails the test instead of hanging


class FixedClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


@dataclass(eq=False)
class ScriptedConnector:
    """A carrier named ``name`` that answers every message with ``mode``."""

    name: str
    mode: Mode = "accept"
    up: bool = True
    retry_after_s: float = 2.0
    records_submission: bool = True
    resubmit_on_recovery: bool = False
    #: While set to an unset event, submits wait for it (entered is set on arrival).
    hold: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    batches: list[list[str]] = field(default_factory=list)
    started: bool = False
    closed: bool = False
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # set by close
    cancelled: list[str] = field(default_factory=list)
    sink: ReceiptSink | None = None

    async def start(self, sink: ReceiptSink) -> None:
        self.started, self.sink = True, sink

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        self.batches.append([m.id for m in messages])
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.mode == "raise":
            raise ConnectionResetError(f"{self.name} lost its link")
        return [o for m in messages if (o := self.outcome(m)) is not None]

    def outcome(self, message: Message) -> SubmitOutcome | None:
        if self.mode == "accept":
            return Accepted(message.id, self.name, (f"{self.name}-{message.id}",), T0)
        if self.mode == "retry":
            return Retry(message.id, self.retry_after_s)
        if self.mode == "reject":
            return Rejected(message.id, self.name, errors.INVALID_NUM.code, T0)
        return None  # silent

    def is_up(self) -> bool:
        return self.up

    def bind_states(self) -> list[dict[str, object]]:
        state = "bound" if self.up else "connecting"
        return [{"bind": 1, "mode": "transceiver", "state": state, "in_flight": 0}]

    async def cancel(self, message_id: str) -> bool:
        self.cancelled.append(message_id)
        return message_id.endswith("cancellable")

    async def close(self) -> None:
        self.closed = True
        self.closing.set()

    @property
    def seen(self) -> list[str]:
        return [mid for batch in self.batches for mid in batch]


def sg_message(message_id: str, *, to: str = "6591234567", **changes: Any) -> Message:
    """A one-part message to a SingTel number in Singapore."""
    built = Message(
        id=message_id,
        account_id=ACCOUNT_ID,
        to=to,
        sender=None,
        body="hi",
        encoding="GSM7",
        segments=1,
        country="Singapore",
        region_code="SG",
        region="Singapore",
        network="SingTel",
        msg_type="NOTIFY",
        created_at=T0,
    )
    return replace(built, **changes)


def id_message(message_id: str) -> Message:
    """A message to a Telkomsel number in Indonesia."""
    return sg_message(
        message_id,
        to="6281234567890",
        country="Indonesia",
        region_code="ID",
        region="Indonesia",
        network="Telkomsel",
    )


def connector_settings(host: str = "smsc.example.net", **changes: Any) -> dict[str, Any]:
    """A connectors-document entry (password ``s3cret`` sealed with :data:`BOX`)."""
    return {
        "host": host,
        "port": 2775,
        "system_id": "acme",
        "password_sealed": BOX.seal("s3cret"),
        **changes,
    }


async def write_routes(store: MemoryStore, *routes: Mapping[str, Any]) -> None:
    await store.put_document("routes", json.dumps(list(routes)))


async def write_connectors(store: MemoryStore, connectors: Mapping[str, Mapping[str, Any]]) -> None:
    await store.put_document("connectors", json.dumps(dict(connectors)))


async def wait_for(event: asyncio.Event) -> None:
    async with asyncio.timeout(WAIT_S):
        await event.wait()
