"""The SMPP 3.4 door: an asyncio Protocol driving one :class:`SmscSession` per connection.

The session does the protocol (states, enquire_link, unbind, decode errors, timers); this driver
checks credentials on bind, turns submit_sm into a :class:`Submission` for the same
:meth:`SubmitService.send` the HTTP door uses, and answers with the seed table's SMPP status.

Out of scope for now: long-message reassembly (UDHI), deliver_sm receipts, submit_multi,
query_sm, cancel_sm, replace_sm, data_sm (answered ESME_RINVCMDID), TLS and TPS limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Final, cast

from smsgate import errors
from smsgate.domain.text import decode_gsm7_unpacked, decode_ucs2
from smsgate.errors import OverloadedError, SmsError
from smsgate.ports.store import AccountStore
from smsgate.service.access import check_account_usable
from smsgate.service.policy import PolicyCache
from smsgate.service.smpp_accounts import SmppCredentials, verify_password
from smsgate.service.submit import Submission, SubmitService
from smsgate.smpp.constants import CommandStatus, TlvTag
from smsgate.smpp.errors import response_command_id
from smsgate.smpp.events import (
    BindPdu,
    BindRequested,
    ConnectionShouldClose,
    Request,
)
from smsgate.smpp.pdu import PDU_CLASSES, Pdu, SubmitSm, SubmitSmResp
from smsgate.smpp.session import SmscSession

__all__ = ["ESME_RINVDCS", "SMPP_ACTION", "SYSTEM_ID", "SmppServer", "decode_short_message"]

log = logging.getLogger(__name__)

#: Our system_id in bind responses.
SYSTEM_ID: Final = "smsgate"
#: The action name barred-action settings use for SMPP submits.
SMPP_ACTION: Final = "SubmitSm"
#: SMPP 3.4 has no code for an unsupported data_coding; SMPP 5.0 §4.7.6 defines this one.
ESME_RINVDCS: Final = 0x00000104
_UDHI: Final = 0x40


class _Refused(Exception):  # noqa: N818 - a status to answer, not an error
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def decode_short_message(data: bytes, data_coding: int) -> str:
    """The text of a single-part message; _Refused(ESME_RINVDCS) when it cannot be decoded."""
    try:
        if data_coding == 0:
            return decode_gsm7_unpacked(data)
        if data_coding == 3:
            return data.decode("latin-1")
        if data_coding == 8:
            return decode_ucs2(data)
    except UnicodeDecodeError:
        raise _Refused(ESME_RINVDCS) from None
    raise _Refused(ESME_RINVDCS)


class SmppServer:
    """Owns the listening socket and the connections; ``stop`` closes them and waits for
    submits in flight (they run to completion, as the HTTP door's do)."""

    def __init__(
        self,
        submit: SubmitService,
        accounts: AccountStore,
        policy: PolicyCache,
    ) -> None:
        self.submit = submit
        self.accounts = accounts
        self.policy = policy
        self.credentials = SmppCredentials(policy)
        self.connections: set[_SmppConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _SmppConnection(self), host, port)
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class _SmppConnection(asyncio.Protocol):
    def __init__(self, server: SmppServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._session = SmscSession(now=self._loop.time())
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_scheduled = False
        self._account_id: str | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self._transport = cast(asyncio.Transport, transport)
        self._server.connections.add(self)
        self._set_timer()

    def data_received(self, data: bytes) -> None:
        self._session.receive_data(data, self._loop.time())
        self._drain()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self._server.connections.discard(self)
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # --- session driving ----------------------------------------------------------------------

    def _drain(self) -> None:
        """Handle every event, write once, re-arm the timer."""
        should_close = False
        while (event := self._session.next_event()) is not None:
            if isinstance(event, BindRequested):
                self._server.spawn(self._bind(event.pdu))
            elif isinstance(event, Request):
                self._on_request(event.pdu)
            elif isinstance(event, ConnectionShouldClose):
                log.debug("SMPP connection closing: %s", event.reason)
                should_close = True
        self._flush()
        if should_close:
            self.close()
        else:
            self._set_timer()

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._session.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _schedule_flush(self) -> None:
        """Responses finished in the same loop iteration go out in one write."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _set_timer(self) -> None:
        when = self._session.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None and self._transport is not None:
            self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._session.handle_timer(self._loop.time())
        self._drain()

    # --- bind ---------------------------------------------------------------------------------

    async def _bind(self, pdu: BindPdu) -> None:
        try:
            status = await self._check_bind(pdu)
        except Exception:
            log.exception("SMPP bind check failed")
            status = CommandStatus.ESME_RBINDFAIL
        if status == CommandStatus.ESME_ROK:
            self._session.accept_bind(pdu, SYSTEM_ID)
        else:
            self._session.reject_bind(pdu, status)
        self._drain()

    async def _check_bind(self, pdu: BindPdu) -> int:
        credential = await self._server.credentials.lookup(pdu.system_id)
        if credential is None:
            return CommandStatus.ESME_RINVSYSID
        ok = await asyncio.to_thread(verify_password, pdu.password, credential.password_hash)
        if not ok:
            return CommandStatus.ESME_RINVPASWD
        account = await self._server.accounts.get_account(credential.account_id)
        if account is None:
            return CommandStatus.ESME_RBINDFAIL
        try:
            check_account_usable(account)
        except SmsError:
            return CommandStatus.ESME_RBINDFAIL
        self._account_id = account.id
        return CommandStatus.ESME_ROK

    # --- requests -----------------------------------------------------------------------------

    def _on_request(self, pdu: Pdu) -> None:
        if isinstance(pdu, SubmitSm):
            self._server.spawn(self._submit(pdu))
        else:  # query_sm, cancel_sm, replace_sm, submit_multi, data_sm: not offered yet
            self._error(pdu, CommandStatus.ESME_RINVCMDID)

    def _error(self, pdu: Pdu, status: int) -> None:
        cls = PDU_CLASSES[response_command_id(pdu.command_id)]
        self._session.respond(cls(sequence_number=pdu.sequence_number, command_status=status))

    async def _submit(self, pdu: SubmitSm) -> None:
        seq = pdu.sequence_number
        try:
            message_id = await self._send(pdu)
            resp = SubmitSmResp(sequence_number=seq, message_id=message_id)
        except _Refused as exc:
            resp = SubmitSmResp(sequence_number=seq, command_status=exc.status)
        except SmsError as exc:
            resp = SubmitSmResp(sequence_number=seq, command_status=exc.result.smpp_status)
        except OverloadedError:
            resp = SubmitSmResp(sequence_number=seq, command_status=CommandStatus.ESME_RMSGQFUL)
        except Exception:
            log.exception("SMPP submit_sm failed")
            resp = SubmitSmResp(sequence_number=seq, command_status=CommandStatus.ESME_RSYSERR)
        self._session.respond(resp)
        self._schedule_flush()

    async def _send(self, pdu: SubmitSm) -> str:
        if pdu.esm_class & _UDHI:  # concatenated parts: reassembly is not offered yet
            raise _Refused(CommandStatus.ESME_RINVESMCLASS)
        payload = pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD)
        if payload is not None and pdu.short_message:
            raise _Refused(CommandStatus.ESME_RSUBMITFAIL)  # §5.3.2.32: one or the other
        body = decode_short_message(
            pdu.short_message if payload is None else payload, pdu.data_coding
        )
        account_id = self._account_id
        if account_id is None:
            raise _Refused(CommandStatus.ESME_RINVBNDSTS)
        account = await self._server.accounts.get_account(account_id)
        if account is None:
            raise _Refused(CommandStatus.ESME_RSUBMITFAIL)
        check_account_usable(account)
        settings = await self._server.policy.account(account.id)
        if SMPP_ACTION in settings.barred_actions:
            raise SmsError(errors.FORBIDDEN_ACTION, f"{SMPP_ACTION} is barred for this account")
        sub = Submission(
            to=pdu.destination_addr,
            body=body,
            sender=pdu.source_addr or None,
            msg_type="NOTIFY",
        )
        message = await self._server.submit.send(account, sub)
        return message.id
