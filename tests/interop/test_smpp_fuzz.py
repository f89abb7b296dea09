"""Hypothesis against one live ``smsgate serve``: raw and mutated SMPP bytes over plain sockets.

Inputs are built here with ``struct`` (not with smsgate's codec, so a codec bug cannot hide
itself) and answers are read with the small parser below. Property, per example:

- every answer is a well-formed PDU: command_length >= 16, a response command_id (or
  generic_nack, never with status 0), the sequence number of a PDU we sent (0 only on a
  generic_nack), and the answer a request of that kind may get;
- every complete request is answered, unless the stream also held something after which the
  server may close (a command_length outside 16..64 KiB, an unbind); the server either answers
  or closes within ``DEADLINE_S``, and closes once we half-close;
- afterwards the process is alive, nothing new in its log is a traceback, and a fresh
  connection binds and gets an enquire_link_resp.
"""

from __future__ import annotations

import itertools
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .conftest import ServerProcess, instant_server

DEADLINE_S = 5.0  # answers or a close, per example
MAX_PDU = 65536  # the server's max_pdu_size
RESP = 0x80000000
GENERIC_NACK = 0x80000000
BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x01, 0x02, 0x09
QUERY_SM, SUBMIT_SM, DELIVER_SM, UNBIND, REPLACE_SM, CANCEL_SM = 0x03, 0x04, 0x05, 0x06, 0x07, 0x08
OUTBIND, ENQUIRE_LINK, SUBMIT_MULTI, ALERT_NOTIFICATION, DATA_SM = 0x0B, 0x15, 0x21, 0x102, 0x103
KNOWN_REQUESTS = [
    BIND_RECEIVER,
    BIND_TRANSMITTER,
    BIND_TRANSCEIVER,
    QUERY_SM,
    SUBMIT_SM,
    DELIVER_SM,
    UNBIND,
    REPLACE_SM,
    CANCEL_SM,
    OUTBIND,
    ENQUIRE_LINK,
    SUBMIT_MULTI,
    ALERT_NOTIFICATION,
    DATA_SM,
]
UNKNOWN_IDS = [0x0A, 0x0C, 0x16, 0x22, 0x104, 0x7FFFFFFF, 0x8000000A, 0x80000102, 0xFFFFFFFF]
#: Requests an SMSC may send on its own (receipts for fuzzed submits, keep-alives).
SERVER_REQUESTS = {DELIVER_SM, ENQUIRE_LINK}

SYSTEM_ID, PASSWORD = "fuzzer", "fuzzpw"
ALIVE_ID, ALIVE_PASSWORD = "alive", "alivepw"
SG = b"6591234567"

# TLV tags (§5.3.2): concatenation, payload, receipts, and a few fixed-size integers.
T = TypeVar("T")

TLV_TAGS = [0x0424, 0x020C, 0x020E, 0x020F, 0x0204, 0x001E, 0x0427, 0x0210, 0x0005, 0x0019, 0x1400]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for every example; policy re-read on every use so credentials work at once."""
    proc = instant_server(tmp_path_factory, "smppfuzz")
    for system_id, password in ((SYSTEM_ID, PASSWORD), (ALIVE_ID, ALIVE_PASSWORD)):
        account = proc.create_account(system_id, balance="100000")
        proc.cli(
            "smpp", "add", account.account_id, "--system-id", system_id, "--password", password
        )
    yield proc
    proc.stop()


# --- building PDUs -----------------------------------------------------------------------------


def pdu(command_id: int, seq: int, body: bytes = b"", status: int = 0) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


def cstr(text: bytes) -> bytes:
    return text + b"\0"


def tlv(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack(">HH", tag, len(value) if length is None else length) + value


def bind_body(system_id: str, password: str) -> bytes:
    return (
        cstr(system_id.encode())
        + cstr(password.encode())
        + cstr(b"")
        + struct.pack(">BBB", 0x34, 0, 0)
        + cstr(b"")
    )


def valid_bind(seq: int = 1, command_id: int = BIND_TRANSCEIVER) -> bytes:
    return pdu(command_id, seq, bind_body(SYSTEM_ID, PASSWORD))


u8 = st.integers(0, 255)
u32 = st.integers(0, 0xFFFFFFFF)


def mostly(good: st.SearchStrategy[T], bad: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``good`` 19 times in 20: fields stay valid often enough to reach the submit path."""
    return st.integers(0, 19).flatmap(lambda i: bad if i == 7 else good)  # not an edge value


