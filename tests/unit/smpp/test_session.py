"""SmscSession: the §2.3 state table, automatic answers, windowing, timers driven by ``now``."""

from __future__ import annotations

import dataclasses
import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.smpp.codec import PduReader, encode
from smsgate.smpp.constants import CommandId, CommandStatus, TlvTag
from smsgate.smpp.events import (
    BindRequested,
    ConnectionShouldClose,
    Event,
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
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from smsgate.smpp.session import (
    MAX_SEQUENCE,
    InvalidStateError,
    SessionState,
    SmscSession,
    WindowFullError,
)

BIND_TX = BindTransmitter(sequence_number=1, system_id="acme", password="secret")
BIND_RX = BindReceiver(sequence_number=1, system_id="acme", password="secret")
BIND_TRX = BindTransceiver(sequence_number=1, system_id="acme", password="secret")


def submit(seq: int) -> SubmitSm:
    return SubmitSm(sequence_number=seq, destination_addr="8613800000000", short_message=b"hi")


def deliver() -> DeliverSm:
    return DeliverSm(sequence_number=0, source_addr="8613800000000", short_message=b"mo")


def wire(*pdus: Pdu) -> bytes:
    return b"".join(encode(p) for p in pdus)


def parse(data: bytes) -> list[Pdu]:
    reader = PduReader()
    reader.feed(data)
    pdus = list(reader)
    assert reader.buffered == 0
    return pdus


def drain(session: SmscSession) -> list[Event]:
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


def bound(bind: BindTransmitter | BindReceiver | BindTransceiver, **kwargs: int) -> SmscSession:
    session = SmscSession(now=0, **kwargs)
    session.receive_data(encode(bind), now=0)
    assert drain(session) == [BindRequested(bind)]
    session.accept_bind(bind, "smsgate")
    session.data_to_send()
    return session


# --- Binding ---------------------------------------------------------------------------------


def test_bind_and_submit_in_one_chunk_give_events_in_order() -> None:
    session = SmscSession(now=0)
    session.receive_data(wire(BIND_TX, submit(2)), now=0)
    assert session.next_event() == BindRequested(BIND_TX)
    assert session.next_event() is None  # the submit waits for the bind's answer
    session.accept_bind(BIND_TX, "smsgate")
    assert session.state is SessionState.BOUND_TX
    assert session.bind == BIND_TX
    assert session.next_event() == Request(submit(2))
    assert session.next_event() is None
    session.respond(SubmitSmResp(sequence_number=2, message_id="m1"))
    (bind_resp, submit_resp) = parse(session.data_to_send())
    assert bind_resp == BindTransmitterResp(
        sequence_number=1, system_id="smsgate", tlvs=bind_resp.tlvs
    )
    assert bind_resp.tlv_int(TlvTag.SC_INTERFACE_VERSION) == 0x34
    assert submit_resp == SubmitSmResp(sequence_number=2, message_id="m1")
    assert session.data_to_send() == b""


def test_bind_of_an_older_interface_version_gets_no_sc_interface_version() -> None:
    bind = BindTransmitter(sequence_number=1, interface_version=0x33)
    session = SmscSession(now=0)
    session.receive_data(encode(bind), now=0)
    drain(session)
    session.accept_bind(bind, "smsgate")
    assert parse(session.data_to_send()) == [
        BindTransmitterResp(sequence_number=1, system_id="smsgate")
    ]


def test_rejected_bind_stays_open_and_may_bind_again() -> None:
    session = SmscSession(now=0)
    session.receive_data(encode(BIND_RX), now=0)
    assert drain(session) == [BindRequested(BIND_RX)]
    session.reject_bind(BIND_RX, CommandStatus.ESME_RINVPASWD)
    assert parse(session.data_to_send()) == [
        BindReceiverResp(sequence_number=1, command_status=CommandStatus.ESME_RINVPASWD)
    ]
    assert session.state is SessionState.OPEN
    session.receive_data(encode(BIND_RX), now=1)
    assert drain(session) == [BindRequested(BIND_RX)]
    session.accept_bind(BIND_RX, "smsgate")
    assert session.state is SessionState.BOUND_RX


def test_bind_answers_check_the_pending_bind() -> None:
    session = SmscSession(now=0)
    with pytest.raises(InvalidStateError):
        session.accept_bind(BIND_TX, "smsgate")
    session.receive_data(encode(BIND_TX), now=0)
    drain(session)
    with pytest.raises(InvalidStateError):
        session.accept_bind(BIND_RX, "smsgate")
    with pytest.raises(ValueError, match="error status"):
        session.reject_bind(BIND_TX, CommandStatus.ESME_ROK)


@pytest.mark.parametrize(
    ("bind", "state"),
    [
        (BIND_TX, SessionState.BOUND_TX),
        (BIND_RX, SessionState.BOUND_RX),
        (BIND_TRX, SessionState.BOUND_TRX),
    ],
)
def test_second_bind_is_already_bound(bind: BindTransmitter, state: SessionState) -> None:
    session = bound(bind)
    assert session.state is state
    again = BindTransceiver(sequence_number=7)
    session.receive_data(encode(again), now=1)
    assert drain(session) == []
    (resp,) = parse(session.data_to_send())
    assert resp.command_id == CommandId.BIND_TRANSCEIVER_RESP
    assert (resp.sequence_number, resp.command_status) == (7, CommandStatus.ESME_RALYBND)


# --- State table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_pdu",
    [submit(5), QuerySm(sequence_number=5, message_id="1"), DataSm(sequence_number=5)],
)
def test_transmitter_commands_before_bind_are_invalid_bind_status(request_pdu: Pdu) -> None:
    session = SmscSession(now=0)
    session.receive_data(encode(request_pdu), now=0)
    assert drain(session) == []
    (resp,) = parse(session.data_to_send())
    assert resp.command_id == request_pdu.command_id | 0x80000000
    assert (resp.sequence_number, resp.command_status) == (5, CommandStatus.ESME_RINVBNDSTS)


