"""submit_sm and data_sm on their way into the core, in batches per account.

Per account, at most :data:`BATCHES_IN_FLIGHT` batches are admitted at a time (some being
checked while others' store commits run); what arrives meanwhile, from any bind of the account,
waits and goes as the next batch. At full speed a batch is whatever one read brought;
at lower rates, when PDUs trickle in one per read, it is whatever came during the previous
batch's store commit. Either way the fixed costs of an admission (policy and limit look-ups, a
store write, a wake-up of the writer thread) are paid per batch, not per message, while a lone
PDU still goes at once.

Each PDU is still judged alone (:meth:`SubmitService.send_each`) and answered on its own bind.
Each becomes a submission through the door's :class:`~.translate.Translator`, which also puts
long messages together: every part is answered when it arrives, the earlier ones with ESME_ROK
and the id the whole message will have, the last one with the outcome of the whole message. A
timer here drops the long messages whose parts are late.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from smsgate.domain.models import Message
from smsgate.service.access import AccessGuard
from smsgate.service.keyring import KeyRing
from smsgate.service.submit import Submission, SubmitService
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.pdu import DataSm, DataSmResp, Pdu, SubmitSm, SubmitSmResp
from smsgate.tasks import BackgroundTasks

from .fields import Refused
from .statuses import log_unexpected
from .translate import Held, Translator

__all__ = ["BATCHES_IN_FLIGHT", "Responder", "SmppSubmitter"]

#: Batches of one account admitted at once: several keep the store busy while the next forms.
BATCHES_IN_FLIGHT = 8

_Submit = SubmitSm | DataSm


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
        translator: Translator,
    ) -> None:
        self._submit = submit
        self._guard = guard
        self._keyring = keyring
        self._translator = translator
        self._waiting: dict[str, list[tuple[Responder, _Submit]]] = {}
        self._running: dict[str, int] = {}  # account -> batches in flight
        self._tasks = BackgroundTasks()
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
        parts = False  # a long message's part came: its group's deadline needs the timer
        translate = self._translator.submission_of
        for bind, pdu in batch:
            try:
                await self._guard.check_account_action(account, "SubmitSm")
                sub = translate(
                    pdu, account_id=account.id, system_id=bind.system_id, bind_id=bind.bind_id
                )
            except Exception as exc:
                log_unexpected(exc)
                bind.refuse(pdu, exc)
                continue
            if isinstance(sub, Held):  # an earlier part: acknowledged with the promised id
                parts = True
                bind.respond(_resp(pdu, sub.message_id))
            else:
                parts = parts or sub.message_id is not None
                subs.append(sub)
                sent.append((bind, pdu))
        if parts:
            self._arm_expiry()
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

    def _arm_expiry(self) -> None:
        """Wake up when the oldest long message being put together is due to be dropped."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        delay = self._translator.next_expiry_in()
        if delay is not None:
            self._expiry = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        self._translator.expire()
        self._arm_expiry()


def _resp(pdu: _Submit, message_id: str) -> Pdu:
    if isinstance(pdu, SubmitSm):
        return SubmitSmResp(sequence_number=pdu.sequence_number, message_id=message_id)
    return DataSmResp(sequence_number=pdu.sequence_number, message_id=message_id)
