"""What the server and its connector process say to each other, as bytes (pure), and
:func:`read_frames`, the one loop with which each end reads the other.

Each frame is a 4-byte big-endian length and a :mod:`marshal` payload (a tuple whose first item
names the frame). Marshal is the fastest serialiser of plain tuples in the standard library and
reads only data, never code; both ends are the same smsgate on the same interpreter, started
together, so its format (which varies between Python versions) is always shared. A frame carries a
batch (the messages of one submit call, the receipts of one read), never one message, so that
the pipe costs a few microseconds a message.

Records are tuples in a fixed order, written and read only here:

- a message to send: what the connector encodes (:func:`message_record`), not the whole
  :class:`~smsgate.domain.models.Message`;
- an outcome: ``("a", id, connector, carrier_ids, at)``, ``("r", id, connector, code, at)`` or
  ``("t", id, after_s)``;
- a receipt already read: the carrier's id, status, receipt code, the raw text and the keys its
  message may be stored under (:func:`receipt_record`).
"""

from __future__ import annotations

import asyncio
import marshal
import struct
from collections.abc import Callable, Sequence
from typing import Any, Final

from smsgate.domain.carrier_receipts import CarrierReceipt
from smsgate.domain.models import (
    Accepted,
    Message,
    MessageStatus,
    Rejected,
    Retry,
    SubmitOutcome,
)

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "FrameError",
    "FrameReader",
    "frame",
    "message_from",
    "message_record",
    "outcome_from",
    "outcome_record",
    "read_frames",
    "receipt_from",
    "receipt_record",
]

HEADER: Final = struct.Struct(">I")
#: A frame longer than this is a fault (a batch of a thousand long messages is under 2 MB).
MAX_FRAME: Final = 64 * 1024 * 1024

_READ_SIZE: Final = 256 * 1024

MessageRecord = tuple[str, str, str | None, str, str, float, int | None]
ReceiptRecord = tuple[str, str, str, str, list[str]]


class FrameError(ValueError):
    """The other end sent something that is not a frame of this protocol."""


def frame(*items: Any) -> bytes:
    """One frame of ``items`` (plain data: str, bytes, numbers, None, tuples, lists, dicts)."""
    payload = marshal.dumps(items)
    return HEADER.pack(len(payload)) + payload


class FrameReader:
    """Frames out of a byte stream, however it was cut into reads."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        """The frames ``data`` completes. Raises :class:`FrameError` on a malformed one."""
        buffer = self._buffer
        buffer += data
        frames: list[tuple[Any, ...]] = []
        at = 0
        size = len(buffer)
        while size - at >= 4:
            (length,) = HEADER.unpack_from(buffer, at)
            if length > MAX_FRAME:
                raise FrameError(f"a frame of {length} bytes")
            end = at + 4 + length
            if end > size:
                break
            try:
                # Our own child over a private socket pair (module docstring); it never runs code.
                items = marshal.loads(bytes(buffer[at + 4 : end]))  # noqa: S302
            except (EOFError, ValueError, TypeError) as exc:
                raise FrameError(f"an unreadable frame: {exc}") from exc
            if not isinstance(items, tuple) or not items or not isinstance(items[0], str):
                raise FrameError("a frame without a name")
            frames.append(items)
            at = end
        if at:
            del buffer[:at]
        return frames


async def read_frames(
    reader: asyncio.StreamReader, frames: FrameReader, handle: Callable[[tuple[Any, ...]], None]
) -> None:
    """Hand each frame the other end sends to ``handle``, in order, until it closes the pair."""
    try:
        while data := await reader.read(_READ_SIZE):
            for items in frames.feed(data):
                handle(items)
    except ConnectionError:
        pass  # it is gone: as closed


def message_record(message: Message) -> MessageRecord:
    """What a connector needs of ``message`` to send it (encode.encode_message, its id)."""
    return (
        message.id,
        message.to,
        message.sender,
        message.body,
        message.encoding,
        message.created_at,
        message.validity_period,
    )


def message_from(record: Sequence[Any]) -> Message:
    """The message a connector sends, from :func:`message_record`: the fields it does not read
    (account, pricing, numbering data) are left empty."""
    message_id, to, sender, body, encoding, created_at, validity_period = record
    return Message(
        id=message_id,
        account_id="",
        to=to,
        sender=sender,
        body=body,
        encoding=encoding,
        segments=0,
        country="",
        region_code="",
        region="",
        network="",
        msg_type="",
        created_at=created_at,
        validity_period=validity_period,
    )


def outcome_record(outcome: SubmitOutcome) -> tuple[Any, ...]:
    if isinstance(outcome, Accepted):
        return (
            "a",
            outcome.message_id,
            outcome.connector,
            list(outcome.carrier_ids),
            outcome.submitted_at,
        )
    if isinstance(outcome, Rejected):
        return (
            "r",
            outcome.message_id,
            outcome.connector,
            outcome.receipt_code,
            outcome.rejected_at,
        )
    return ("t", outcome.message_id, outcome.after_s)


def outcome_from(record: Sequence[Any]) -> SubmitOutcome:
    kind = record[0]
    if kind == "a":
        return Accepted(record[1], record[2], tuple(record[3]), record[4])
    if kind == "r":
        return Rejected(record[1], record[2], record[3], record[4])
    if kind == "t":
        return Retry(record[1], record[2])
    raise FrameError(f"an outcome of kind {kind!r}")


def receipt_record(read: CarrierReceipt, keys: list[str]) -> ReceiptRecord:
    return (read.carrier_id, read.status.value, read.error_code, read.raw, keys)


def receipt_from(record: Sequence[Any]) -> tuple[CarrierReceipt, list[str]]:
    carrier_id, status, error_code, raw, keys = record
    return CarrierReceipt(carrier_id, MessageStatus(status), error_code, raw), list(keys)
