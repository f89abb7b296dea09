"""The connector process: the server's upstream SMPP connectors, on the machine's other core.

``python -m smsgate.adapters.carriers.process.child FD`` is started by
:class:`~.parent.ConnectorProcess` with one end of a socket pair as ``FD``; it runs every
:class:`~smsgate.adapters.carriers.smpp.SmppConnector` of the server, so that what they cost
(encoding submit_sm, the sessions, decoding submit_sm_resp and deliver_sm, reading receipts) is
spent here and not in the server's loop. Over the pair (:mod:`.wire`), by the connector's handle:

- ``put``: build a connector from its settings and password and start it; answered
  ``started`` (with the failure, if any);
- ``submit``: send a batch of messages; answered by ``outcomes`` frames, one for each chunk of
  ``CHUNK`` messages as soon as all of its messages have their outcome;
- ``close``: drain and close a connector; answered ``closed``;
- ``state``: sent to the server whenever a connector's state (up, each bind) changed, checked
  every ``STATE_EVERY_S``;
- ``up``: the final receipts of one read, already read by the connector's table, and its MO
  messages as PDU bytes; the server answers ``up_done`` with the statuses once what they carry
  is durable, and only then are the deliver_sm answered, as in one process.

It lives as long as the pair: at its end (the server stopped, or died) every connector is closed
and the process exits. It ignores SIGINT (a Ctrl-C in the server's terminal is the server's to
act on) and is in its own session for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any, Final

from smsgate.adapters.carriers.smpp import SmppCarrier, SmppConnector
from smsgate.cli.common import tune_for_traffic
from smsgate.domain.connectors import ConnectorSpec, parse_connectors_document
from smsgate.domain.models import Message, Retry, SubmitOutcome
from smsgate.logs import configure_logging
from smsgate.service.upstream import answers, sort_delivered
from smsgate.service.upstream_receipts import read_receipts, receipt_map_for
from smsgate.smpp import codec
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import DataSm, DeliverSm
from smsgate.tasks import BackgroundTasks

from .wire import (
    FrameReader,
    frame,
    message_from,
    outcome_record,
    read_frames,
    receipt_record,
)

__all__ = ["CHUNK", "STATE_EVERY_S", "main"]

log = logging.getLogger(__name__)

#: How often each connector's state is compared with what the server was last told.
STATE_EVERY_S: Final = 0.05
#: Messages of a batch whose outcomes are told together: a process that dies has them sent
#: again only for the chunks it had not finished.
CHUNK: Final = 16
#: Messages the connector is gone for (closed meanwhile, or failing) are tried again after this.
_GONE_RETRY_S: Final = 1.0
_ROK: Final = int(CommandStatus.ESME_ROK)
_TRY_AGAIN: Final = int(CommandStatus.ESME_RX_T_APPN)


async def _no_receipt_sink(_receipts: Sequence[Any]) -> None:
    """A connector reports receipts through its UpstreamSink; the port's sink goes unused."""


class _Server:
    """The child's end of the pair: frames out, and the server's answers to ``up`` frames."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._batches = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[tuple[int, list[int]]]] = {}
        self.gone = False

    def send(self, *items: Any) -> None:
        if not self.gone:
            self._writer.write(frame(*items))

    async def take(
        self, handle: int, receipts: list[Any], inbound: list[bytes]
    ) -> tuple[int, list[int]]:
        """Hand what one read brought to the server; (receipts' status, each MO's status)."""
        if self.gone:
            return _TRY_AGAIN, [_TRY_AGAIN] * len(inbound)
        batch = next(self._batches)
        answer: asyncio.Future[tuple[int, list[int]]] = asyncio.get_running_loop().create_future()
        self._waiting[batch] = answer
        self.send("up", batch, handle, receipts, inbound)
        try:
            return await answer
        finally:
            self._waiting.pop(batch, None)

    def answered(self, batch: int, status: int, inbound: list[int]) -> None:
        answer = self._waiting.get(batch)
        if answer is not None and not answer.done():
            answer.set_result((status, inbound))

    def lost(self) -> None:
        """The server is gone: what waits for it is answered 'try again' (the SMSC keeps it)."""
        self.gone = True
        for answer in self._waiting.values():
            if not answer.done():
                answer.set_result((_TRY_AGAIN, []))


class _Sink:
    """One connector's UpstreamSink here: receipts read by its own table, then to the server."""

    def __init__(self, server: _Server, handle: int, spec: ConnectorSpec) -> None:
        self._server = server
        self._handle = handle
        self._map = receipt_map_for(spec.name, spec)
        self._id_format = spec.receipt_ids

    async def deliver_all(self, connector: str, pdus: Sequence[DeliverSm | DataSm]) -> list[int]:
        receipt_at, inbound_at = sort_delivered(pdus)
        receipts = [pdus[index] for index in receipt_at]
        reads = read_receipts(connector, receipts, self._map, self._id_format)
        if not reads and not inbound_at:
            return answers(len(pdus), (), _ROK, (), ())
        records = [receipt_record(read, keys) for read, keys in reads]
        inbound = [codec.encode(pdus[index]) for index in inbound_at]
        receipt_status, inbound_statuses = await self._server.take(self._handle, records, inbound)
        if len(inbound_statuses) != len(inbound_at):
            inbound_statuses = [_TRY_AGAIN] * len(inbound_at)
        if not reads:  # none final: taken and ignored
            receipt_status = _ROK
        return answers(len(pdus), receipt_at, receipt_status, inbound_at, inbound_statuses)


