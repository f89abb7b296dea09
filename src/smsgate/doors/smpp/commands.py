"""What the SMPP door does with each request of a bound client: a ``command_id -> handler`` table.

Each handler takes a :class:`Context` (the bind the request came from, and the core's services)
and the request's PDU; the session hands each command_id only its own PDU class. A handler
answers at once, hands the PDU to the submitter's batch, or runs a command to its response. The
action names are the ones barred-action settings and fault injection use:

- submit_sm and data_sm (``SubmitSm``): batched per account by
  :class:`~smsgate.doors.smpp.submitter.SmppSubmitter`, answered when admitted;
- submit_multi (``SubmitMulti``): one message per SME address; refused addresses come back in
  unsuccess_sme with their status, and message_id is the first accepted message's id;
- query_sm (``QuerySm``) and cancel_sm (``CancelSm``): the caller's own messages only; another
  account's id is answered as an unknown one (ESME_RINVMSGID);
- replace_sm: ESME_RREPLACEFAIL; an accepted message is not rewritten.

submit_sm, data_sm and submit_multi count against the bind's ``tps_per_bind``
(ESME_RTHROTTLED beyond it).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from smsgate.domain.models import Account, Message
from smsgate.service.access import AccessGuard
from smsgate.service.cancel import CancelService
from smsgate.service.keyring import KeyRing
from smsgate.service.records import MessageRecords
from smsgate.service.submit import SubmitService
from smsgate.smpp.constants import CommandId, CommandStatus
from smsgate.smpp.pdu import (
    CancelSm,
    CancelSmResp,
    DataSm,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    UnsuccessSme,
)

from .fields import Refused
from .receipts import final_date, report_for
from .statuses import StatusProfile, status_of
from .translate import Translator

__all__ = ["COMMANDS", "Command", "Context", "Services"]


@dataclass(frozen=True, slots=True)
class Services:
    """What the commands call, the same for every bind: the core's services and the door's
    translator of submit PDUs."""

    submit: SubmitService
    records: MessageRecords  # message reads; a store fault is the catalog's SYSTEM_ERROR
    keyring: KeyRing
    guard: AccessGuard
    cancels: CancelService
    translator: Translator


class Context(Protocol):
    """What a command may use: the bind its request came from and the core's services."""

    @property
    def services(self) -> Services: ...
    @property
    def account_id(self) -> str:
        """The bound account; "" once the bind was released (unbind, close)."""
        ...

    @property
    def system_id(self) -> str: ...
    @property
    def bind_id(self) -> int: ...
    @property
    def statuses(self) -> StatusProfile:
        """How refusals read to this bind (its credential's status profile)."""
        ...

    def throttled(self) -> bool:
        """True when one more submit would pass the bind's ``tps_per_bind``."""
        ...

    def answer(self, request: Pdu, status: int) -> None:
        """Answer ``request`` with its bare ``*_resp`` and ``status``, in this read's write."""
        ...

    def batch(self, pdu: SubmitSm | DataSm) -> None:
        """Hand ``pdu`` to the submitter with the others of this read."""
        ...

    def spawn(self, request: Pdu, command: Coroutine[Any, Any, Pdu]) -> None:
        """Run ``command`` and answer ``request`` with its response, or with the status of
        what it raised."""
        ...


#: A request's handler; each takes the PDU class of its command_id.
Command = Callable[[Context, Any], None]


# --- submit ---------------------------------------------------------------------------------------


def submit_sm(ctx: Context, pdu: SubmitSm | DataSm) -> None:
    """submit_sm and data_sm: admitted in batches per account by the submitter."""
    if ctx.throttled():
        ctx.answer(pdu, CommandStatus.ESME_RTHROTTLED)
    else:
        ctx.batch(pdu)


def submit_multi(ctx: Context, pdu: SubmitMulti) -> None:
    if ctx.throttled():
        ctx.answer(pdu, CommandStatus.ESME_RTHROTTLED)
    else:
        ctx.spawn(pdu, _submit_multi(ctx, pdu))


async def _submit_multi(ctx: Context, pdu: SubmitMulti) -> Pdu:
    account = await _account(ctx, "SubmitMulti")
    multi = ctx.services.translator.submissions_of(
        pdu, system_id=ctx.system_id, bind_id=ctx.bind_id
    )
    accepted, failed = await ctx.services.submit.send_batch(account, multi.submissions)
    unsuccess = multi.unsuccess
    for to, error in failed:
        entry = multi.addresses.get(to, UnsuccessSme(to))
        unsuccess.append(
            UnsuccessSme(entry.address, entry.ton, entry.npi, status_of(error, ctx.statuses))
        )
    return SubmitMultiResp(
        sequence_number=pdu.sequence_number,
        message_id=accepted[0].id if accepted else "",
        unsuccess_smes=tuple(unsuccess),
    )


# --- query, cancel, replace -----------------------------------------------------------------------


def query_sm(ctx: Context, pdu: QuerySm) -> None:
    ctx.spawn(pdu, _query_sm(ctx, pdu))


async def _query_sm(ctx: Context, pdu: QuerySm) -> Pdu:
    account = await _account(ctx, "QuerySm")
    message = await _own_message(ctx, account, pdu.message_id)
    report = report_for(message)
    return QuerySmResp(
        sequence_number=pdu.sequence_number,
        message_id=message.id,
        final_date=final_date(message.receive_date) if message.is_final else "",
        message_state=int(report.state),
        error_code=min(report.err, 255),
    )


def cancel_sm(ctx: Context, pdu: CancelSm) -> None:
    ctx.spawn(pdu, _cancel_sm(ctx, pdu))


async def _cancel_sm(ctx: Context, pdu: CancelSm) -> Pdu:
    account = await _account(ctx, "CancelSm")
    if not pdu.message_id:
        raise Refused(CommandStatus.ESME_RCANCELFAIL, "cancel by address is not offered")
    message = await _own_message(ctx, account, pdu.message_id)
    if message.is_final or not await ctx.services.cancels.cancel(account.id, message.id):
        raise Refused(CommandStatus.ESME_RCANCELFAIL, "the message is beyond recall")
    return CancelSmResp(sequence_number=pdu.sequence_number)


def replace_sm(ctx: Context, pdu: ReplaceSm) -> None:
    """An accepted message is not rewritten."""
    ctx.answer(pdu, CommandStatus.ESME_RREPLACEFAIL)


# --- helpers --------------------------------------------------------------------------------------


async def _account(ctx: Context, action: str) -> Account:
    """The bind's account (cached for ``refresh_s``), checked for ``action``."""
    account_id = ctx.account_id
    if not account_id:
        raise Refused(CommandStatus.ESME_RINVBNDSTS)
    account = await ctx.services.keyring.account(account_id)
    if account is None:
        raise Refused(CommandStatus.ESME_RSYSERR)
    await ctx.services.guard.check_account_action(account, action)
    return account


async def _own_message(ctx: Context, account: Account, message_id: str) -> Message:
    message = await ctx.services.records.message(account.id, message_id)
    if message is None:
        raise Refused(CommandStatus.ESME_RINVMSGID, f"no message {message_id!r}")
    return message


#: command_id -> its handler: every request an SMSC session hands over (smpp.states).
COMMANDS: Final[Mapping[int, Command]] = {
    CommandId.SUBMIT_SM: submit_sm,
    CommandId.DATA_SM: submit_sm,
    CommandId.SUBMIT_MULTI: submit_multi,
    CommandId.QUERY_SM: query_sm,
    CommandId.CANCEL_SM: cancel_sm,
    CommandId.REPLACE_SM: replace_sm,
}