def test_receiver_refuses_submit_sm_and_transmitter_cannot_get_deliver_sm() -> None:
    rx = bound(BIND_RX)
    rx.receive_data(encode(submit(2)), now=1)
    assert drain(rx) == []
    assert parse(rx.data_to_send()) == [
        SubmitSmResp(sequence_number=2, command_status=CommandStatus.ESME_RINVBNDSTS)
    ]
    tx = bound(BIND_TX)
    assert not tx.can_send()
    with pytest.raises(InvalidStateError):
        tx.send_request(deliver(), now=1)
    tx.receive_data(encode(DeliverSmResp(sequence_number=3)), now=1)
    assert drain(tx) == []
    assert parse(tx.data_to_send()) == [
        GenericNack(sequence_number=3, command_status=CommandStatus.ESME_RINVBNDSTS)
    ]


def test_commands_an_smsc_never_receives_are_invalid_command_ids() -> None:
    session = bound(BIND_TRX)
    session.receive_data(
        wire(
            DeliverSm(sequence_number=2),
            Outbind(sequence_number=3),
            SubmitSmResp(sequence_number=4),
        ),
        now=1,
    )
    assert drain(session) == []
    assert parse(session.data_to_send()) == [
        DeliverSmResp(sequence_number=2, command_status=CommandStatus.ESME_RINVCMDID),
        GenericNack(sequence_number=3, command_status=CommandStatus.ESME_RINVCMDID),
        GenericNack(sequence_number=4, command_status=CommandStatus.ESME_RINVCMDID),
    ]
    with pytest.raises(ValueError, match="does not send"):
        session.send_request(submit(0), now=1)


