"""Records with sensible defaults for tests, changed by keyword: ``message(7, status=...)``;
and receipt sinks for carriers under test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smsgate.bootstrap import bootstrap
from smsgate.config import Config
from smsgate.domain.models import Message
from smsgate.ports.clock import Clock
from smsgate.ports.limits import Limiter
from smsgate.ports.queue import DeliveryQueue
from smsgate.ports.store import Store

if TYPE_CHECKING:
    from smsgate.app import Gateway

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


def config(
    *,
    data_dir: Path = Path("/nonexistent/smsgate-test"),
    refresh_s: float = 0.0,
    node_id: int = 0,
    queue_size: int = 100_000,
    max_segments: int = 15,
    **sections: Any,
) -> Config:
    """A configuration for a server built in-process by ``smsgate.bootstrap``.

    No data directory (its default does not exist): a test passes its own store, which then gets
    a master key of its own for the run. Caches are checked against the store on every request
    (``refresh_s`` 0), so that what a test writes is what the next request sees. ``sections``
    replace whole sections, e.g. ``http=HttpConfig(max_in_progress=1)``."""
    base = Config()
    return replace(
        base,
        server=replace(base.server, data_dir=data_dir, refresh_s=refresh_s, node_id=node_id),
        pipeline=replace(base.pipeline, queue_size=queue_size, max_segments=max_segments),
        **sections,
    )


async def open_core(
    store: Store,
    clock: Clock,
    *,
    queue: DeliveryQueue | None = None,
    limiter: Limiter | None = None,
    **settings: Any,
) -> Gateway:
    """The server's core as ``smsgate.bootstrap`` builds it, opened over ``store`` (no loops, no
    listeners): ``gateway.submit`` sends as the doors do. ``settings`` go to :func:`config`.
    Nothing it holds needs closing but the store, which the caller owns."""
    gateway = bootstrap(
        config(**settings), store=store, clock=clock, queue=queue, limiter=limiter, chance=_half
    )
    await gateway.open()
    return gateway


def _half() -> float:
    """The fault injector's dice, fixed: a fault set to fire 50% of the time or more fires."""
    return 0.5
