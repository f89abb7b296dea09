"""The server's side of the connector process (:mod:`.child`): each upstream connector as a
:class:`ProcessConnector`, a :class:`~smsgate.ports.carrier.Carrier` whose work happens there.

One Python process runs on one core (the GIL): with the doors, the store's writer and the
connectors in one loop, the machine's other cores idle while that loop is the bottleneck. The
connectors need no store, so :class:`ConnectorProcess` runs them in a child process and trades
batches with it (:mod:`.wire`): messages to send out, outcomes and receipts already read in. The
routing carrier (``service.connectors.ConnectorSet``) and the connector manager see carriers as
before; what the server keeps is what needs the store (recording hand-overs, matching receipts to
messages, MO messages).

What is promised stays promised:

- The SMSC is answered ESME_ROK for a receipt or MO message only after the server says what it
  carried is durable (the child waits for ``up_done``).
- If the child dies (a crash, a kill), every submit it had is answered Retry: the message goes
  back on the queue (it may reach the handset twice, as with a connection dropped mid-window,
  never lost), the connectors are down for routing (their messages fail over), and a new child
  is started after ``restart_s`` (doubling up to ``restart_max_s`` while it keeps dying) with
  every running connector put again. What the SMSC delivered and the dead child had not
  answered, the SMSC delivers again.
- The password goes over the pair, never on a command line; the child is started only when the
  first connector is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.models import Message, Retry, SubmitOutcome
from smsgate.logs import JsonFormatter, log_event
from smsgate.ports.carrier import ReceiptSink
from smsgate.service.upstream import UpstreamService
from smsgate.smpp import codec
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import DataSm, DeliverSm
from smsgate.tasks import BackgroundTasks

from .wire import FrameReader, frame, message_record, outcome_from, read_frames, receipt_from

__all__ = ["ConnectorProcess", "ConnectorProcessError", "ProcessConnector"]

log = logging.getLogger(__name__)

_TRY_AGAIN: Final = int(CommandStatus.ESME_RX_T_APPN)
#: Submits in flight when the child died come back after this long (the queue's retry).
_LOST_RETRY_S: Final = 1.0
_STOP_S: Final = 10.0
#: A connector put while the child is not up yet waits this long for it, then is kept down.
_READY_S: Final = 10.0


class ConnectorProcessError(RuntimeError):
    """The connector process could not do what was asked (it is not running, or failed)."""


class _Call:
    """A batch handed to the child: the outcomes told so far, and when all are in."""

    __slots__ = ("done", "ids", "outcomes")

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.outcomes: list[SubmitOutcome] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def told(self, records: list[Any]) -> None:
        self.outcomes.extend(outcome_from(record) for record in records)
        if len(self.outcomes) >= len(self.ids) and not self.done.done():
            self.done.set_result(None)

    def lost(self) -> None:
        """The child died: what it had not told comes back Retry (the SMSC may have it)."""
        if self.done.done():
            return
        told = {outcome.message_id for outcome in self.outcomes}
        self.outcomes.extend(Retry(i, _LOST_RETRY_S) for i in self.ids if i not in told)
        self.done.set_result(None)


class ProcessConnector:
    """An upstream connector run by the connector process: Carrier, ConnectorHealth, BindReport.

    ``is_up`` and ``bind_states`` answer from the last state the child reported (within
    ``child.STATE_EVERY_S``): a connector that went down a moment ago answers Retry at once in
    the child, and the router fails its messages over then."""

    resubmit_on_recovery = False  # as SmppConnector: receipts of handed-over messages are awaited
    records_submission = True  # receipts name only the carrier's ids

    def __init__(self, process: ConnectorProcess, spec: ConnectorSpec, password: str) -> None:
        self.process = process
        self.spec = spec
        self.password = password
        self.handle = 0  # given by the process when started
        self.up = False
        self.binds: list[dict[str, object]] = []

    @property
    def name(self) -> str:
        return self.spec.name

    async def start(self, sink: ReceiptSink) -> None:  # noqa: ARG002 - receipts go upstream
        await self.process.put(self)

    async def submit(self, messages: Sequence[Message]) -> list[SubmitOutcome]:
        return await self.process.submit(self, messages)

    async def cancel(self, message_id: str) -> bool:  # noqa: ARG002 - as SmppConnector: never
        return False

    async def close(self) -> None:
        await self.process.close_connector(self)

    def is_up(self) -> bool:
        return self.up

    def bind_states(self) -> Sequence[Mapping[str, object]]:
        return self.binds


class ConnectorProcess:
    """The child process and the pair to it (see the module docstring)."""

    def __init__(
        self,
        upstream: UpstreamService,
        *,
        restart_s: float = 0.5,
        restart_max_s: float = 30.0,
        ready_s: float = _READY_S,
        command: Sequence[str] | None = None,
    ) -> None:
        """``command`` runs the child (its fd is appended); tests give one that fails."""
        self._upstream = upstream
        self._ready_s = ready_s
        self._restart_s = restart_s
        self._restart_max_s = restart_max_s
        self._command = list(command or [sys.executable, "-m", __package__ + ".child"])
        self._handles = itertools.count(1)
        self._calls = itertools.count(1)
        self._connectors: dict[int, ProcessConnector] = {}
        self._names: dict[int, str] = {}  # handles not closed yet, for receipts while closing
        self._waiting: dict[tuple[str, int], asyncio.Future[Any]] = {}
        self._submits: dict[int, _Call] = {}
        self._child: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ready: asyncio.Event = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._work = BackgroundTasks()  # receipts on their way to the store, connectors put again
        self._closing = False
        self.restarts = 0  # children started after the first (tests, and the logs say why)

    # -- what the proxies ask ------------------------------------------------------------------

    async def put(self, connector: ProcessConnector) -> None:
        """Start ``connector`` in the child (starting the child first if need be)."""
        if self._closing:
            raise ConnectorProcessError("the connector process is stopping")
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="connector process")
        connector.handle = next(self._handles)
        try:
            async with asyncio.timeout(self._ready_s):
                await self._ready.wait()
        except TimeoutError:
            # Kept, down: the child that comes up puts it (the manager must not wait on us).
            self._register(connector)
            log_event(log, logging.ERROR, "connector_process.not_ready", connector=connector.name)
            return
        self._register(connector)  # after the child's start: it is put here, not there too
        try:
            error = await self._ask(("started", connector.handle), self._put_frame(connector))
        except ConnectorProcessError:
            return  # the child died meanwhile: the next one puts it again
        if error is not None:
            self._connectors.pop(connector.handle, None)
            self._names.pop(connector.handle, None)
            raise ConnectorProcessError(error)

    def _register(self, connector: ProcessConnector) -> None:
        self._connectors[connector.handle] = connector
        self._names[connector.handle] = connector.name

    async def submit(
        self, connector: ProcessConnector, messages: Sequence[Message]
    ) -> list[SubmitOutcome]:
        if not messages:
            return []
        if self._writer is None or connector.handle not in self._connectors:
            return [Retry(message.id, _LOST_RETRY_S) for message in messages]
        call = _Call([message.id for message in messages])
        number = next(self._calls)
        self._submits[number] = call
        try:
            self._writer.write(
                frame("submit", connector.handle, number, [message_record(m) for m in messages])
            )
            await call.done
        finally:
            del self._submits[number]
        return call.outcomes

    async def close_connector(self, connector: ProcessConnector) -> None:
        """Drain and close ``connector`` in the child; it is not put again after a restart."""
        if self._connectors.pop(connector.handle, None) is None:
            return
        connector.up = False
        if self._writer is None:
            return
        with contextlib.suppress(ConnectorProcessError):
            await self._ask(("closed", connector.handle), frame("close", connector.handle))
            del self._names[connector.handle]  # closed there: nothing more comes from it

    async def close(self) -> None:
        """Stop the child: its connectors close (each draining what it can) and it exits."""
        self._closing = True
        child, writer = self._child, self._writer
        if writer is not None:
            writer.close()
        if child is not None:
            try:
                async with asyncio.timeout(_STOP_S):
                    await child.wait()
            except TimeoutError:
                log.error("the connector process did not stop within %.0f s; killed", _STOP_S)
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self._work.cancel()

    def _stopping(self) -> bool:
        return self._closing

    # -- the child -----------------------------------------------------------------------------

    def _put_frame(self, connector: ProcessConnector) -> bytes:
        spec = connector.spec
        return frame("put", connector.handle, spec.name, spec.to_document(), connector.password)

    async def _ask(self, answer: tuple[str, int], request: bytes) -> Any:
        """Send ``request``; the items of the frame that answers it (keyed by ``answer``)."""
        writer = self._writer
        if writer is None:
            raise ConnectorProcessError("the connector process is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[answer] = future
        try:
            writer.write(request)
            return await future
        finally:
            self._waiting.pop(answer, None)

    async def _run(self) -> None:
        """Start the child, serve it until it exits, start it again: until closed."""
        wait_s = self._restart_s
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await self._serve_child()
            except Exception:
                log.exception("the connector process failed")
            if self._stopping():
                return
            if asyncio.get_running_loop().time() - started > self._restart_max_s:
                wait_s = self._restart_s  # it ran well for a while: a fresh start
            log_event(
                log,
                logging.ERROR,
                "connector_process.exited",
                returncode=None if self._child is None else self._child.returncode,
                restart_in_s=wait_s,
            )
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, self._restart_max_s)
            self.restarts += 1

    async def _serve_child(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            try:
                self._child = await asyncio.create_subprocess_exec(
                    *self._command,
                    str(theirs.fileno()),
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                )
            finally:
                theirs.close()
            reader, writer = await asyncio.open_unix_connection(sock=ours)
        except BaseException:  # cancelled (closing) or failed before the stream owns it
            ours.close()
            raise
        writer.write(frame("hello", *_logging_settings()))
        self._writer = writer
        log_event(log, logging.INFO, "connector_process.started", pid=self._child.pid)
        again = list(self._connectors.values())  # after a restart: put them all again
        self._ready.set()
        for connector in again:
            self._work.spawn(self._put_again(connector))
        try:
            await read_frames(reader, FrameReader(), self._dispatch)
        finally:
            self._ready.clear()
            self._writer = None
            writer.close()
            self._lost()
            if not self._closing:  # else close() waits for it to close its connectors
                with contextlib.suppress(ProcessLookupError):
                    self._child.kill()
            await self._child.wait()

    def _lost(self) -> None:
        """The child is gone: every question to it fails; its connectors are down."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectorProcessError("the connector process exited"))
        for call in self._submits.values():
            call.lost()
        for connector in self._connectors.values():
            connector.up = False

    async def _put_again(self, connector: ProcessConnector) -> None:
        try:
            error = await self._ask(("started", connector.handle), self._put_frame(connector))
        except ConnectorProcessError:
            return  # the new child died too; the next one tries again
        if error is not None:
            log_event(log, logging.ERROR, "connector.failed", connector=connector.name, error=error)

    def _dispatch(self, items: tuple[Any, ...]) -> None:
        kind = items[0]
        if kind == "up":
            self._work.spawn(self._take(items[1], items[2], items[3], items[4]))
        elif kind == "outcomes":
            call = self._submits.get(items[1])
            if call is not None:
                call.told(items[2])
        elif kind == "state":
            connector = self._connectors.get(items[1])
            if connector is not None:
                connector.up = items[2]
                connector.binds = items[3]
        elif kind in ("started", "closed"):
            self._answer((kind, items[1]), items[2] if kind == "started" else None)
        else:
            log.error("the connector process sent a frame of kind %r", kind)

    def _answer(self, key: tuple[str, int], value: Any) -> None:
        future = self._waiting.get(key)
        if future is not None and not future.done():
            future.set_result(value)

    async def _take(
        self, batch: int, handle: int, receipts: list[Any], inbound: list[bytes]
    ) -> None:
        """What one read of a connector brought: made durable, then answered to the child."""
        name = self._names.get(handle, "")  # closing or closed: its receipts are still ours
        try:
            reads = [receipt_from(record) for record in receipts]
            pdus: list[DeliverSm | DataSm] = []
            for data in inbound:
                pdu = codec.decode(data)
                if isinstance(pdu, DeliverSm | DataSm):
                    pdus.append(pdu)
            status, statuses = await self._upstream.deliver_read(name, reads, pdus)
        except Exception:
            # A fault of ours: the SMSC keeps what it sent and delivers it again.
            log.exception("what connector %s delivered could not be taken", name)
            status, statuses = _TRY_AGAIN, []
        if len(statuses) != len(inbound):
            statuses = [_TRY_AGAIN] * len(inbound)
        writer = self._writer
        if writer is not None:
            writer.write(frame("up_done", batch, int(status), [int(s) for s in statuses]))


def _logging_settings() -> tuple[str, str]:
    """The child logs as the server does: the root logger's level and format."""
    root = logging.getLogger()
    level = logging.getLevelName(root.getEffectiveLevel())
    json = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    return level, "json" if json else "text"
