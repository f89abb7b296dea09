"""A bare ESME for testing the foreign SMSC itself: writes the PDUs a test asks for, built by
smpplib directly, and reads what comes back, with no state machine that would hide a wrong
answer. It does not go through ``wire.py``, so a slip there is not mirrored here."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

import smpplib.smpp  # type: ignore[import-untyped]

__all__ = ["Esme", "pdu_bytes"]

_READ_TIMEOUT_S = 5.0


def pdu_bytes(command: str, sequence: int, **fields: object) -> bytes:
    """A PDU from smpplib (its sequence set after building: make_pdu keeps its own otherwise)."""
    pdu = smpplib.smpp.make_pdu(command, sequence=sequence, **fields)
    pdu.sequence = sequence
    data: bytes = pdu.generate()
    return data


class Esme:
    """One client connection to the peer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.sequence = 0

    @classmethod
    async def connect(cls, port: int) -> Esme:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, command: str, **fields: object) -> int:
        """Write a request with the next sequence number; returns the number."""
        self.sequence += 1
        self.writer.write(pdu_bytes(command, self.sequence, **fields))
        return self.sequence

    def submit(self, to: str = "6591000001", text: bytes = b"hello", **fields: object) -> int:
        return self.send(
            "submit_sm",
            **{
                "source_addr_ton": 5,
                "source_addr": "Acme",
                "dest_addr_ton": 1,
                "dest_addr_npi": 1,
                "destination_addr": to,
                "short_message": text,
                **fields,
            },
        )

    def answer(self, request: Any, status: int = 0) -> None:
        self.writer.write(pdu_bytes(f"{request.command}_resp", request.sequence, status=status))

    async def read_frame(self) -> bytes | None:
        """The next whole PDU as bytes, or None once the peer has closed."""
        async with asyncio.timeout(_READ_TIMEOUT_S):
            try:
                head = await self.reader.readexactly(4)
            except (asyncio.IncompleteReadError, ConnectionResetError):
                return None
            (length,) = struct.unpack(">L", head)
            return head + await self.reader.readexactly(length - 4)

    async def read(self) -> Any:
        """The next PDU as smpplib parses it."""
        frame = await self.read_frame()
        assert frame is not None, "the peer closed the connection"
        return smpplib.smpp.parse_pdu(frame, sequence=0, allow_unknown_opt_params=True)

    async def expect(self, command: str) -> Any:
        pdu = await self.read()
        assert pdu.command == command, (pdu.command, pdu.status, pdu.sequence)
        return pdu

    async def read_until(self, command: str) -> list[Any]:
        """PDUs up to and including the first ``command``."""
        pdus = [await self.read()]
        while pdus[-1].command != command:
            pdus.append(await self.read())
        return pdus

    async def bind(self, mode: str, system_id: str, password: str) -> Any:
        self.send(f"bind_{mode}", system_id=system_id, password=password)
        return await self.expect(f"bind_{mode}_resp")

    async def at_end(self) -> None:
        """Assert that the peer closed, with nothing more written."""
        assert await self.read_frame() is None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
