"""The frames between the server and its connector process: whole however the stream is cut,
records that come back as they went, and a clear error for what is not a frame."""

from __future__ import annotations

import marshal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.adapters.carriers.process.wire import (
    HEADER,
    MAX_FRAME,
    FrameError,
    FrameReader,
    frame,
    message_from,
    message_record,
    outcome_from,
    outcome_record,
    receipt_from,
    receipt_record,
)
from smsgate.domain.carrier_receipts import CarrierReceipt
from smsgate.domain.models import Accepted, MessageStatus, Rejected, Retry
from tests import builders

_ITEMS = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.binary(max_size=40),
        st.integers(),
        st.floats(allow_nan=False),
        st.none(),
        st.lists(st.text(max_size=5), max_size=4),
    ),
    max_size=6,
)


@given(
    frames=st.lists(st.tuples(st.sampled_from(["submit", "up", "state"]), _ITEMS), max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40),
)
def test_frames_come_out_whole_however_the_stream_is_cut(
    frames: list[tuple[str, list[object]]], cuts: list[int]
) -> None:
    stream = b"".join(frame(name, *items) for name, items in frames)
    reader = FrameReader()
    got = []
    at = 0
    for size in cuts * (len(stream) // sum(cuts) + 1):
        got += reader.feed(stream[at : at + size])
        at += size
        if at >= len(stream):
            break
    assert got == [(name, *items) for name, items in frames]


def test_a_message_keeps_what_a_connector_sends() -> None:
    message = builders.message(
        "1579567648214089728",
        to="6591234567",
        sender="Acme",
        body="Your code is 1234 ✓",
        encoding="UCS2",
        created_at=1_765_000_000.25,
        validity_period=600,
    )

    sent = message_from(message_record(message))

    assert (sent.id, sent.to, sent.sender, sent.body, sent.encoding) == (
        message.id,
        message.to,
        message.sender,
        message.body,
        message.encoding,
    )
    assert sent.expires_at == message.expires_at
    assert sent.account_id == ""  # what the connector does not read is not sent


@pytest.mark.parametrize(
    "outcome",
    [
        Accepted("1", "uplink", ("a1", "a2"), 1_765_000_000.5),
        Rejected("2", "uplink", "INVALID_NUM", 1_765_000_001.0),
        Retry("3", 0.25),
    ],
)
def test_outcomes_come_back_as_they_went(outcome: Accepted | Rejected | Retry) -> None:
    record = outcome_record(outcome)
    assert outcome_from(marshal.loads(marshal.dumps(record))) == outcome


def test_an_unknown_outcome_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="outcome"):
        outcome_from(("x", "1"))


def test_receipts_come_back_as_they_went() -> None:
    read = CarrierReceipt(
        "0a1b", MessageStatus.FAILED, "PHONE_NOT_AVAILABLE", "stat:UNDELIV err:027"
    )
    record = receipt_record(read, ["k1", "k2"])
    assert receipt_from(marshal.loads(marshal.dumps(record))) == (read, ["k1", "k2"])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (HEADER.pack(MAX_FRAME + 1), "a frame of"),
        (HEADER.pack(3) + b"\xff\xff\xff", "unreadable"),
        (HEADER.pack(len(marshal.dumps([1]))) + marshal.dumps([1]), "without a name"),
        (HEADER.pack(len(marshal.dumps(()))) + marshal.dumps(()), "without a name"),
    ],
)
def test_what_is_not_a_frame_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem):
        FrameReader().feed(data)