def test_enquire_link_is_answered_open_and_bound() -> None:
    session = SmscSession(now=0)
    session.receive_data(encode(EnquireLink(sequence_number=9)), now=0)
    assert drain(session) == []
    assert parse(session.data_to_send()) == [EnquireLinkResp(sequence_number=9)]
    session = bound(BIND_TX)
    session.receive_data(encode(EnquireLink(sequence_number=10)), now=0)
    assert drain(session) == []
    assert parse(session.data_to_send()) == [EnquireLinkResp(sequence_number=10)]


def test_unbind_before_bind_is_invalid_bind_status() -> None:
    session = SmscSession(now=0)
    session.receive_data(encode(Unbind(sequence_number=2)), now=0)
    assert drain(session) == []
    assert parse(session.data_to_send()) == [
        UnbindResp(sequence_number=2, command_status=CommandStatus.ESME_RINVBNDSTS)
    ]
    assert session.state is SessionState.OPEN


# --- Requests from the ESME ------------------------------------------------------------------


def test_responses_may_be_given_out_of_order() -> None:
    session = bound(BIND_TX)
    session.receive_data(wire(submit(2), submit(3), submit(4)), now=1)
    assert drain(session) == [Request(submit(2)), Request(submit(3)), Request(submit(4))]
    assert session.unanswered == 3
    for seq in (4, 2):
        session.respond(SubmitSmResp(sequence_number=seq, message_id=str(seq)))
    session.respond(GenericNack(sequence_number=3, command_status=CommandStatus.ESME_RTHROTTLED))
    assert [p.sequence_number for p in parse(session.data_to_send())] == [4, 2, 3]
    assert session.unanswered == 0
    with pytest.raises(InvalidStateError):
        session.respond(SubmitSmResp(sequence_number=2))  # already answered


def test_respond_checks_the_request() -> None:
    session = bound(BIND_TX)
    session.receive_data(encode(submit(2)), now=1)
    drain(session)
    with pytest.raises(InvalidStateError):
        session.respond(DeliverSmResp(sequence_number=2))  # wrong response type
    with pytest.raises(InvalidStateError):
        session.respond(submit(2))  # not a response
    session.respond(SubmitSmResp(sequence_number=2))


def test_reused_sequence_number_of_a_pending_request_is_refused() -> None:
    session = bound(BIND_TX)
    session.receive_data(wire(submit(2), submit(2)), now=1)
    assert drain(session) == [Request(submit(2))]
    assert parse(session.data_to_send()) == [
        SubmitSmResp(sequence_number=2, command_status=CommandStatus.ESME_RSYSERR)
    ]


# --- Requests to the ESME --------------------------------------------------------------------


def test_a_request_built_with_next_sequence_number_keeps_it() -> None:
    session = bound(BIND_RX)
    session.send_request(deliver(), now=1)  # takes 1
    ready = dataclasses.replace(deliver(), sequence_number=session.next_sequence_number)
    assert ready.sequence_number == 2
    assert session.send_request(ready, now=1) == 2
    assert session.send_request(deliver(), now=1) == 3  # any other number is replaced
    assert [p.sequence_number for p in parse(session.data_to_send())] == [1, 2, 3]


def test_deliver_sm_responses_out_of_order_are_matched() -> None:
    session = bound(BIND_RX)
    seqs = [session.send_request(deliver(), now=1) for _ in range(3)]
    assert seqs == [1, 2, 3]
    sent = parse(session.data_to_send())
    assert [p.sequence_number for p in sent] == seqs
    session.receive_data(
        wire(
            DeliverSmResp(sequence_number=3),
            GenericNack(sequence_number=1, command_status=CommandStatus.ESME_RSYSERR),
            DeliverSmResp(sequence_number=99),  # unsolicited: dropped
        ),
        now=2,
    )
    events = drain(session)
    assert events == [
        ResponseReceived(DeliverSmResp(sequence_number=3), sent[2]),
        ResponseReceived(
            GenericNack(sequence_number=1, command_status=CommandStatus.ESME_RSYSERR), sent[0]
        ),
    ]
    assert session.outstanding == (sent[1],)
    assert session.data_to_send() == b""


