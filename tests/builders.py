"""Records with sensible defaults for tests, changed by keyword: ``message(7, status=...)``;
and receipt sinks for carriers under test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from smsgate.domain.models import Message

__all__ = ["collect_receipts", "ignore_receipts", "message"]


def collect_receipts(into: list[Any]) -> Callable[[Sequence[Any]], Awaitable[None]]:
    """A carrier's receipt sink that appends what it is told to ``into``."""

    async def sink(receipts: Sequence[Any]) -> None:
        into.extend(receipts)

    return sink


async def ignore_receipts(_receipts: Sequence[Any]) -> None:
    """A carrier's receipt sink for tests that look elsewhere."""


def message(message_id: int | str, account_id: str = "acc-1", **changes: Any) -> Message:
    """A one-segment OTP to a mainland China number, accepted, with a template code."""
    built = Message(
        id=str(message_id),
        account_id=account_id,
        to="8613800138000",
        sender="smsgate",
        body="Your code is 123456",
        encoding="GSM7",
        segments=1,
        country="CN",
        region_code="86",
        region="China",
        network="CMCC",
        msg_type="OTP",
        created_at=1_700_000_100.25,
        template_code="SMS_100001",
    )
    return replace(built, **changes)
