"""Random legal operation sequences across a SessionPair (Hypothesis state machine).

Both "drivers" only do what their role may do in its state (send within the window, answer what
they were asked, unbind while bound); each turn they flush their bytes or not, and the shared
clock moves, so requests cross each other, unbinds, timeouts and enquire_links. Whatever the order:

- no session method raises;
- each side's ``outstanding`` is exactly what it sent minus what was answered or timed out, never
  more than ``window``, and each request is answered or timed out at most once;
- on the wire, every response answers a request the peer sent, once; neither side ever sends a
  command the other role cannot receive (no ESME_RINVCMDID), ESME_RINVBNDSTS only answers a
  request that crossed the refusing side's own unbind, and no generic_nack is sent unasked;
- at the end, once everything is answered and delivered, a link still up has nothing outstanding
  and every request on the wire got exactly one response.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from smsgate.smpp.constants import CommandId, CommandStatus
from smsgate.smpp.errors import response_command_id
from smsgate.smpp.events import (
    AlertReceived,
    BindAccepted,
    ConnectionShouldClose,
    Event,
    Request,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from smsgate.smpp.pdu import (
    PDU_CLASSES,
    AlertNotification,
    CancelSm,
    DataSm,
    DeliverSm,
    GenericNack,
    Pdu,
    QuerySm,
    SubmitSm,
)
from smsgate.smpp.session import BindKind, Role, SessionState
from tests.unit.smpp.session_pair import SessionPair

ESME, SMSC = Role.ESME, Role.SMSC
WINDOW = 3
_BOUND = {SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX}
_NO_RESPONSE = {CommandId.ALERT_NOTIFICATION, CommandId.OUTBIND}

ESME_MESSAGES = [
    SubmitSm(sequence_number=0, destination_addr="8613800000000", short_message=b"hi"),
    DataSm(sequence_number=0, destination_addr="8613800000000"),
    QuerySm(sequence_number=0, message_id="m1"),
    CancelSm(sequence_number=0, message_id="m1"),
]
SMSC_MESSAGES = [
    DeliverSm(sequence_number=0, source_addr="8613800000000", esm_class=0x04),
    DataSm(sequence_number=0, source_addr="8613800000000"),
    AlertNotification(sequence_number=0, source_addr="8613800000000"),
]
MESSAGES = {ESME: ESME_MESSAGES, SMSC: SMSC_MESSAGES}


class PairMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pair = SessionPair()
        self.sent: dict[Role, dict[int, Pdu]] = {ESME: {}, SMSC: {}}
        self.settled: dict[Role, set[int]] = {ESME: set(), SMSC: set()}  # answered or timed out
        self.pending: dict[Role, list[Pdu]] = {ESME: [], SMSC: []}  # Requests to answer
        self.nacked: set[tuple[Role, int]] = set()  # generic_nacks the drivers chose to send

    @initialize(
        kind=st.sampled_from(BindKind),
        chunk=st.sampled_from([None, 1, 7]),
        refused_first=st.booleans(),
    )
    def bind(self, kind: BindKind, chunk: int | None, refused_first: bool) -> None:
        self.pair = SessionPair(
            chunk=chunk,
            window=WINDOW,
            response_timeout=10,
            inactivity_timeout=200,
            esme={"enquire_link_interval": 15},
            smsc={"enquire_link_interval": 25},
        )
        if refused_first:
            self.pair.bind(kind, accept=False)
        (accepted,) = self.pair.bind(kind)
        assert isinstance(accepted, BindAccepted)

    # --- the two drivers, the network and the clock -------------------------------------

    @rule(data=st.data())
    def tick(self, data: st.DataObject) -> None:
        """One turn of both drivers' loops, in random order: each may send what it has while
        its window has room, answers some requests, and may flush its bytes; then the clock
        moves a little. Bytes left unflushed cross later, so requests cross each other."""
        for role in data.draw(st.permutations(list(Role))):
            if self.pair.session(role).can_send():
                for pdu in data.draw(st.lists(st.sampled_from(MESSAGES[role]), max_size=WINDOW)):
                    if self.pair.session(role).can_send():
                        self._send(role, pdu)
            self._answer_some(role, data)
            if data.draw(st.booleans()):
                self._handle(role.peer, self.pair.send(role).events)
        self._advance(data.draw(st.integers(0, 2)))

    @precondition(lambda self: any(s.state in _BOUND for s in (self.pair.esme, self.pair.smsc)))
    @rule(role=st.sampled_from(Role), roll=st.integers(0, 7))
    def unbind(self, role: Role, roll: int) -> None:
        """Rarely (two rolls in 8, not the ones Hypothesis favours), so that most runs get far
        before the link ends."""
        session = self.pair.session(role)
        if roll in (2, 5) and session.state in _BOUND:
            session.unbind(now=self.pair.now)

    @rule(roll=st.integers(0, 7))
    def stall(self, roll: int) -> None:
        """Now and then the clock jumps past ``response_timeout``: requests time out, answers
        arrive late."""
        if roll == 5:
            self._advance(11)

    def _advance(self, seconds: int) -> None:
        for role, events in self.pair.advance(seconds).items():
            self._handle(role, events)

    def _send(self, role: Role, pdu: Pdu) -> None:
        seq = self.pair.session(role).send_request(pdu, now=self.pair.now)
        if pdu.command_id not in _NO_RESPONSE:
            self.sent[role][seq] = dataclasses.replace(pdu, sequence_number=seq)

    def _answer_some(self, role: Role, data: st.DataObject) -> None:
        """Answer each pending request now or later, with success, an error or a nack."""
        later = []
        for request in data.draw(st.permutations(self.pending[role])):
            how = data.draw(st.sampled_from(["ok", "later", "throttled", "nack"]))
            if how == "later":
                later.append(request)
                continue
            status = CommandStatus.ESME_RTHROTTLED if how == "throttled" else 0
            cls = PDU_CLASSES[response_command_id(request.command_id)]
            if how == "nack":
                cls = GenericNack
                self.nacked.add((role, request.sequence_number))
            self.pair.session(role).respond(
                cls(sequence_number=request.sequence_number, command_status=status)
            )
        self.pending[role] = later

    def _handle(self, role: Role, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Request):
                assert event.pdu.command_id in PDU_CLASSES
                self.pending[role].append(event.pdu)
            elif isinstance(event, ResponseReceived | RequestTimedOut):
                request = event.request if isinstance(event, ResponseReceived) else event.pdu
                seq = request.sequence_number
                assert self.sent[role][seq] == request
                assert seq not in self.settled[role], "answered or timed out twice"
                self.settled[role].add(seq)
                if isinstance(event, ResponseReceived):
                    assert event.pdu.command_id in (
                        request.command_id | 0x80000000,
                        CommandId.GENERIC_NACK,
                    )
            else:
                assert isinstance(event, Unbound | ConnectionShouldClose | AlertReceived), event

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def outstanding_is_sent_minus_settled(self) -> None:
        for role in Role:
            session = self.pair.session(role)
            outstanding = {p.sequence_number: p for p in session.outstanding}
            expected = {s: p for s, p in self.sent[role].items() if s not in self.settled[role]}
            assert outstanding == expected
            assert len(outstanding) <= WINDOW
            if session.state is not SessionState.CLOSED:
                assert session.unanswered == len(self.pending[role])

    @invariant()
    def both_bound_alike(self) -> None:
        esme, smsc = self.pair.esme.state, self.pair.smsc.state
        if esme in _BOUND and smsc in _BOUND:
            assert esme is smsc

    @invariant()
    def wire_answers_each_request_at_most_once(self) -> None:
        for role in Role:
            requests = {
                p.sequence_number
                for sender, p in self.pair.wire
                if sender is role.peer and not p.is_response
            }
            responses = Counter(
                p.sequence_number
                for sender, p in self.pair.wire
                if sender is role and p.is_response
            )
            assert set(responses) <= requests
            assert all(n == 1 for n in responses.values())
        assert all(p.command_status != CommandStatus.ESME_RINVCMDID for _, p in self.pair.wire)

    @invariant()
    def generic_nack_only_by_choice_or_for_an_alert(self) -> None:
        """The sessions never nack each other's PDUs by themselves, except an
        alert_notification (which has no response of its own) that crossed an unbind."""
        alerts = {
            (sender.peer, p.sequence_number)
            for sender, p in self.pair.wire
            if p.command_id == CommandId.ALERT_NOTIFICATION
        }
        for sender, pdu in self.pair.wire:
            if pdu.command_id == CommandId.GENERIC_NACK:
                assert (sender, pdu.sequence_number) in self.nacked | alerts, pdu

    @invariant()
    def refusals_for_state_only_after_an_unbind(self) -> None:
        """ESME_RINVBNDSTS between two well-behaved sides means a request crossed the refusing
        side's own unbind, never anything else."""
        unbound: set[Role] = set()
        for sender, pdu in self.pair.wire:
            if pdu.command_id == CommandId.UNBIND:
                unbound.add(sender)
            elif pdu.command_status == CommandStatus.ESME_RINVBNDSTS:
                assert sender in unbound, pdu

    def teardown(self) -> None:
        """Answer everything, deliver everything; a link still up then owes nothing."""
        while True:
            for role in Role:
                while self.pending[role]:
                    request = self.pending[role].pop()
                    cls = PDU_CLASSES[response_command_id(request.command_id)]
                    self.pair.session(role).respond(cls(sequence_number=request.sequence_number))
            got = self.pair.settle()
            for role, events in got.items():
                self._handle(role, events)
            if not any(self.pending.values()):
                break
        self.outstanding_is_sent_minus_settled()
        self.wire_answers_each_request_at_most_once()
        if self.pair.connected:
            assert self.pair.esme.outstanding == self.pair.smsc.outstanding == ()
            for role in Role:
                requests = {
                    p.sequence_number
                    for sender, p in self.pair.wire
                    if sender is role and not p.is_response and p.command_id not in _NO_RESPONSE
                }
                answers = {
                    p.sequence_number
                    for sender, p in self.pair.wire
                    if sender is role.peer and p.is_response
                }
                assert requests == answers


PairMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_random_operations_across_the_pair = PairMachine.TestCase