def test_window_full() -> None:
    session = bound(BIND_TRX, window=2)
    assert session.can_send()
    session.send_request(deliver(), now=1)
    session.send_request(DataSm(sequence_number=0), now=1)
    assert not session.can_send()
    with pytest.raises(WindowFullError):
        session.send_request(deliver(), now=1)
    session.send_request(AlertNotification(sequence_number=0), now=1)  # no response, no slot
    session.receive_data(encode(DeliverSmResp(sequence_number=1)), now=2)
    drain(session)
    assert session.can_send()
    assert session.send_request(deliver(), now=2) == 4


def test_sequence_numbers_wrap_and_skip_outstanding() -> None:
    session = bound(BIND_RX)
    session._next_seq = MAX_SEQUENCE
    assert session.send_request(deliver(), now=1) == MAX_SEQUENCE
    assert session.send_request(deliver(), now=1) == 1
    session._next_seq = MAX_SEQUENCE
    assert session.send_request(deliver(), now=1) == 2


# --- Unbind ----------------------------------------------------------------------------------


def test_unbind_from_the_esme() -> None:
    session = bound(BIND_TX)
    session.receive_data(wire(submit(2), Unbind(sequence_number=3), submit(4)), now=1)
    assert drain(session) == [
        Request(submit(2)),
        Unbound(),
        ConnectionShouldClose("unbound by the ESME"),
    ]
    assert session.state is SessionState.CLOSED
    session.respond(SubmitSmResp(sequence_number=2))  # late answer: no-op
    assert parse(session.data_to_send()) == [UnbindResp(sequence_number=3)]
    session.receive_data(encode(submit(5)), now=2)
    assert drain(session) == []
    assert session.get_timer() is None
    with pytest.raises(InvalidStateError):
        session.send_request(deliver(), now=2)


def test_unbind_from_the_smsc() -> None:
    session = bound(BIND_TRX)
    session.send_request(deliver(), now=1)
    session.unbind(now=1)
    assert session.state is SessionState.UNBOUND
    sent, unbind = parse(session.data_to_send())
    assert (sent.command_id, unbind) == (CommandId.DELIVER_SM, Unbind(sequence_number=2))
    session.receive_data(wire(submit(7), DeliverSmResp(sequence_number=1)), now=2)
    assert drain(session) == [ResponseReceived(DeliverSmResp(sequence_number=1), sent)]
    assert parse(session.data_to_send()) == [
        SubmitSmResp(sequence_number=7, command_status=CommandStatus.ESME_RINVBNDSTS)
    ]
    session.receive_data(encode(UnbindResp(sequence_number=2)), now=3)
    assert drain(session) == [Unbound(), ConnectionShouldClose("unbound by the SMSC")]
    with pytest.raises(InvalidStateError):
        session.unbind(now=3)


def test_unbind_resp_timeout_closes() -> None:
    session = bound(BIND_TX, response_timeout=5)
    session.unbind(now=10)
    assert session.get_timer() == 15
    session.handle_timer(15)
    assert drain(session) == [ConnectionShouldClose("no unbind_resp within response_timeout")]


# --- Timers ----------------------------------------------------------------------------------


def test_enquire_link_after_silence_and_its_response() -> None:
    session = bound(BIND_TX, enquire_link_interval=30, response_timeout=10)
    assert session.get_timer() == 30
    session.handle_timer(29.9)
    assert session.data_to_send() == b""
    session.handle_timer(30)
    (enquire,) = parse(session.data_to_send())
    assert isinstance(enquire, EnquireLink)
    assert session.get_timer() == 40
    session.receive_data(encode(EnquireLinkResp(sequence_number=enquire.sequence_number)), 35)
    assert drain(session) == []
    assert session.get_timer() == 65
    session.handle_timer(65)
    (enquire2,) = parse(session.data_to_send())
    assert enquire2.sequence_number == enquire.sequence_number + 1
    session.handle_timer(75)
    assert drain(session) == [ConnectionShouldClose("no enquire_link_resp within response_timeout")]
    assert session.state is SessionState.CLOSED


