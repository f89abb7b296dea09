"""Message ids: unique, time-ordered decimal strings, like Alibaba's international ``MessageId``.

Layout of the 63-bit value (a "snowflake" id; the sign bit stays 0 so it fits a signed 64-bit
SQLite ``INTEGER`` / PostgreSQL ``bigint``)::

    | 41 bits: milliseconds since EPOCH_MS | 10 bits: node id | 12 bits: sequence in that ms |

- **Unique across nodes**: each process is configured with its own node id (0-1023).
- **Unique across restarts**: time moves on between two runs of a node. A node that issued ids
  ahead of its clock (see below) or whose clock stepped back can pass the last id it issued
  (``last_issued``, e.g. the store's maximum) and continues after it.
- **Monotonic within a generator**: when the clock does not move, the sequence counts up; when it
  runs past 4,095 in one millisecond, or the clock goes backwards, the generator borrows the next
  millisecond, so a burst of 4M ids/s per node is possible and ids never go down.

The epoch is 2015-01-01T00:00:00Z: every id made after mid-2022 has exactly 19 digits (well
inside an SMPP ``message_id`` of 65 octets), so ids compare the same as strings and as integers,
and the 41-bit clock lasts until 2084.

The generator reads no clock: the caller passes ``now_ms``. It is not thread-safe; smsgate runs
one event loop per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "EPOCH_MS",
    "MAX_NODE_ID",
    "MAX_SEQUENCE",
    "MessageIdGenerator",
    "MessageIdParts",
    "first_id_at",
    "parse_message_id",
]

#: 2015-01-01T00:00:00Z in Unix milliseconds.
EPOCH_MS: Final = 1_420_070_400_000
_TICK_BITS: Final = 41
_NODE_BITS: Final = 10
_SEQUENCE_BITS: Final = 12
MAX_NODE_ID: Final = (1 << _NODE_BITS) - 1
MAX_SEQUENCE: Final = (1 << _SEQUENCE_BITS) - 1
_MAX_TICK: Final = (1 << _TICK_BITS) - 1
_NODE_SHIFT: Final = _SEQUENCE_BITS
_TICK_SHIFT: Final = _NODE_BITS + _SEQUENCE_BITS
_MAX_DIGITS: Final = 19  # len(str(2**63 - 1))


@dataclass(frozen=True, slots=True)
class MessageIdParts:
    """The fields of an id. ``unix_ms`` is the millisecond the id was counted in, which is later
    than the wall clock of its creation when the generator had to borrow milliseconds."""

    unix_ms: int
    node_id: int
    sequence: int


class MessageIdGenerator:
    """Makes unique, strictly increasing message ids for one node."""

    __slots__ = ("_node_bits", "_node_id", "_sequence", "_tick")

    def __init__(self, node_id: int, *, last_issued: str | int | None = None) -> None:
        if not 0 <= node_id <= MAX_NODE_ID:
            raise ValueError(f"node id {node_id} is outside 0..{MAX_NODE_ID}")
        self._node_id = node_id
        self._node_bits = node_id << _NODE_SHIFT
        self._tick = -1
        self._sequence = MAX_SEQUENCE
        if last_issued is not None:
            last = parse_message_id(str(last_issued))
            self._tick = last.unix_ms - EPOCH_MS
            self._sequence = last.sequence

    @property
    def node_id(self) -> int:
        return self._node_id

    def next_id(self, now_ms: int) -> str:
        """A new id as a decimal string, greater than every id this generator made before."""
        return str(self.next_int(now_ms))

    def next_int(self, now_ms: int) -> int:
        """Like :meth:`next_id`, as an integer (what the store keeps)."""
        tick = now_ms - EPOCH_MS
        if tick < 0:
            raise ValueError(f"time {now_ms} is before the id epoch {EPOCH_MS}")
        if tick > self._tick:
            self._tick, self._sequence = tick, 0
        elif self._sequence < MAX_SEQUENCE:
            self._sequence += 1
        else:
            self._tick, self._sequence = self._tick + 1, 0
        if self._tick > _MAX_TICK:
            raise OverflowError("the id clock has run out (year 2084)")
        return (self._tick << _TICK_SHIFT) | self._node_bits | self._sequence


def parse_message_id(message_id: str) -> MessageIdParts:
    """Take an id apart; ``ValueError`` if it is not one of ours (e.g. a client's typo)."""
    if not (0 < len(message_id) <= _MAX_DIGITS and message_id.isascii() and message_id.isdigit()):
        raise ValueError(f"{message_id[:32]!r} is not a message id")
    value = int(message_id)
    if value >= 1 << (_TICK_BITS + _TICK_SHIFT):
        raise ValueError(f"{message_id!r} is out of the id range")
    return MessageIdParts(
        unix_ms=(value >> _TICK_SHIFT) + EPOCH_MS,
        node_id=(value >> _NODE_SHIFT) & MAX_NODE_ID,
        sequence=value & MAX_SEQUENCE,
    )


def first_id_at(unix_ms: int) -> str:
    """The smallest id any node can issue at ``unix_ms``: ids at or above it were made then or
    later, so a time window becomes a primary-key range."""
    return str(max(1, max(0, unix_ms - EPOCH_MS) << _TICK_SHIFT))
