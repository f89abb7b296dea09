"""Both roles of SmppSession against each other through a SessionPair, byte for byte.

The ESME side (binds sent, submits within the window, deliver_sm answered, outbind) is what a
carrier connector drives; the SMSC side is the door's. Every flow runs with the bytes fed whole
and one byte at a time (the ``chunk`` fixture); PDUs a well-behaved peer never sends are fed to
one session directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from smsgate.smpp.codec import encode
from smsgate.smpp.constants import CommandId, CommandStatus, TlvTag
from smsgate.smpp.errors import SmppEncodeError
from smsgate.smpp.events import (
    AlertReceived,
    BindAccepted,
    BindPdu,
    BindRejected,
    BindRequested,
    BindRespPdu,
    ConnectionShouldClose,
    OutbindReceived,
    Request,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from smsgate.smpp.pdu import (
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SmeAddress,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    make_tlv,
)
from smsgate.smpp.session import (
    BindKind,
    InvalidStateError,
    Role,
    SessionState,
    SmppSession,
    WindowFullError,
)
from tests.unit.smpp.session_pair import SessionPair, decode_all

ESME, SMSC = Role.ESME, Role.SMSC
SC_VERSION = (make_tlv(TlvTag.SC_INTERFACE_VERSION, 0x34),)

MakePair = Callable[..., SessionPair]


@pytest.fixture(params=[None, 1], ids=["whole", "byte-by-byte"])
def make(request: pytest.FixtureRequest) -> MakePair:
    def make_pair(**kwargs: Any) -> SessionPair:
        return SessionPair(chunk=request.param, **kwargs)

    return make_pair


def bound_pair(make: MakePair, kind: BindKind = BindKind.TRANSCEIVER, **kwargs: Any) -> SessionPair:
    pair = make(**kwargs)
    (accepted,) = pair.bind(kind)
    assert isinstance(accepted, BindAccepted)
    return pair


def submit(text: bytes = b"hi") -> SubmitSm:
    return SubmitSm(sequence_number=0, destination_addr="8613800000000", short_message=text)


def receipt() -> DeliverSm:
    return DeliverSm(
        sequence_number=0,
        source_addr="8613800000000",
        esm_class=0x04,
        short_message=b"id:1 sub:001 dlvr:001 submit date:2612030000 done date:2612030001 "
        b"stat:DELIVRD err:000 text:",
    )


def esme_alone(**kwargs: Any) -> SmppSession:
    """An ESME session bound as ``kind`` without a peer, to feed it what no SMSC should send."""
    kind = kwargs.pop("kind", BindKind.TRANSCEIVER)
    session = SmppSession(Role.ESME, now=0, **kwargs)
    bind = session.send_bind(kind, "acme", "secret", now=0)
    resp_cls = {
        BindKind.TRANSMITTER: BindTransmitterResp,
        BindKind.RECEIVER: BindReceiverResp,
        BindKind.TRANSCEIVER: BindTransceiverResp,
    }[kind]
    session.receive_data(encode(resp_cls(sequence_number=bind.sequence_number)), now=0)
    assert isinstance(session.next_event(), BindAccepted)
    session.data_to_send()
    return session


def answers(session: SmppSession, *pdus: Pdu) -> list[Pdu]:
    session.receive_data(b"".join(encode(p) for p in pdus), now=1)
    assert session.next_event() is None
    return decode_all(session.data_to_send())


# --- Binding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "bind_cls", "resp_cls", "state"),
    [
        (BindKind.TRANSMITTER, BindTransmitter, BindTransmitterResp, SessionState.BOUND_TX),
        (BindKind.RECEIVER, BindReceiver, BindReceiverResp, SessionState.BOUND_RX),
        (BindKind.TRANSCEIVER, BindTransceiver, BindTransceiverResp, SessionState.BOUND_TRX),
    ],
)
def test_bind_each_kind(
    make: MakePair,
    kind: BindKind,
    bind_cls: type[BindPdu],
    resp_cls: type[BindRespPdu],
    state: SessionState,
) -> None:
    pair = make()
    sent = pair.esme.send_bind(kind, "acme", "secret", "VMA", now=0, addr_ton=1, addr_npi=1)
    assert pair.esme.state is SessionState.BINDING
    request = bind_cls(
        sequence_number=1,
        system_id="acme",
        password="secret",
        system_type="VMA",
        addr_ton=1,
        addr_npi=1,
    )
    assert sent == request
    delivery = pair.esme_sends()
    assert delivery.pdus == [request]
    assert delivery.events == [BindRequested(sent)]
    pair.smsc.accept_bind(sent, "smsgate")
    delivery = pair.smsc_sends()
    resp = resp_cls(sequence_number=1, system_id="smsgate", tlvs=SC_VERSION)
    assert delivery.pdus == [resp]
    assert delivery.events == [BindAccepted(resp, sent)]
    assert pair.esme.state is pair.smsc.state is state
    assert pair.esme.bind == pair.smsc.bind == sent


def test_bind_refused_then_accepted(make: MakePair) -> None:
    pair = make()
    (rejected,) = pair.bind(BindKind.TRANSMITTER, accept=False, status=CommandStatus.ESME_RINVPASWD)
    assert isinstance(rejected, BindRejected)
    assert rejected.status == CommandStatus.ESME_RINVPASWD
    assert rejected.pdu == BindTransmitterResp(
        sequence_number=1, command_status=CommandStatus.ESME_RINVPASWD
    )
    assert pair.esme.state is pair.smsc.state is SessionState.OPEN
    assert pair.esme.bind is None
    assert not pair.esme.can_send()
    (accepted,) = pair.bind(BindKind.TRANSMITTER)
    assert isinstance(accepted, BindAccepted)
    assert accepted.request.sequence_number == 2
    assert pair.esme.state is SessionState.BOUND_TX


@pytest.mark.parametrize(
    ("status", "reported"),
    [
        (CommandStatus.ESME_RSYSERR, CommandStatus.ESME_RSYSERR),
        (CommandStatus.ESME_ROK, CommandStatus.ESME_RBINDFAIL),  # a nack never reads as success
    ],
)
def test_bind_answered_with_generic_nack_is_rejected(status: int, reported: int) -> None:
    esme = SmppSession(Role.ESME, now=0)
    bind = esme.send_bind(BindKind.RECEIVER, "acme", "secret", now=0)
    nack = GenericNack(sequence_number=bind.sequence_number, command_status=status)
    esme.receive_data(encode(nack), now=1)
    rejected = esme.next_event()
    assert rejected == BindRejected(nack, bind)
    assert rejected.status == reported
    assert esme.state is SessionState.OPEN


def test_bind_resp_of_another_bind_or_number_is_ignored() -> None:
    esme = SmppSession(Role.ESME, now=0)
    bind = esme.send_bind(BindKind.TRANSMITTER, "acme", "secret", now=0)
    esme.data_to_send()
    assert (
        answers(
            esme,
            BindReceiverResp(sequence_number=bind.sequence_number),  # not the bind we sent
            BindTransmitterResp(sequence_number=bind.sequence_number + 5),  # not its number
        )
        == []
    )
    assert esme.state is SessionState.BINDING


def test_no_bind_resp_within_response_timeout_closes(make: MakePair) -> None:
    pair = make(response_timeout=5, session_init_timeout=60)
    pair.esme.send_bind(BindKind.TRANSCEIVER, "acme", "secret", now=0)
    assert pair.esme.get_timer() == 5
    assert pair.advance(5)[ESME] == [ConnectionShouldClose("no bind_resp within response_timeout")]
    assert pair.esme.state is SessionState.CLOSED


def test_an_esme_that_never_binds_closes_after_session_init_timeout(make: MakePair) -> None:
    pair = make(session_init_timeout=10)
    got = pair.advance(10)
    assert got[ESME] == got[SMSC] == [ConnectionShouldClose("no bind within session_init_timeout")]


def test_send_bind_checks_role_state_and_fields() -> None:
    smsc = SmppSession(Role.SMSC, now=0)
    with pytest.raises(ValueError, match="does not send binds"):
        smsc.send_bind(BindKind.TRANSMITTER, "acme", "secret", now=0)
    esme = SmppSession(Role.ESME, now=0)
    with pytest.raises(SmppEncodeError):
        esme.send_bind(BindKind.TRANSMITTER, "x" * 16, "secret", now=0)  # system_id max 15
    assert (esme.state, esme.data_to_send(), esme.next_sequence_number) == (
        SessionState.OPEN,
        b"",
        1,
    )
    esme.send_bind(BindKind.TRANSMITTER, "acme", "secret", now=0)
    with pytest.raises(InvalidStateError):
        esme.send_bind(BindKind.TRANSMITTER, "acme", "secret", now=0)
    with pytest.raises(InvalidStateError):
        esme.accept_bind(BindTransmitter(sequence_number=1), "x")  # an ESME answers no bind


def test_an_esme_is_never_sent_binds_submits_or_their_answers() -> None:
    esme = esme_alone()
    assert answers(
        esme,
        BindTransmitter(sequence_number=2),
        SubmitSm(sequence_number=3),
        QuerySm(sequence_number=4),
        DeliverSmResp(sequence_number=5),
        BindTransmitterResp(sequence_number=6),  # only while binding
    ) == [
        BindTransmitterResp(sequence_number=2, command_status=CommandStatus.ESME_RINVCMDID),
        SubmitSmResp(sequence_number=3, command_status=CommandStatus.ESME_RINVCMDID),
        QuerySmResp(sequence_number=4, command_status=CommandStatus.ESME_RINVCMDID),
        GenericNack(sequence_number=5, command_status=CommandStatus.ESME_RINVCMDID),
        GenericNack(sequence_number=6, command_status=CommandStatus.ESME_RINVBNDSTS),
    ]


def test_nothing_but_the_bind_resp_and_enquire_link_before_binding() -> None:
    esme = SmppSession(Role.ESME, now=0)
    esme.send_bind(BindKind.TRANSCEIVER, "acme", "secret", now=0)
    esme.data_to_send()
    assert answers(
        esme,
        EnquireLink(sequence_number=7),
        DeliverSm(sequence_number=8),
        Unbind(sequence_number=9),
    ) == [
        EnquireLinkResp(sequence_number=7),
        DeliverSmResp(sequence_number=8, command_status=CommandStatus.ESME_RINVBNDSTS),
        UnbindResp(sequence_number=9, command_status=CommandStatus.ESME_RINVBNDSTS),
    ]


# --- Outbind ---------------------------------------------------------------------------------


def test_outbind_then_bind_receiver(make: MakePair) -> None:
    pair = make()
    assert pair.smsc.send_outbind("smsgate", "pw") == 1
    delivery = pair.smsc_sends()
    outbind = Outbind(sequence_number=1, system_id="smsgate", password="pw")
    assert delivery.pdus == [outbind]
    assert delivery.events == [OutbindReceived(outbind)]
    assert pair.esme.data_to_send() == b""  # outbind takes no response
    bind = pair.esme.send_bind(BindKind.RECEIVER, "acme", "secret", now=0)
    assert pair.esme_sends().events == [BindRequested(bind)]
    pair.smsc.accept_bind(bind, "smsgate")
    (accepted,) = pair.smsc_sends().events
    assert isinstance(accepted, BindAccepted)
    assert pair.esme.state is SessionState.BOUND_RX
    with pytest.raises(InvalidStateError):
        pair.smsc.send_outbind("smsgate")


def test_outbind_checks_role_and_bound_esme_refuses_it() -> None:
    with pytest.raises(ValueError, match="does not send outbind"):
        SmppSession(Role.ESME, now=0).send_outbind("x")
    assert answers(esme_alone(), Outbind(sequence_number=3)) == [
        GenericNack(sequence_number=3, command_status=CommandStatus.ESME_RINVBNDSTS)
    ]


# --- Requests from the ESME ------------------------------------------------------------------


def test_submits_within_the_window(make: MakePair) -> None:
    pair = bound_pair(make, BindKind.TRANSMITTER, esme={"window": 2})
    assert pair.esme.can_send()
    seqs = [pair.esme.send_request(submit(t), now=0) for t in (b"a", b"b")]
    assert seqs == [2, 3]  # 1 was the bind
    assert not pair.esme.can_send()
    with pytest.raises(WindowFullError):
        pair.esme.send_request(submit(b"c"), now=0)
    delivery = pair.esme_sends()
    sent = [
        SubmitSm(sequence_number=seq, destination_addr="8613800000000", short_message=text)
        for seq, text in zip(seqs, (b"a", b"b"), strict=True)
    ]
    assert delivery.pdus == sent
    assert delivery.events == [Request(p) for p in sent]
    assert pair.smsc.unanswered == 2
    pair.smsc.respond(SubmitSmResp(sequence_number=3, message_id="m3"))
    pair.smsc.respond(SubmitSmResp(sequence_number=2, command_status=CommandStatus.ESME_RTHROTTLED))
    delivery = pair.smsc_sends()
    assert delivery.events == [
        ResponseReceived(SubmitSmResp(sequence_number=3, message_id="m3"), sent[1]),
        ResponseReceived(
            SubmitSmResp(sequence_number=2, command_status=CommandStatus.ESME_RTHROTTLED), sent[0]
        ),
    ]
    assert pair.esme.outstanding == ()
    assert pair.esme.can_send()
    assert pair.esme.send_request(submit(b"c"), now=0) == 4


QUERY = QuerySm(sequence_number=0, message_id="m1")
ESME_REQUESTS = [
    (submit(), SubmitSmResp(sequence_number=0, message_id="m1")),
    (
        SubmitMulti(sequence_number=0, dest_addresses=(SmeAddress("86138"),), short_message=b"x"),
        SubmitMultiResp(sequence_number=0, message_id="m1"),
    ),
    (DataSm(sequence_number=0, destination_addr="86138"), DataSmResp(sequence_number=0)),
    (QUERY, QuerySmResp(sequence_number=0, message_id="m1", message_state=2)),
    (CancelSm(sequence_number=0, message_id="m1"), CancelSmResp(sequence_number=0)),
    (ReplaceSm(sequence_number=0, message_id="m1"), ReplaceSmResp(sequence_number=0)),
]


@pytest.mark.parametrize(("request_pdu", "response"), ESME_REQUESTS)
def test_every_esme_request_round_trips(make: MakePair, request_pdu: Pdu, response: Pdu) -> None:
    pair = bound_pair(make, BindKind.TRANSMITTER)
    seq = pair.esme.send_request(request_pdu, now=0)
    sent = dataclasses.replace(request_pdu, sequence_number=seq)
    delivery = pair.esme_sends()
    assert delivery.pdus == [sent]
    assert delivery.events == [Request(sent)]
    answer = dataclasses.replace(response, sequence_number=seq)
    pair.smsc.respond(answer)
    assert pair.smsc_sends().events == [ResponseReceived(answer, sent)]


def test_an_esme_sends_no_deliver_sm_and_nothing_unbound() -> None:
    esme = SmppSession(Role.ESME, now=0)
    with pytest.raises(InvalidStateError):
        esme.send_request(submit(), now=0)  # not bound
    with pytest.raises(ValueError, match="an ESME does not send DeliverSm"):
        esme.send_request(receipt(), now=0)
    receiver = esme_alone(kind=BindKind.RECEIVER)
    assert not receiver.can_send()
    with pytest.raises(InvalidStateError):
        receiver.send_request(submit(), now=0)


def test_submit_response_timeout_and_late_answer(make: MakePair) -> None:
    pair = bound_pair(make, BindKind.TRANSMITTER, response_timeout=10, enquire_link_interval=100)
    first = pair.esme.send_request(submit(b"a"), now=0)
    pair.advance(1)
    pair.esme.send_request(submit(b"b"), now=pair.now)
    (req_a, req_b) = [e.pdu for e in pair.esme_sends().events if isinstance(e, Request)]
    assert pair.esme.get_timer() == 10
    got = pair.advance(9)
    assert got[ESME] == [RequestTimedOut(req_a)]
    assert pair.esme.outstanding == (req_b,)
    pair.smsc.respond(SubmitSmResp(sequence_number=first, message_id="late"))
    assert pair.smsc_sends().events == []  # nothing waits for it any more
    assert pair.esme.state is SessionState.BOUND_TX


def test_submit_answered_with_generic_nack(make: MakePair) -> None:
    pair = bound_pair(make, BindKind.TRANSMITTER)
    seq = pair.esme.send_request(submit(), now=0)
    (received,) = pair.esme_sends().events
    assert isinstance(received, Request)
    nack = GenericNack(sequence_number=seq, command_status=CommandStatus.ESME_RTHROTTLED)
    pair.smsc.respond(nack)
    assert pair.smsc_sends().events == [ResponseReceived(nack, received.pdu)]


# --- Requests to the ESME --------------------------------------------------------------------


@pytest.mark.parametrize("kind", [BindKind.RECEIVER, BindKind.TRANSCEIVER])
def test_receipt_flow_on_the_esme_side(make: MakePair, kind: BindKind) -> None:
    pair = bound_pair(make, kind)
    seq = pair.smsc.send_request(receipt(), now=0)
    delivery = pair.smsc_sends()
    (deliver,) = delivery.pdus
    assert delivery.events == [Request(deliver)]
    assert isinstance(deliver, DeliverSm)
    assert deliver.esm_class == 0x04
    assert pair.esme.unanswered == 1
    with pytest.raises(InvalidStateError, match="from the SMSC"):
        pair.esme.respond(SubmitSmResp(sequence_number=seq))  # not deliver_sm's answer
    pair.esme.respond(DeliverSmResp(sequence_number=seq))
    assert pair.esme.unanswered == 0
    delivery = pair.esme_sends()
    assert delivery.pdus == [DeliverSmResp(sequence_number=seq)]
    assert delivery.events == [ResponseReceived(DeliverSmResp(sequence_number=seq), deliver)]


def test_data_sm_and_alert_notification_to_a_receiver(make: MakePair) -> None:
    pair = bound_pair(make, BindKind.RECEIVER)
    seq = pair.smsc.send_request(DataSm(sequence_number=0, source_addr="86138"), now=0)
    pair.smsc.send_request(AlertNotification(sequence_number=0, source_addr="86138"), now=0)
    data_sm, alert = pair.smsc_sends().pdus
    assert isinstance(alert, AlertNotification)
    assert pair.events(ESME) == []
    pair.esme.respond(DataSmResp(sequence_number=seq))
    pair.smsc_sends()  # nothing
    assert pair.esme_sends().pdus == [DataSmResp(sequence_number=seq)]  # none for the alert
    assert pair.wire[-3:] == [
        (SMSC, data_sm),
        (SMSC, alert),
        (ESME, DataSmResp(sequence_number=seq)),
    ]


def test_alert_notification_event() -> None:
    esme = esme_alone(kind=BindKind.RECEIVER)
    alert = AlertNotification(sequence_number=9, source_addr="86138")
    esme.receive_data(encode(alert), now=1)
    assert esme.next_event() == AlertReceived(alert)
    assert (esme.unanswered, esme.data_to_send()) == (0, b"")


def test_a_transmitter_esme_gets_no_deliver_sm() -> None:
    pair = SessionPair()
    pair.bind(BindKind.TRANSMITTER)
    assert not pair.smsc.can_send()
    with pytest.raises(InvalidStateError):
        pair.smsc.send_request(receipt(), now=0)
    assert answers(
        pair.esme,
        DeliverSm(sequence_number=5),
        DataSm(sequence_number=6),
        AlertNotification(sequence_number=7),
    ) == [
        DeliverSmResp(sequence_number=5, command_status=CommandStatus.ESME_RINVBNDSTS),
        DataSmResp(sequence_number=6, command_status=CommandStatus.ESME_RINVBNDSTS),
        GenericNack(sequence_number=7, command_status=CommandStatus.ESME_RINVBNDSTS),
    ]


# --- enquire_link ----------------------------------------------------------------------------


def test_enquire_link_from_the_esme(make: MakePair) -> None:
    pair = bound_pair(make, esme={"enquire_link_interval": 10}, smsc={"enquire_link_interval": 60})
    assert pair.advance(10) == {ESME: [], SMSC: []}
    delivery = pair.esme_sends()
    assert delivery.pdus == [EnquireLink(sequence_number=2)]
    assert pair.smsc_sends().pdus == [EnquireLinkResp(sequence_number=2)]
    assert pair.smsc.get_timer() == 70  # the SMSC heard from the ESME at 10
    pair.advance(10)
    assert pair.esme_sends().pdus == [EnquireLink(sequence_number=3)]


def test_enquire_link_from_the_smsc(make: MakePair) -> None:
    pair = bound_pair(make, esme={"enquire_link_interval": 60}, smsc={"enquire_link_interval": 10})
    pair.advance(10)
    assert pair.smsc_sends().pdus == [EnquireLink(sequence_number=1)]
    assert pair.esme_sends().pdus == [EnquireLinkResp(sequence_number=1)]
    assert pair.esme.get_timer() == 70


def test_esme_closes_without_enquire_link_resp(make: MakePair) -> None:
    pair = bound_pair(make, enquire_link_interval=10, response_timeout=5)
    pair.advance(10)
    pair.smsc.data_to_send()  # the SMSC's own enquire_link is lost too
    pair.esme.data_to_send()
    got = pair.advance(5)
    assert got[ESME] == [ConnectionShouldClose("no enquire_link_resp within response_timeout")]


def test_generic_nack_to_enquire_link_shows_the_link_alive() -> None:
    esme = esme_alone(enquire_link_interval=10, response_timeout=5)
    esme.handle_timer(10)
    (enquire,) = decode_all(esme.data_to_send())
    assert answers(esme, GenericNack(sequence_number=enquire.sequence_number)) == []
    esme.handle_timer(15)
    assert esme.state is SessionState.BOUND_TRX


# --- unbind ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [ESME, SMSC])
def test_unbind_from_either_side(make: MakePair, who: Role) -> None:
    pair = bound_pair(make)
    pair.session(who).unbind(now=0)
    assert pair.session(who).state is SessionState.UNBOUND
    delivery = pair.send(who)
    assert delivery.pdus == [Unbind(sequence_number=pair.wire[-1][1].sequence_number)]
    closed = ConnectionShouldClose(f"unbound by the {who.value}")
    assert delivery.events == [Unbound(), closed]
    answer = pair.send(who.peer)
    assert answer.pdus == [UnbindResp(sequence_number=delivery.pdus[0].sequence_number)]
    assert answer.events == [Unbound(), closed]
    assert pair.esme.state is pair.smsc.state is SessionState.CLOSED
    assert not pair.connected


def test_both_sides_unbind_at_once(make: MakePair) -> None:
    pair = bound_pair(make)
    pair.esme.unbind(now=0)
    pair.smsc.unbind(now=0)
    got = pair.settle()
    assert got[ESME] == [Unbound(), ConnectionShouldClose("unbound by the SMSC")]
    assert got[SMSC] == [Unbound(), ConnectionShouldClose("unbound by the ESME")]
    assert [type(p) for _, p in pair.wire[-3:]] == [Unbind, Unbind, UnbindResp]


def test_esme_unbind_leaves_unanswered_submits_outstanding_to_requeue(make: MakePair) -> None:
    pair = bound_pair(make, BindKind.TRANSMITTER)
    pair.esme.send_request(submit(b"a"), now=0)
    pair.esme.send_request(submit(b"b"), now=0)
    pair.esme.unbind(now=0)
    with pytest.raises(InvalidStateError):
        pair.esme.send_request(submit(b"c"), now=0)
    got = pair.esme_sends().events
    assert [type(e) for e in got] == [Request, Request, Unbound, ConnectionShouldClose]
    pair.smsc.respond(SubmitSmResp(sequence_number=2))  # the SMSC is closed: a no-op
    assert pair.smsc_sends().events == [Unbound(), ConnectionShouldClose("unbound by the ESME")]
    assert pair.esme.outstanding == tuple(
        SubmitSm(sequence_number=seq, destination_addr="8613800000000", short_message=text)
        for seq, text in ((2, b"a"), (3, b"b"))
    )


def test_answers_still_come_while_the_esme_unbinds(make: MakePair) -> None:
    pair = bound_pair(make)
    seq = pair.esme.send_request(submit(), now=0)
    (request,) = pair.esme_sends().events
    assert isinstance(request, Request)
    pair.esme.unbind(now=0)
    pair.smsc.respond(SubmitSmResp(sequence_number=seq, message_id="m1"))
    deliver_seq = pair.smsc.send_request(receipt(), now=0)  # crosses the unbind
    answer = SubmitSmResp(sequence_number=seq, message_id="m1")
    assert pair.smsc_sends().events == [ResponseReceived(answer, request.pdu)]
    delivery = pair.esme_sends()
    assert delivery.pdus == [
        Unbind(sequence_number=seq + 1),
        DeliverSmResp(sequence_number=deliver_seq, command_status=CommandStatus.ESME_RINVBNDSTS),
    ]
    assert delivery.events == [Unbound(), ConnectionShouldClose("unbound by the ESME")]
    assert [p.command_id for p in pair.smsc.outstanding] == [CommandId.DELIVER_SM]  # to requeue