def test_traffic_postpones_enquire_link() -> None:
    session = bound(BIND_TX, enquire_link_interval=30)
    session.receive_data(encode(EnquireLink(sequence_number=2)), now=20)
    drain(session)
    session.handle_timer(30)
    assert parse(session.data_to_send()) == [EnquireLinkResp(sequence_number=2)]
    assert session.get_timer() == 50


def test_inactivity_closes() -> None:
    session = bound(BIND_TX, enquire_link_interval=1000, inactivity_timeout=300)
    assert session.get_timer() == 300
    session.handle_timer(300)
    assert drain(session) == [ConnectionShouldClose("inactivity_timeout")]
    assert session.data_to_send() == b""


def test_no_bind_within_session_init_timeout_closes() -> None:
    session = SmscSession(session_init_timeout=10, now=100)
    session.receive_data(encode(EnquireLink(sequence_number=1)), now=105)
    drain(session)
    assert session.get_timer() == 110
    session.handle_timer(109)
    assert session.state is SessionState.OPEN
    session.handle_timer(110)
    assert drain(session) == [ConnectionShouldClose("no bind within session_init_timeout")]
    session.receive_data(encode(BIND_TX), now=111)
    assert drain(session) == []


def test_init_timeout_while_credentials_are_checked_makes_the_answer_a_no_op() -> None:
    session = SmscSession(session_init_timeout=10, now=0)
    session.receive_data(encode(BIND_TX), now=0)
    drain(session)
    session.handle_timer(10)
    assert drain(session) == [ConnectionShouldClose("no bind within session_init_timeout")]
    session.accept_bind(BIND_TX, "smsgate")
    session.reject_bind(BIND_TX, CommandStatus.ESME_RBINDFAIL)
    assert session.data_to_send() == b""
    assert session.state is SessionState.CLOSED


def test_response_timeout() -> None:
    session = bound(BIND_RX, response_timeout=30, enquire_link_interval=1000)
    first = session.send_request(deliver(), now=1)
    session.send_request(deliver(), now=2)
    assert session.get_timer() == 31
    session.handle_timer(31)
    (timed_out,) = drain(session)
    assert isinstance(timed_out, RequestTimedOut)
    assert timed_out.pdu.sequence_number == first
    assert session.get_timer() == 32
    session.receive_data(encode(DeliverSmResp(sequence_number=first)), now=31.5)
    assert drain(session) == []  # late: dropped
    assert len(session.outstanding) == 1


# --- Garbage and streaming -------------------------------------------------------------------


def test_bad_command_length_nacks_and_closes() -> None:
    session = bound(BIND_TX)
    session.receive_data(struct.pack(">IIII", 8, 4, 0, 5), now=1)
    (close,) = drain(session)
    assert isinstance(close, ConnectionShouldClose)
    assert parse(session.data_to_send()) == [
        GenericNack(sequence_number=0, command_status=CommandStatus.ESME_RINVCMDLEN)
    ]
    assert session.state is SessionState.CLOSED


def test_unknown_command_id_nacks_and_goes_on() -> None:
    session = bound(BIND_TX)
    session.receive_data(struct.pack(">IIII", 16, 0x77, 0, 5) + encode(submit(6)), now=1)
    assert drain(session) == [Request(submit(6))]
    assert parse(session.data_to_send()) == [
        GenericNack(sequence_number=5, command_status=CommandStatus.ESME_RINVCMDID)
    ]


def test_malformed_bind_gets_its_bind_resp_with_the_error() -> None:
    session = SmscSession(now=0)
    body = b"x" * 20 + b"\0"  # system_id over 16
    session.receive_data(struct.pack(">IIII", 16 + len(body), 2, 0, 1) + body, now=0)
    assert drain(session) == []
    (resp,) = parse(session.data_to_send())
    assert resp.command_id == CommandId.BIND_TRANSMITTER_RESP
    assert resp.command_status == CommandStatus.ESME_RINVPARLEN


