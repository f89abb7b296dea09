"""A read cursor over PDU bytes, in aioquic's ``pull_*`` style (``quic/packet.py``).

:class:`Buffer` reads SMPP field types (§3.1: Integer, C-Octet String, Octet String) between two
offsets of a ``bytes``/``bytearray`` without copying the PDU first. It raises its own
:class:`BufferReadError` subclasses; the codec turns them into :class:`SmppDecodeError` with the
PDU's command id and sequence number. No per-byte Python loops: ``find`` and ``struct`` do the work.
"""

from __future__ import annotations

from struct import Struct
from typing import Any

__all__ = ["Buffer", "BufferReadError", "BufferTruncatedError", "FieldTooLongError"]


class BufferReadError(Exception):
    """A field could not be read."""


class BufferTruncatedError(BufferReadError):
    """The data ends inside a field (no NUL before the end, too few octets)."""


class FieldTooLongError(BufferReadError):
    """A C-Octet String has no NUL within its maximum size."""


_U8 = Struct(">B")


class Buffer:
    """Cursor over ``data[pos:end]``."""

    __slots__ = ("_data", "end", "pos")

    def __init__(self, data: bytes | bytearray, pos: int, end: int) -> None:
        self._data = data
        self.pos = pos
        self.end = end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def pull_cstring(self, maximum: int) -> str:
        """A C-Octet String of at most ``maximum`` octets including its NUL (§3.1), as Latin-1."""
        data, pos, end = self._data, self.pos, self.end
        limit = pos + maximum
        nul = data.find(0, pos, limit if limit < end else end)
        if nul < 0:
            if limit > end:
                raise BufferTruncatedError(f"C-Octet String not terminated before the end at {pos}")
            raise FieldTooLongError(f"C-Octet String longer than {maximum} octets at {pos}")
        self.pos = nul + 1
        return data[pos:nul].decode("latin-1")

    def pull_struct(self, fmt: Struct) -> tuple[Any, ...]:
        """Fixed-size Integers, big-endian (§3.1)."""
        pos = self.pos
        new = pos + fmt.size
        if new > self.end:
            raise BufferTruncatedError(f"{fmt.size} octets wanted at {pos}, {self.end - pos} left")
        self.pos = new
        return fmt.unpack_from(self._data, pos)

    def pull_uint8(self) -> int:
        value: int = self.pull_struct(_U8)[0]
        return value

    def pull_bytes(self, length: int) -> bytes:
        """An Octet String of ``length`` octets."""
        pos = self.pos
        new = pos + length
        if new > self.end:
            raise BufferTruncatedError(f"{length} octets wanted at {pos}, {self.end - pos} left")
        self.pos = new
        return bytes(self._data[pos:new])