def cstring(maximum: int, good: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A C-Octet String field: mostly fitting, sometimes oversized or missing its NUL."""
    return mostly(
        good.map(cstr),
        st.one_of(
            st.just(b"\0"),
            st.binary(min_size=maximum, max_size=maximum + 300).map(
                lambda b: cstr(b.replace(b"\0", b"x"))
            ),
            st.binary(max_size=maximum + 5).map(lambda b: b.replace(b"\0", b"y")),  # no NUL
        ),
    )


udh = st.one_of(
    st.tuples(u8, st.integers(1, 4), st.integers(0, 5)).map(
        lambda t: bytes([5, 0, 3, t[0], t[1], t[2]])
    ),
    st.tuples(st.integers(0, 0xFFFF), st.integers(1, 4), st.integers(0, 5)).map(
        lambda t: bytes([6, 8, 4, t[0] >> 8, t[0] & 0xFF, t[1], t[2]])
    ),
    st.binary(min_size=1, max_size=12),  # a garbage header: udhl anything
)

short_message = st.one_of(
    st.just(b"hello fuzz"),
    st.text(alphabet="abcXYZ 0123@$", max_size=160).map(str.encode),
    st.binary(max_size=60),
    st.tuples(udh, st.binary(max_size=40)).map(lambda t: t[0] + t[1]),
    st.text(alphabet="验证码 ✓abc", max_size=20).map(lambda s: s.encode("utf-16-be")),
)


@st.composite
def sm_field(draw: st.DrawFn) -> bytes:
    """sm_length + short_message, the length sometimes lying."""
    message = draw(short_message)
    length = draw(mostly(st.just(bytes([len(message)])), u8.map(lambda n: bytes([n]))))
    return length + message[:255]


@st.composite
def tlvs(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(mostly(st.integers(0, 1), st.integers(0, 4)))):
        tag = draw(st.one_of(st.sampled_from(TLV_TAGS), st.integers(0, 0xFFFF)))
        value = draw(
            st.one_of(
                st.binary(max_size=8),
                st.integers(0, 0xFFFF).map(lambda v: struct.pack(">H", v)),
                u8.map(lambda v: bytes([v])),
                st.binary(max_size=300),
            )
        )
        length = draw(mostly(st.just(len(value)), st.integers(0, 0xFFFF)))
        parts.append(tlv(tag, value, length))
    return b"".join(parts)


@st.composite
def submit_body(draw: st.DrawFn) -> bytes:
    number = mostly(
        st.integers(0, 999_999).map(lambda n: b"6591%06d" % n),
        st.sampled_from([b"6591239902", b"12", b"+6591234567", b"", b"abc"]),
    )
    return b"".join(
        [
            draw(cstring(6, st.sampled_from([b"", b"CMT"]))),
            bytes([draw(u8), draw(u8)]),
            draw(cstring(21, st.sampled_from([b"Acme", b"", b"6598765432"]))),
            bytes([draw(st.sampled_from([1, 0])), draw(st.sampled_from([1, 0]))]),
            draw(cstring(21, number)),
            bytes([draw(mostly(st.sampled_from([0, 0, 0x40, 0x04, 0x03]), u8))]),
            bytes([draw(u8), draw(u8)]),
            draw(cstring(17, mostly(st.just(b""), st.just(b"000001000000000R")))),
            draw(cstring(17, st.sampled_from([b"", b"000001000000000R"]))),
            bytes([draw(mostly(st.sampled_from([0, 1]), u8)), draw(u8)]),
            bytes([draw(mostly(st.sampled_from([0, 3, 8]), u8)), draw(u8)]),
            draw(sm_field()),
            draw(tlvs()),
        ]
    )


def plain_submit(to: bytes, esm_class: int, data_coding: int, message: bytes, tail: bytes) -> bytes:
    """A well-formed submit_sm body (§4.4.1) with these fields, the others plain."""
    return (
        cstr(b"")
        + bytes([5, 0])
        + cstr(b"Acme")
        + bytes([1, 1])
        + cstr(to)
        + bytes([esm_class, 0, 0])
        + cstr(b"")
        + cstr(b"")
        + bytes([0, 0, data_coding, 0, len(message)])
        + message
        + tail
    )


@st.composite
def concat_part(draw: st.DrawFn) -> bytes:
    """A part of a long message from a tiny space of references, totals and indexes, so parts
    of one example (and of earlier ones) meet in reassembly: UDH 8-bit, UDH 16-bit or SAR."""
    ref = draw(st.integers(0, 2))
    total = draw(mostly(st.sampled_from([2, 3]), st.integers(0, 4)))
    index = draw(mostly(st.integers(1, max(total, 1)), st.integers(0, 5)))
    data_coding = draw(mostly(st.just(0), st.sampled_from([8, 3])))
    text = draw(mostly(st.sampled_from([b"part one ", b"part two", b"x" * 150]), st.binary()))
    style = draw(st.sampled_from(["udh8", "udh16", "sar"]))
    if style == "udh8":
        return plain_submit(SG, 0x40, data_coding, bytes([5, 0, 3, ref, total, index]) + text, b"")
    if style == "udh16":
        header = bytes([6, 8, 4, 0, ref, total, index])
        return plain_submit(SG, 0x40, data_coding, header + text, b"")
    sar = tlv(0x020C, struct.pack(">H", ref)) + tlv(0x020E, bytes([total]))
    return plain_submit(SG, 0, data_coding, text, sar + tlv(0x020F, bytes([index])))


@st.composite
def operation(draw: st.DrawFn, seq: int) -> bytes:
    """One request (or stray response) after the bind, before any mutation."""
    kind = draw(
        st.sampled_from(
            ["submit", "part", "submit", "part", "enquire", "unbind", "nack", "resp", "any"]
        )
    )
    if kind == "submit":
        return pdu(SUBMIT_SM, seq, draw(submit_body()))
    if kind == "part":
        return pdu(SUBMIT_SM, seq, draw(concat_part()))
    if kind == "enquire":
        return pdu(ENQUIRE_LINK, seq, draw(st.one_of(st.just(b""), tlvs())))
    if kind == "unbind":
        return pdu(UNBIND, seq)
    if kind == "nack":
        return pdu(GENERIC_NACK, seq, status=draw(u32))
    if kind == "resp":
        cid = draw(st.sampled_from(KNOWN_REQUESTS)) | RESP
        return pdu(cid, seq, draw(st.binary(max_size=20)), status=draw(u32))
    cid = draw(st.one_of(st.sampled_from(KNOWN_REQUESTS + UNKNOWN_IDS), u32))
    return pdu(cid, seq, draw(st.binary(max_size=120)))


def _with_length(frame: bytes, length: int) -> bytes:
    return struct.pack(">I", length & 0xFFFFFFFF) + frame[4:]


@st.composite
def mutated(draw: st.DrawFn, frame: bytes) -> bytes:
    """``frame`` unchanged or with one structural mutation."""
    how = draw(
        st.sampled_from(
            ["length", "cid", "truncate", "cut", "nul", "flip", "extend", "seq"] + ["none"] * 6
        )
    )
    body = frame[16:]
    if how == "length":
        length = draw(
            st.one_of(
                st.sampled_from([0, 1, 4, 15, 16, 17, MAX_PDU, MAX_PDU + 1, 0xFFFFFFFF]),
                st.integers(-8, 8).map(lambda d: len(frame) + d),
                u32,
            )
        )
        return _with_length(frame, length)
    if how == "cid":
        cid = draw(st.one_of(st.sampled_from(KNOWN_REQUESTS + UNKNOWN_IDS), u32))
        return frame[:4] + struct.pack(">I", cid) + frame[8:]
    if how == "truncate" and body:  # a shorter body that says so: fields cut in the middle
        cut = frame[: 16 + draw(st.integers(0, len(body) - 1))]
        return _with_length(cut, len(cut))
    if how == "cut":  # fewer octets than command_length: the server waits for the rest
        return frame[: draw(st.integers(0, len(frame) - 1))]
    if how == "nul" and b"\0" in body:
        stripped = frame[:16] + body.replace(b"\0", b"", draw(st.integers(1, 3)))
        return _with_length(stripped, len(stripped))
    if how == "flip" and body:
        data = bytearray(frame)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(16, len(data) - 1))] = draw(u8)
        return bytes(data)
    if how == "extend":  # trailing octets: a TLV stream that does not parse, or bogus TLVs
        extended = frame + draw(st.one_of(st.binary(min_size=1, max_size=7), tlvs()))
        return _with_length(extended, len(extended))
    if how == "seq":
        seq = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]))
        return frame[:12] + struct.pack(">I", seq) + frame[16:]
    return frame


@st.composite
def mutated_session(draw: st.DrawFn) -> bytes:
    """bind_transceiver (valid credentials, rarely mutated itself) then mutated operations."""
    bind = valid_bind(1)
    if draw(st.integers(0, 9)) == 7:  # not an edge value: rarely
        bind = draw(mutated(bind))
    frames = [bind]
    for seq in range(2, 2 + draw(st.integers(1, 5))):
        frames.append(draw(mutated(draw(operation(seq)))))
    return b"".join(frames)


known_body_frame = st.tuples(
    st.sampled_from(KNOWN_REQUESTS + [c | RESP for c in KNOWN_REQUESTS]),
    st.integers(1, 1000),
    st.binary(max_size=200),
).map(lambda t: pdu(*t))

random_stream = st.one_of(
    st.binary(max_size=300),
    st.tuples(u32, st.binary(max_size=200)).map(lambda t: struct.pack(">I", t[0]) + t[1]),
    st.tuples(st.integers(16, 300), u32, u32, u32, st.binary(max_size=300)).map(
        lambda t: struct.pack(">IIII", *t[:4]) + t[4]
    ),
    st.binary(max_size=300).map(lambda b: valid_bind(1) + b),
    st.lists(known_body_frame, min_size=1, max_size=4).map(b"".join),
    st.lists(known_body_frame, min_size=1, max_size=4).map(lambda f: valid_bind(1) + b"".join(f)),
)


# --- reading answers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    command_id: int
    status: int
    seq: int
    body: bytes


class Link:
    """A raw TCP connection to the SMPP port, reading whole PDUs against a deadline."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.reset = False  # closed with RST: answers in flight may be lost

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> bool:
        """False when the server has already closed the connection."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.reset = True
            return False
        return True

    def half_close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.reset = True

    def _fill(self, size: int, deadline: float) -> bool:
        while len(self.buf) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                self.reset = True
                return False
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read(self, deadline: float) -> Answer | None:
        """The next PDU, or None once the server has closed. TimeoutError past ``deadline``."""
        if not self._fill(4, deadline):
            assert self.reset or not self.buf, f"server closed inside a header: {bytes(self.buf)!r}"
            return None
        (length,) = struct.unpack_from(">I", self.buf)
        assert 16 <= length <= MAX_PDU, f"answer with command_length {length}"
        if not self._fill(length, deadline):
            assert self.reset, f"server closed inside a PDU: {bytes(self.buf)!r}"
            return None
        _, cid, status, seq = struct.unpack_from(">IIII", self.buf)
        body = bytes(self.buf[16:length])
        del self.buf[:length]
        return Answer(cid, status, seq, body)


# --- the model of what may come back -----------------------------------------------------------


@dataclass
class Expectation:
    """What the server may answer to a stream, framed as §3.2 frames it (by command_length)."""

    due: Counter[int] = field(default_factory=Counter)  # seq -> answers owed (requests)
    allowed: dict[int, set[int]] = field(default_factory=dict)  # seq -> answer command_ids
    may_close: bool = False  # a bad command_length or an unbind is in the stream


def expect(stream: bytes) -> Expectation:
    exp = Expectation()
    pos = 0
    while len(stream) - pos >= 4:
        (length,) = struct.unpack_from(">I", stream, pos)
        if length < 16 or length > MAX_PDU:  # framing lost: generic_nack, then close
            exp.may_close = True
            if length >= 16 and len(stream) - pos >= 16:
                (seq,) = struct.unpack_from(">I", stream, pos + 12)
                exp.allowed.setdefault(seq, set()).add(GENERIC_NACK)
            break
        if len(stream) - pos < length:
            break  # incomplete: waits for more octets
        _, cid, _, seq = struct.unpack_from(">IIII", stream, pos)
        answers = exp.allowed.setdefault(seq, set())
        answers.add(GENERIC_NACK)
        if not cid & RESP:  # a request: its own response or generic_nack, exactly once
            answers.add(cid | RESP)
            exp.due[seq] += 1
        exp.may_close |= cid == UNBIND
        pos += length
    return exp


def check_answer(answer: Answer, exp: Expectation, stream: bytes) -> None:
    where = f"answer {answer} to stream {stream.hex()}"
    if answer.command_id in SERVER_REQUESTS:
        return
    assert answer.command_id & RESP, f"not a response: {where}"
    if answer.command_id == GENERIC_NACK:
        assert answer.status != 0, f"generic_nack with ESME_ROK: {where}"
        if answer.seq == 0:
            return
    assert answer.seq in exp.allowed, f"sequence number we never sent: {where}"
    assert answer.command_id in exp.allowed[answer.seq], f"wrong kind of answer: {where}"
    if answer.status == 0 and answer.command_id in (
        SUBMIT_SM | RESP,
        BIND_TRANSCEIVER | RESP,
        BIND_TRANSMITTER | RESP,
        BIND_RECEIVER | RESP,
    ):
        assert b"\0" in answer.body, f"body without its C-Octet String: {where}"


def log_size(server: ServerProcess) -> int:
    return server.log_path.stat().st_size


def new_log(server: ServerProcess, since: int) -> str:
    with server.log_path.open("rb") as f:
        f.seek(since)
        return f.read().decode(errors="replace")


def assert_alive(server: ServerProcess) -> None:
    assert server.proc is not None
    assert server.proc.poll() is None, "the server process died"
    link = Link(server.smpp_port)
    try:
        deadline = time.monotonic() + DEADLINE_S
        body = bind_body(ALIVE_ID, ALIVE_PASSWORD)
        assert link.send(pdu(BIND_TRANSMITTER, 1, body) + pdu(ENQUIRE_LINK, 2))
        bind_resp = link.read(deadline)
        assert bind_resp is not None, "a fresh bind was closed"
        assert (bind_resp.command_id, bind_resp.status, bind_resp.seq) == (
            BIND_TRANSMITTER | RESP,
            0,
            1,
        )
        enquire_resp = link.read(deadline)
        assert enquire_resp is not None
        assert (enquire_resp.command_id, enquire_resp.status, enquire_resp.seq) == (
            ENQUIRE_LINK | RESP,
            0,
            2,
        )
    finally:
        link.close()


def exercise(server: ServerProcess, stream: bytes, chunks: list[int]) -> None:
    """Send ``stream`` (cut at ``chunks``), then check the answers, the close and liveness."""
    exp = expect(stream)
    log_from = log_size(server)
    link = Link(server.smpp_port)
    try:
        cuts = sorted({c % (len(stream) + 1) for c in chunks} | {0, len(stream)})
        for start, end in itertools.pairwise(cuts):
            if not link.send(stream[start:end]):
                break
        deadline = time.monotonic() + DEADLINE_S
        due = exp.due.copy()
        closed = False
        try:
            while +due:
                answer = link.read(deadline)
                if answer is None:
                    closed = True
                    event("closed by the server")
                    break
                check_answer(answer, exp, stream)
                event(f"answer 0x{answer.command_id:08x} status 0x{answer.status:x}")
                if answer.command_id not in SERVER_REQUESTS and due[answer.seq] > 0:
                    due[answer.seq] -= 1
            if closed:
                assert exp.may_close, (
                    f"closed with {sum((+due).values())} requests unanswered: {stream.hex()}"
                )
            else:
                link.half_close()
                while (answer := link.read(deadline)) is not None:
                    check_answer(answer, exp, stream)
        except TimeoutError:
            pytest.fail(
                f"no answer nor close within {DEADLINE_S}s ({dict(+due)} owed): {stream.hex()}"
            )
    finally:
        link.close()
    assert_alive(server)
    log = new_log(server, log_from)
    assert "Traceback" not in log, f"server logged an exception for {stream.hex()}:\n{log}"


FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
chunk_points = st.lists(st.integers(0, 2000), max_size=4)


@FUZZ
@given(stream=random_stream, chunks=chunk_points)
def test_random_bytes(server: ServerProcess, stream: bytes, chunks: list[int]) -> None:
    exercise(server, stream, chunks)


@FUZZ
@given(stream=mutated_session(), chunks=chunk_points)
def test_mutated_session(server: ServerProcess, stream: bytes, chunks: list[int]) -> None:
    exercise(server, stream, chunks)


def test_oversized_frame_is_refused_and_closed(server: ServerProcess) -> None:
    """A command_length over 64 KiB: generic_nack ESME_RINVCMDLEN echoing the header, close."""
    link = Link(server.smpp_port)
    try:
        assert link.send(valid_bind(1) + struct.pack(">IIII", MAX_PDU + 1, SUBMIT_SM, 0, 7))
        deadline = time.monotonic() + DEADLINE_S
        answers = []
        while (answer := link.read(deadline)) is not None:
            answers.append(answer)
        assert [(a.command_id, a.status, a.seq) for a in answers] == [
            (BIND_TRANSCEIVER | RESP, 0, 1),
            (GENERIC_NACK, 0x02, 7),
        ]
    finally:
        link.close()
    assert_alive(server)
