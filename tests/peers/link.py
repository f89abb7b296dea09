"""One connection to the foreign SMSC: what it is bound as, and what it waits for."""

from __future__ import annotations

import asyncio
import itertools

from .records import BindMode, Delivery

__all__ = ["Link"]


class Link:
    """One TCP connection and its bind."""

    def __init__(self, number: int, writer: asyncio.StreamWriter) -> None:
        self.number = number
        self.writer = writer
        self.system_id = ""
        self.mode: BindMode | None = None
        self.closing = False
        self.outstanding = 0
        """submit_sm held or delayed, not yet answered."""
        self.waiting: dict[int, Delivery | asyncio.Future[int | None]] = {}
        """The peer's requests by sequence: a deliver_sm, or a future for another answer."""
        self._sequences = itertools.count(1)

    @property
    def bound(self) -> bool:
        return not self.closing and self.mode is not None

    @property
    def can_submit(self) -> bool:
        return not self.closing and self.mode in ("transmitter", "transceiver")

    @property
    def can_receive(self) -> bool:
        return not self.closing and self.mode in ("receiver", "transceiver")

    def is_of(self, system_id: str | None) -> bool:
        """Whether this link belongs to ``system_id`` (None: any)."""
        return system_id is None or self.system_id == system_id

    def next_sequence(self) -> int:
        return next(self._sequences)

    def send(self, frame: bytes) -> None:
        if not self.closing:
            self.writer.write(frame)

    def close(self) -> None:
        """Read no more, and close once what was written is sent (a FIN, not a reset)."""
        if not self.closing:
            self.closing = True
            self.writer.close()
