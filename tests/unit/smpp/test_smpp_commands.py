"""The SMPP door's command table: every request an SMSC session hands over has a handler, and the
handlers that answer at once do so through their context alone."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from smsgate.doors.smpp.commands import COMMANDS, Services
from smsgate.doors.smpp.statuses import SEED, StatusProfile
from smsgate.smpp.constants import CommandId, CommandStatus
from smsgate.smpp.pdu import DataSm, Pdu, QuerySm, ReplaceSm, SubmitMulti, SubmitSm
from smsgate.smpp.states import REQUEST_STATES, Role

#: What the session answers by itself (enquire_link, unbind) or asks the driver about (binds).
_NOT_COMMANDS = {
    CommandId.BIND_TRANSMITTER,
    CommandId.BIND_RECEIVER,
    CommandId.BIND_TRANSCEIVER,
    CommandId.ENQUIRE_LINK,
    CommandId.UNBIND,
}


class FakeContext:
    """Records what the handlers do with a request, with a throttle set by the test."""

    services: Services
    account_id = "1000000000000001"
    system_id = "acme"
    bind_id = 7
    statuses: StatusProfile = SEED

    def __init__(self, *, throttled: bool = False) -> None:
        self._throttled = throttled
        self.answers: list[tuple[int, int]] = []
        self.batched: list[SubmitSm | DataSm] = []
        self.spawned: list[Pdu] = []

    def throttled(self) -> bool:
        return self._throttled

    def answer(self, request: Pdu, status: int) -> None:
        self.answers.append((request.sequence_number, status))

    def batch(self, pdu: SubmitSm | DataSm) -> None:
        self.batched.append(pdu)

    def spawn(self, request: Pdu, command: Coroutine[Any, Any, Pdu]) -> None:
        command.close()  # not run here: the table's choice is what is tested
        self.spawned.append(request)


def _dispatch(ctx: FakeContext, pdu: Pdu) -> None:
    COMMANDS[pdu.command_id](ctx, pdu)


def test_every_request_an_smsc_session_hands_over_has_a_handler() -> None:
    assert set(COMMANDS) == set(REQUEST_STATES[Role.SMSC]) - _NOT_COMMANDS


def test_submit_sm_and_data_sm_go_to_the_batch() -> None:
    ctx = FakeContext()
    submit, data = SubmitSm(sequence_number=2), DataSm(sequence_number=3)
    _dispatch(ctx, submit)
    _dispatch(ctx, data)
    assert (ctx.batched, ctx.answers, ctx.spawned) == ([submit, data], [], [])


def test_submits_beyond_the_binds_tps_are_throttled() -> None:
    ctx = FakeContext(throttled=True)
    for pdu in (SubmitSm(sequence_number=2), DataSm(sequence_number=3)):
        _dispatch(ctx, pdu)
    _dispatch(ctx, SubmitMulti(sequence_number=4))
    throttled = CommandStatus.ESME_RTHROTTLED
    assert ctx.answers == [(2, throttled), (3, throttled), (4, throttled)]
    assert (ctx.batched, ctx.spawned) == ([], [])


def test_query_sm_is_not_throttled_and_runs_as_a_command() -> None:
    ctx = FakeContext(throttled=True)
    query = QuerySm(sequence_number=5, message_id="x")
    _dispatch(ctx, query)
    assert (ctx.spawned, ctx.answers) == ([query], [])


def test_replace_sm_is_refused_at_once() -> None:
    ctx = FakeContext()
    _dispatch(ctx, ReplaceSm(sequence_number=6, message_id="x"))
    assert ctx.answers == [(6, CommandStatus.ESME_RREPLACEFAIL)]