def run(session: SmscSession, chunks: list[bytes]) -> tuple[list[Event], bytes]:
    """A driver that accepts every bind and answers every request at once."""
    events: list[Event] = []
    out = []
    for chunk in chunks:
        session.receive_data(chunk, now=1)
        while (event := session.next_event()) is not None:
            events.append(event)
            if isinstance(event, BindRequested):
                session.accept_bind(event.pdu, "smsgate")
            elif isinstance(event, Request):
                session.respond(GenericNack(sequence_number=event.pdu.sequence_number))
        out.append(session.data_to_send())
    return events, b"".join(out)


SCRIPT = wire(
    EnquireLink(sequence_number=1),
    submit(2),
    BIND_TRX,
    submit(3),
    BindTransmitter(sequence_number=4),
    DeliverSmResp(sequence_number=5),
    QuerySm(sequence_number=6, message_id="x"),
    Unbind(sequence_number=7),
    submit(8),
)


@given(st.sets(st.integers(1, len(SCRIPT) - 1)))
def test_byte_by_byte_or_any_split_equals_whole(cuts: set[int]) -> None:
    whole = run(SmscSession(now=0), [SCRIPT])
    bounds = [0, *sorted(cuts), len(SCRIPT)]
    split = run(SmscSession(now=0), [SCRIPT[a:b] for a, b in itertools.pairwise(bounds)])
    assert split == whole
    assert run(SmscSession(now=0), [bytes([b]) for b in SCRIPT]) == whole
    events, out = whole
    assert events == [
        BindRequested(BIND_TRX),
        Request(submit(3)),
        Request(QuerySm(sequence_number=6, message_id="x")),
        Unbound(),
        ConnectionShouldClose("unbound by the ESME"),
    ]
    assert [(p.command_id, p.sequence_number, p.command_status) for p in parse(out)] == [
        (CommandId.ENQUIRE_LINK_RESP, 1, 0),
        (CommandId.SUBMIT_SM_RESP, 2, CommandStatus.ESME_RINVBNDSTS),  # before the bind
        (CommandId.BIND_TRANSCEIVER_RESP, 1, 0),
        (CommandId.GENERIC_NACK, 3, 0),  # the driver's answer
        (CommandId.BIND_TRANSMITTER_RESP, 4, CommandStatus.ESME_RALYBND),
        (CommandId.GENERIC_NACK, 6, 0),  # deliver_sm_resp #5 answered nothing: dropped
        (CommandId.UNBIND_RESP, 7, 0),  # submit #8 after unbind is never read
    ]


_HEADERS = st.builds(
    lambda length, cid, status, seq, body: struct.pack(">IIII", length, cid, status, seq) + body,
    st.one_of(st.integers(16, 80), st.integers(0, 2**32 - 1)),
    st.one_of(st.sampled_from(list(CommandId)), st.integers(0, 2**32 - 1)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=64),
)


@settings(max_examples=300)
@given(
    st.sampled_from([None, BIND_TX, BIND_RX, BIND_TRX]),
    st.lists(st.one_of(st.binary(max_size=40), _HEADERS), max_size=8),
    st.floats(0, 1000),
)
def test_garbage_never_raises_and_answers_are_valid_pdus(
    bind: BindTransmitter | None, chunks: list[bytes], later: float
) -> None:
    session = (
        SmscSession(now=0, max_pdu_size=256) if bind is None else bound(bind, max_pdu_size=256)
    )
    events, out = run(session, chunks)
    session.handle_timer(later)
    events += drain(session)
    out += session.data_to_send()
    for pdu in parse(out):  # everything we wrote decodes
        assert pdu.sequence_number >= 0
    closes = [e for e in events if isinstance(e, ConnectionShouldClose)]
    assert len(closes) <= 1
    if closes:
        assert events[-1] == closes[0]
        assert session.state is SessionState.CLOSED
