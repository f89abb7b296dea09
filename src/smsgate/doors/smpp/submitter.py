"""submit_sm and data_sm on their way into the core, in batches per account.

Per account, at most :data:`BATCHES_IN_FLIGHT` batches are admitted at a time (some being
checked while others' store commits run); what arrives meanwhile, from any bind of the account,
waits and goes as the next batch. At full speed a batch is whatever one read brought;
at lower rates, when PDUs trickle in one per read, it is whatever came during the previous
batch's store commit. Either way the fixed costs of an admission (policy and limit look-ups, a
store write, a wake-up of the writer thread) are paid per batch, not per message, while a lone
PDU still goes at once.

Each PDU is still judged alone (:meth:`SubmitService.send_each`) and answered on its own bind.
Long messages are put together here too (:mod:`smsgate.smpp.reassembly`): every part is answered
when it arrives, the earlier ones with ESME_ROK and the id the whole message will have, the last
one with the outcome of the whole message. The message asks for the receipt that the strongest
``registered_delivery`` of its parts asks for, whichever part carried it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from smsgate.domain import numbers
from smsgate.domain.models import Account, Message
from smsgate.ports.clock import Clock
from smsgate.service.access import AccessGuard
from smsgate.service.keyring import KeyRing
from smsgate.service.submit import Submission, SubmitService
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import DataSm, DataSmResp, Pdu, SubmitSm, SubmitSmResp
from smsgate.smpp.reassembly import (
    UDHI,
    ConcatError,
    Part,
    Reassembler,
    part_of,
    part_of_pdu,
    strongest_receipt_request,
)
from smsgate.tasks import BackgroundTasks

from .fields import (
    Refused,
    content,
    lone_payload,
    refuse_scheduled,
    validity_seconds,
)
from .statuses import log_unexpected

__all__ = ["BATCHES_IN_FLIGHT", "Responder", "SmppSubmitter"]

#: Batches of one account admitted at once: several keep the store busy while the next forms.
BATCHES_IN_FLIGHT = 8

log = logging.getLogger(__name__)

_Submit = SubmitSm | DataSm
_Key = tuple[str, str, str]  # account, source_addr, destination_addr


class Responder(Protocol):
    """The bind a PDU came from."""

    @property
    def system_id(self) -> str: ...
    @property
    def bind_id(self) -> int:
        """Kept with the message, so that its receipt goes back to this bind."""
        ...

    def respond(self, resp: Pdu) -> None: ...
    def refuse(self, request: Pdu, exc: BaseException) -> None:
        """Answer ``request`` with the status of ``exc`` in the bind's status profile."""
        ...