class _Child:
    def __init__(self, server: _Server) -> None:
        self._server = server
        self._carriers: dict[int, SmppCarrier] = {}
        self._shown: dict[int, tuple[bool, list[dict[str, object]]]] = {}
        self._tasks = BackgroundTasks()

    def handle(self, items: tuple[Any, ...]) -> None:
        """One frame from the server."""
        kind = items[0]
        if kind == "submit":
            self._tasks.spawn(self._submit(items[1], items[2], items[3]))
        elif kind == "up_done":
            self._server.answered(items[1], items[2], items[3])
        elif kind == "put":
            self._tasks.spawn(self._put(items[1], items[2], items[3], items[4]))
        elif kind == "close":
            self._tasks.spawn(self._close(items[1]))
        else:
            log.error("the server sent a frame this process does not know: %r", kind)

    async def _put(self, handle: int, name: str, document: dict[str, Any], password: str) -> None:
        try:
            spec = parse_connectors_document({name: document})[name]
            carrier = SmppCarrier(SmppConnector(spec, password), _Sink(self._server, handle, spec))
            await carrier.start(_no_receipt_sink)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".replace(password, "***") if password else ""
            self._server.send("started", handle, error or type(exc).__name__)
            return
        self._carriers[handle] = carrier
        self._server.send("started", handle, None)
        self.report_states()

    async def _submit(self, handle: int, call: int, records: list[Any]) -> None:
        """Send a batch in chunks, each chunk's outcomes told as soon as it has them: should
        this process die, the server keeps what was told and sends again only the rest."""
        carrier = self._carriers.get(handle)
        messages = [message_from(record) for record in records]
        if carrier is None:
            self._tell(call, [Retry(m.id, _GONE_RETRY_S) for m in messages])
            return
        chunks = [messages[at : at + CHUNK] for at in range(0, len(messages), CHUNK)]
        await asyncio.gather(*(self._submit_chunk(carrier, call, chunk) for chunk in chunks))

    async def _submit_chunk(self, carrier: SmppCarrier, call: int, chunk: list[Message]) -> None:
        try:
            outcomes = await carrier.submit(chunk)
        except Exception:
            # A fault of ours: the messages go back on the server's queue (or fail over).
            log.exception("connector %s failed a submit", carrier.connector.name)
            outcomes = [Retry(m.id, _GONE_RETRY_S) for m in chunk]
        self._tell(call, outcomes)

    def _tell(self, call: int, outcomes: Sequence[SubmitOutcome]) -> None:
        self._server.send("outcomes", call, [outcome_record(o) for o in outcomes])

    async def _close(self, handle: int) -> None:
        carrier = self._carriers.get(handle)
        if carrier is not None:
            try:
                await carrier.close()
            except Exception:
                log.exception("a connector failed to close")
            self._carriers.pop(handle, None)
            self._shown.pop(handle, None)
        self._server.send("closed", handle)

    def report_states(self) -> None:
        """Tell the server of each connector whose state changed since it was last told."""
        for handle, carrier in self._carriers.items():
            shown = (carrier.is_up(), [dict(bind) for bind in carrier.bind_states()])
            if self._shown.get(handle) != shown:
                self._shown[handle] = shown
                self._server.send("state", handle, shown[0], shown[1])

    async def report_forever(self) -> None:
        while True:
            await asyncio.sleep(STATE_EVERY_S)
            self.report_states()

    async def close(self) -> None:
        """The server is gone: close every connector (each drains what it can first)."""
        await self._tasks.cancel()
        await asyncio.gather(*(c.close() for c in self._carriers.values()), return_exceptions=True)
        self._carriers.clear()


async def _run(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    hello = await reader.readexactly(4)
    frames = FrameReader()
    size = int.from_bytes(hello, "big")
    (first,) = frames.feed(hello + await reader.readexactly(size))
    if first[0] != "hello":
        raise SystemExit(f"the server's first frame was {first[0]!r}, not hello")
    configure_logging(first[1], first[2])
    server = _Server(writer)
    child = _Child(server)
    reporter = asyncio.create_task(child.report_forever())
    try:
        await read_frames(reader, frames, child.handle)
    finally:
        server.lost()
        reporter.cancel()
        await child.close()
        with contextlib.suppress(Exception):
            writer.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_for_traffic()
    asyncio.run(_run(int(args[0])))


if __name__ == "__main__":
    main()
