"""Connector benchmark: messages per second through one outbound SMPP connector.

Starts an SMSC in a child process (its own core), points one
:class:`~smsgate.adapters.carriers.smpp.SmppConnector` at it and submits ``--messages``
messages from ``--callers`` concurrent ``submit()`` callers, ``--batch`` messages a call (as
delivery workers or a router would). Prints accepted messages/s, the latency of the submit
calls, the connector process's CPU per message and, with ``--receipts``, how long until every
receipt reached the sink (each deliver_sm answered after the sink returned).

    PYTHONPATH=src python bench/connector_submit.py --messages 50000 --window 64
    PYTHONPATH=src python bench/connector_submit.py --smsc foreign --messages 5000
    PYTHONPATH=src python bench/connector_submit.py --receipts --binds 2 --long-every 10

``--smsc raw`` (the default) answers with bare struct-packed PDUs, so the figure is the
connector's own ceiling; ``--smsc foreign`` is the test suite's ForeignSmsc (smpplib decoding
every PDU), much slower itself.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any, cast

from smsgate.adapters.carriers.smpp import SmppConnector
from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.models import Accepted, Message
from smsgate.smpp.pdu import DataSm, DeliverSm

SYSTEM_ID = "bench"
PASSWORD = "bench"
_HEADER = struct.Struct(">IIII")
_BINDS = {0x01, 0x02, 0x09}
_SUBMIT_SM, _ENQUIRE_LINK, _UNBIND, _DELIVER_SM = 0x04, 0x15, 0x06, 0x05
_RESP = 0x80000000


def _pdu(command_id: int, sequence: int, body: bytes, status: int = 0) -> bytes:
    return _HEADER.pack(16 + len(body), command_id, status, sequence) + body


def _receipt(message_id: bytes, sequence: int) -> bytes:
    """A deliver_sm receipt (esm_class 4) with receipted_message_id and message_state."""
    text = b"id:" + message_id + b" sub:001 dlvrd:001 stat:DELIVRD err:000 text:"
    body = (
        b"\0" + b"\x01\x01" + b"6591000000\0" + b"\x05\x00" + b"bench\0"
        + bytes((0x04, 0, 0)) + b"\0\0" + bytes((0, 0, 0, 0, len(text))) + text
        + struct.pack(">HH", 0x001E, len(message_id) + 1) + message_id + b"\0"
        + struct.pack(">HHB", 0x0427, 1, 2)
    )  # fmt: skip
    return _pdu(_DELIVER_SM, sequence, body)


class RawSmsc(asyncio.Protocol):
    """Binds anyone, answers every submit_sm at once (one write per read), optionally with a
    receipt right behind its response."""

    def __init__(self, receipts: bool) -> None:
        self._receipts = receipts
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._ids = 0
        self._sequence = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass it

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        at = 0
        end = len(buffer)
        close = False
        while end - at >= 16:
            length, command, _, sequence = _HEADER.unpack_from(buffer, at)
            if end - at < length:
                break
            at += length
            if command == _SUBMIT_SM:
                self._ids += 1
                message_id = b"%x" % self._ids
                out.append(_pdu(_SUBMIT_SM | _RESP, sequence, message_id + b"\0"))
                if self._receipts:
                    self._sequence += 1
                    out.append(_receipt(message_id, self._sequence))
            elif command in _BINDS:
                out.append(_pdu(command | _RESP, sequence, b"RAW\0"))
            elif command in (_ENQUIRE_LINK, _UNBIND):
                out.append(_pdu(command | _RESP, sequence, b""))
                close = command == _UNBIND
        del buffer[:at]
        if out and self._transport is not None:
            self._transport.write(b"".join(out))
        if close and self._transport is not None:
            self._transport.close()


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass


def serve(kind: str, receipts: bool, ready: Any) -> None:
    """The SMSC process: listen, send the port, serve until killed."""
    _install_uvloop()

    async def run() -> None:
        if kind == "raw":
            loop = asyncio.get_running_loop()
            server = await loop.create_server(lambda: RawSmsc(receipts), "127.0.0.1", 0)
            ready.send(server.sockets[0].getsockname()[1])
            await asyncio.Event().wait()
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.peers.smsc import Behaviour, ForeignSmsc

        async with ForeignSmsc({SYSTEM_ID: PASSWORD}) as smsc:
            smsc.behaviour = Behaviour(receipt=Behaviour().receipt if receipts else None)
            ready.send(smsc.port)
            await asyncio.Event().wait()

    asyncio.run(run())


class CountingSink:
    def __init__(self) -> None:
        self.count = 0
        self.done = asyncio.Event()
        self.expected = 0

    async def deliver(self, connector: str, pdu: DeliverSm | DataSm) -> int:  # noqa: ARG002
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        return 0


def messages(count: int, long_every: int) -> list[Message]:
    now = time.time()
    built = []
    for n in range(count):
        long = long_every and n % long_every == 0
        body = f"Your verification code is {n:06d}. " * (6 if long else 1)
        built.append(
            Message(
                id=str(10**15 + n),
                account_id="1",
                to=f"659{n % 10_000_000:07d}",
                sender="Bench",
                body=body,
                encoding="GSM7",
                segments=2 if long else 1,
                country="SG",
                region_code="65",
                region="Singapore",
                network="SingTel",
                msg_type="OTP",
                created_at=now,
            )
        )
    return built


async def bench(args: argparse.Namespace, port: int) -> dict[str, Any]:
    spec = ConnectorSpec(
        name="bench",
        host="127.0.0.1",
        port=port,
        system_id=SYSTEM_ID,
        password_sealed="-",
        binds=args.binds,
        window=args.window,
        tps=args.tps,
    )
    connector = SmppConnector(spec, PASSWORD)
    sink = CountingSink()
    await connector.start(sink)
    await connector.wait_up()
    todo = messages(args.messages, args.long_every)
    sink.expected = sum(2 if m.segments == 2 else 1 for m in todo) if args.receipts else 0
    batches = [todo[at : at + args.batch] for at in range(0, len(todo), args.batch)]
    latencies: list[float] = []
    accepted = 0

    async def caller() -> None:
        nonlocal accepted
        while batches:
            batch = batches.pop()
            began = time.perf_counter()
            outcomes = await connector.submit(batch)
            latencies.append(time.perf_counter() - began)
            accepted += sum(isinstance(o, Accepted) for o in outcomes)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(args.callers)))
    submitted_s = time.perf_counter() - wall0
    receipts_s = None
    if args.receipts:
        await asyncio.wait_for(sink.done.wait(), 60)
        receipts_s = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    await connector.close()
    latencies.sort()
    return {
        "accepted": accepted,
        "submitted_s": submitted_s,
        "receipts_s": receipts_s,
        "receipts": sink.count,
        "cpu_us_per_message": cpu / args.messages * 1e6,
        "batch_p50_ms": statistics.median(latencies) * 1000,
        "batch_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smsc", choices=("raw", "foreign"), default="raw")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--binds", type=int, default=1)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--tps", type=float, default=0.0)
    parser.add_argument("--batch", type=int, default=256, help="messages per submit() call")
    parser.add_argument("--callers", type=int, default=4, help="concurrent submit() callers")
    parser.add_argument("--receipts", action="store_true", help="a receipt for every part")
    parser.add_argument("--long-every", type=int, default=0, help="every Nth message: 2 parts")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    server = context.Process(target=serve, args=(args.smsc, args.receipts, send), daemon=True)
    server.start()
    try:
        port = receive.recv()
        _install_uvloop()
        result = asyncio.run(bench(args, port))
    finally:
        server.terminate()
        server.join()
    rate = result["accepted"] / result["submitted_s"]
    print(
        f"smsc={args.smsc} binds={args.binds} window={args.window} batch={args.batch} "
        f"callers={args.callers} tps={args.tps:g} long_every={args.long_every}"
    )
    print(
        f"accepted {result['accepted']}/{args.messages} in {result['submitted_s']:.2f} s: "
        f"{rate:,.0f} messages/s; submit() call p50 {result['batch_p50_ms']:.1f} ms, "
        f"p99 {result['batch_p99_ms']:.1f} ms; connector CPU "
        f"{result['cpu_us_per_message']:.1f} us/message"
    )
    if result["receipts_s"] is not None:
        print(
            f"receipts {result['receipts']} in {result['receipts_s']:.2f} s: "
            f"{result['receipts'] / result['receipts_s']:,.0f}/s through the sink"
        )


if __name__ == "__main__":
    main()