class SmppSubmitter:
    def __init__(
        self,
        submit: SubmitService,
        guard: AccessGuard,
        keyring: KeyRing,
        clock: Clock,
        *,
        concat_timeout_s: float,
    ) -> None:
        self._submit = submit
        self._guard = guard
        self._keyring = keyring
        self._clock = clock
        self._waiting: dict[str, list[tuple[Responder, _Submit]]] = {}
        self._running: dict[str, int] = {}  # account -> batches in flight
        self._tasks = BackgroundTasks()
        #: Parts are tagged with their registered_delivery, combined once the message is whole.
        self._reassembler: Reassembler[_Key, int] = Reassembler(timeout_s=concat_timeout_s)
        #: The id promised to the first parts of each long message being put together.
        self._promised: dict[tuple[_Key, int, int], str] = {}
        self._expiry: asyncio.TimerHandle | None = None

    def queue(self, bind: Responder, account_id: str, pdus: list[_Submit]) -> None:
        """Take submits read from ``bind``; they are answered on it once admitted."""
        self._waiting.setdefault(account_id, []).extend((bind, pdu) for pdu in pdus)
        running = self._running.get(account_id, 0)
        if running < BATCHES_IN_FLIGHT:
            self._running[account_id] = running + 1
            self._tasks.spawn(self._run(account_id))

    async def close(self) -> None:
        """Wait for the batches in flight (they run to completion, as HTTP requests do)."""
        await self._tasks.wait()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    async def _run(self, account_id: str) -> None:
        try:
            while batch := self._waiting.pop(account_id, None):
                await self._admit(account_id, batch)
        finally:
            left = self._running.pop(account_id) - 1
            if left:
                self._running[account_id] = left

    async def _admit(self, account_id: str, batch: list[tuple[Responder, _Submit]]) -> None:
        """Check and convert each PDU alone, then admit all that passed together."""
        try:
            account = await self._keyring.account(account_id)
            if account is None:
                raise Refused(CommandStatus.ESME_RSYSERR, f"account {account_id} is gone")
        except Exception as exc:
            log_unexpected(exc)
            for bind, pdu in batch:
                bind.refuse(pdu, exc)
            return
        subs: list[Submission] = []
        sent: list[tuple[Responder, _Submit]] = []
        for bind, pdu in batch:
            try:
                await self._guard.check_account_action(account, "SubmitSm")
                sub = self._submission(account, bind, pdu)
            except Exception as exc:
                log_unexpected(exc)
                bind.refuse(pdu, exc)
                continue
            if isinstance(sub, str):  # an earlier part: acknowledged with the promised id
                bind.respond(_resp(pdu, sub))
            else:
                subs.append(sub)
                sent.append((bind, pdu))
        if not subs:
            return
        try:
            outcomes = await self._submit.send_each(account, subs)
        except Exception as exc:
            log_unexpected(exc)
            for bind, pdu in sent:
                bind.refuse(pdu, exc)
            return
        for (bind, pdu), outcome in zip(sent, outcomes, strict=True):
            if isinstance(outcome, Message):
                bind.respond(_resp(pdu, outcome.id))
            else:
                bind.refuse(pdu, outcome)

    def _submission(self, account: Account, bind: Responder, pdu: _Submit) -> Submission | str:
        """The submission a PDU makes, or for a part of a long message still missing others,
        the id promised to it."""
        if isinstance(pdu, SubmitSm):
            refuse_scheduled(pdu.schedule_delivery_time)
        payload = lone_payload(pdu, pdu.short_message if isinstance(pdu, SubmitSm) else b"")
        whole: bytes | Part
        if payload is not None:
            # A payload with a user data header is read like a short_message with one.
            whole = part_of(pdu.esm_class, payload) if pdu.esm_class & UDHI else payload
        elif isinstance(pdu, SubmitSm):
            whole = part_of_pdu(pdu)
        else:
            raise Refused(CommandStatus.ESME_RMISSINGOPTPARAM, "data_sm needs message_payload")
        message_id = None
        registered_delivery = pdu.registered_delivery
        if isinstance(whole, Part):
            joined = self._add_part(account, pdu, whole)
            if isinstance(joined, str):
                return joined
            message_id, whole, registered_delivery = joined
        validity = (
            validity_seconds(pdu.validity_period, self._clock.now())
            if isinstance(pdu, SubmitSm)
            else None
        )
        body, data = content(whole, pdu.data_coding)
        return Submission(
            to=pdu.destination_addr,
            body=body,
            data=data,
            sender=pdu.source_addr or None,
            validity_period=validity,
            door="smpp",
            registered_delivery=registered_delivery,
            system_id=bind.system_id,
            bind_id=bind.bind_id,
            message_id=message_id,
        )

    def _add_part(self, account: Account, pdu: _Submit, part: Part) -> str | tuple[str, bytes, int]:
        """Hold a part: the promised id while parts are missing, (id, body, registered_delivery)
        once complete."""
        numbers.parse_destination(pdu.destination_addr)  # a bad number fails on the first part
        self._expire()
        key = (account.id, pdu.source_addr, pdu.destination_addr)
        group_id = (key, part.reference, part.total)
        promised = self._promised.get(group_id)
        new_group = promised is None
        if promised is None:
            promised = self._promised[group_id] = self._submit.new_message_id()
        try:
            done = self._reassembler.add(
                key,
                part,
                data_coding=pdu.data_coding,
                now=_loop_time(),
                tag=pdu.registered_delivery,
            )
        except ConcatError:
            if new_group:  # a refused part leaves no group behind
                del self._promised[group_id]
            raise
        self._expire()  # re-arms the expiry timer for a new group
        if done is None:
            return promised
        self._promised.pop(group_id, None)
        return promised, done.body, strongest_receipt_request(done.tags)

    def _expire(self) -> None:
        """Drop long messages whose parts did not all come in time, and re-arm the timer."""
        for group in self._reassembler.expire(_loop_time()):
            self._promised.pop((group.key, group.reference, group.total), None)
            log.warning(
                "dropped a long message of account %s: only parts %s of %d came within %.0f s",
                group.key[0],
                ",".join(map(str, group.numbers)),
                group.total,
                self._reassembler.timeout_s,
            )
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        deadline = self._reassembler.next_deadline()
        if deadline is not None:
            self._expiry = asyncio.get_running_loop().call_at(deadline, self._expire)


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _resp(pdu: _Submit, message_id: str) -> Pdu:
    if isinstance(pdu, SubmitSm):
        return SubmitSmResp(sequence_number=pdu.sequence_number, message_id=message_id)
    return DataSmResp(sequence_number=pdu.sequence_number, message_id=message_id)
