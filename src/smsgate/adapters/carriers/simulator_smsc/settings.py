"""What the standalone SMSC is told at start: rules, credentials, ids, limits and timers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from smsgate.config import SimulatorConfig

__all__ = ["IdFormat", "SmscSettings"]

#: How message ids are written: decimal digits, or lower-case hexadecimal.
IdFormat = Literal["dec", "hex"]


@dataclass(frozen=True, slots=True)
class SmscSettings:
    """Settings of :class:`~.server.SimulatorSmsc`, checked once here.

    ``credentials`` maps system_id to password; empty, any system_id binds with any password.
    ``ids`` is how submit responses write message ids; ``receipt_ids`` how receipts write them
    (None: the same way), for testing clients against carriers that mix the two.
    ``max_tps``: submitted messages per second per system_id (all its binds together) before
    ESME_RTHROTTLED; 0, no cap. ``max_pending``: receipts and MO messages per system_id not yet
    acknowledged (waiting for their delay, for a receiver bind, or for an answer); at that many,
    submits that ask for a receipt get ESME_RMSGQFUL. ``window``: deliver_sm sent to one bind
    and not yet answered. An unanswered or refused deliver_sm is sent again after
    ``receipt_retry_s``.
    """

    rules: SimulatorConfig = field(default_factory=SimulatorConfig)
    credentials: Mapping[str, str] = field(default_factory=dict)
    system_id: str = "smsgate-sim"  # ours, in bind responses
    ids: IdFormat = "dec"
    receipt_ids: IdFormat | None = None
    max_tps: float = 0.0
    max_pending: int = 100_000
    window: int = 64
    receipt_retry_s: float = 10.0
    response_timeout_s: float = 30.0
    enquire_link_s: float = 30.0
    inactivity_s: float = 300.0
    request_window: int = 512
    write_stall_s: float = 30.0
    shutdown_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_pending", "window", "request_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_tps < 0:
            raise ValueError("max_tps must be 0 (no cap) or more")
        for name in ("receipt_retry_s", "response_timeout_s", "enquire_link_s", "inactivity_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be greater than zero")
        for system_id, password in self.credentials.items():
            if not 1 <= len(system_id) <= 15 or len(password) > 8:
                raise ValueError(
                    f"system_id {system_id!r}: system_id 1-15 characters, password up to 8"
                )

    @property
    def reported_ids(self) -> IdFormat:
        """How receipts write message ids."""
        return self.receipt_ids or self.ids
