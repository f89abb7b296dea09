"""Load benchmark: windowed submit_sm over N SMPP transceiver binds, counting delivery receipts.

Starts ``smsgate serve`` on a fresh data directory (unless ``--endpoint`` is given), creates an
account with SMPP credentials, then sends ``--messages`` submit_sm over ``--binds``
bind_transceiver connections, keeping ``--window`` of them unanswered per bind (optionally paced
to ``--rate`` submits/s overall). Every deliver_sm is answered at once; receipts (esm_class bit
2) are matched by ``receipted_message_id`` (or the ``id:`` of their text) to the message ids of
the submit_sm_resp. Prints accepted submits/s, latency percentiles, answers by command_status,
receipts received / expected, and the server's memory and CPU.

    python3 dev.py bench-smpp --messages 100000 --binds 4 --window 64
    python3 dev.py bench-smpp --messages 50000 --rate 3000 --no-receipts

The generator uses the repo's sans-IO codec (:mod:`smsgate.smpp.codec`) on raw asyncio
Protocols, and encodes every submit_sm before the clock starts, because it shares the machine's
cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import RawArray
from pathlib import Path
from typing import Any, cast

import http_send
from http_send import (
    children_cpu_seconds,
    cpu_seconds,
    create_account,
    lift_number_limits,
    rss_mb,
)

from smsgate.smpp.codec import NEED_DATA, PduReader, encode
from smsgate.smpp.constants import CommandId, CommandStatus, TlvTag
from smsgate.smpp.errors import InvalidCommandLengthError, SmppDecodeError
from smsgate.smpp.pdu import (
    BindTransceiver,
    DeliverSm,
    DeliverSmResp,
    EnquireLinkResp,
    SubmitSm,
    Unbind,
    UnbindResp,
)

SYSTEM_ID = "bench"
PASSWORD = "bench"  # a throwaway account on a throwaway server
TEXT = "Your verification code is "  # + 6 digits: 32 GSM-7 septets, one segment
_RECEIPT_BIT = 0x04  # esm_class: SMSC delivery receipt (§5.2.12)
_STAT_SLOTS = 3  # per process in the shared array: accepted, receipts, submits done at

_SUBMIT_SM_RESP = CommandId.SUBMIT_SM_RESP
_GENERIC_NACK = CommandId.GENERIC_NACK
_DELIVER_SM = CommandId.DELIVER_SM
_ENQUIRE_LINK = CommandId.ENQUIRE_LINK
_BIND_RESP = CommandId.BIND_TRANSCEIVER_RESP
_UNBIND = CommandId.UNBIND
_UNBIND_RESP = CommandId.UNBIND_RESP


def destination(i: int) -> str:
    """Valid Singapore mobiles, a million of them, so per-number throttles never refuse."""
    return f"659{1 + (i * 7919) % 8}{(i * 104_729) % 1_000_000:06d}"


def _with_seq(template: bytes, seq: int) -> bytes:
    """``template`` (a PDU encoded with sequence_number 0) with its sequence number set."""
    return template[:12] + seq.to_bytes(4, "big") + template[16:]


def encode_submits(first: int, count: int, registered_delivery: int) -> list[bytes]:
    """submit_sm number ``first + k`` with sequence_number ``k + 1``, for k in range(count).

    One PDU goes through :func:`encode`; the others patch its sequence number, destination and
    code, which keep their sizes (a check below compares a few with ``encode``).
    """

    def pdu(i: int, seq: int) -> SubmitSm:
        return SubmitSm(
            sequence_number=seq,
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=destination(i),
            registered_delivery=registered_delivery,
            data_coding=0,
            short_message=f"{TEXT}{i % 1_000_000:06d}".encode(),
        )

    template = encode(pdu(0, 0))
    dest_at = template.index(destination(0).encode(), 16)
    head, mid, tail = template[:12], template[16:dest_at], template[dest_at + 10 : -6]
    out = [
        b"".join(
            (
                head,
                (k + 1).to_bytes(4, "big"),
                mid,
                destination(i).encode(),
                tail,
                b"%06d" % (i % 1_000_000),
            )
        )
        for k, i in enumerate(range(first, first + count))
    ]
    for k in {0, count // 2, count - 1} if count else ():
        assert out[k] == encode(pdu(first + k, k + 1)), "submit_sm template out of step"
    return out


def receipt_id(pdu: DeliverSm) -> str | None:
    """The receipted message id: the TLV (§5.3.2.12) or the text's ``id:`` (Appendix B)."""
    with contextlib.suppress(SmppDecodeError):
        value = pdu.tlv_str(TlvTag.RECEIPTED_MESSAGE_ID)
        if value:
            return value
    text = pdu.short_message or (pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD) or b"")
    at = text.find(b"id:")
    if at < 0:
        return None
    return text[at + 3 :].split(b" ", 1)[0].decode("latin-1")


def receipt_stat(pdu: DeliverSm) -> str:
    text = pdu.short_message or (pdu.tlv_bytes(TlvTag.MESSAGE_PAYLOAD) or b"")
    at = text.find(b"stat:")
    return "?" if at < 0 else text[at + 5 :].split(b" ", 1)[0].decode("latin-1")


@dataclass
class Run:
    """One generator process's state, shared by its binds."""

    pdus: list[bytes]
    window: int
    rate_per_bind: float  # 0: unlimited
    want_ids: bool
    sent_at: list[float]
    latency: list[float]
    next: int = 0
    answered: int = 0
    t0: float = 0.0
    first_submit: float = 0.0
    last_response: float = 0.0
    last_activity: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    accepted_ids: list[str] = field(default_factory=list)
    submitted_at: dict[str, float] = field(default_factory=dict)  # accepted id -> its submit
    receipt_latency: list[float] = field(default_factory=list)  # submit to receipt, seconds
    receipt_ids: set[str] = field(default_factory=set)
    duplicate_receipts: int = 0
    receipts_without_id: int = 0
    receipt_stats: Counter[str] = field(default_factory=Counter)
    first_receipt: float = 0.0
    last_receipt: float = 0.0
    other_deliver_sm: int = 0
    decode_errors: int = 0
    stray_responses: int = 0
    enquire_links: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


_DELIVER_SM_RESP = encode(DeliverSmResp(sequence_number=0))
_ENQUIRE_LINK_RESP = encode(EnquireLinkResp(sequence_number=0))
_UNBIND_RESP_PDU = encode(UnbindResp(sequence_number=0))


class Bind(asyncio.Protocol):
    """One bind_transceiver: writes submit_sm in batches up to the window, answers the SMSC."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.reader = PduReader()
        self.transport: asyncio.Transport | None = None
        self.outstanding = 0
        self.sent = 0
        self.submitting = False
        self.timer: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()
        self.bound: asyncio.Future[int] = self.loop.create_future()
        self.unbound: asyncio.Future[None] = self.loop.create_future()
        self.lost: asyncio.Future[None] = self.loop.create_future()

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.transport = None
        self.submitting = False
        if not self.bound.done():
            self.bound.set_result(-1)
        for fut in (self.unbound, self.lost):
            if not fut.done():
                fut.set_result(None)
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        run = self.run
        reader = self.reader
        reader.feed(data)
        now = time.perf_counter()
        run.last_activity = now
        replies: list[bytes] = []
        answered = 0
        while True:
            try:
                pdu = reader.next_pdu()
            except InvalidCommandLengthError:
                run.decode_errors += 1
                self.close()
                return
            except SmppDecodeError:
                run.decode_errors += 1
                continue
            if pdu is NEED_DATA:
                break
            cid = pdu.command_id
            if cid in (_SUBMIT_SM_RESP, _GENERIC_NACK):
                k = pdu.sequence_number - 1
                if not 0 <= k < run.next or run.latency[k] >= 0:
                    run.stray_responses += 1  # a nack of something else, or a second answer
                    continue
                run.latency[k] = now - run.sent_at[k]
                status = pdu.command_status
                run.statuses[status] += 1
                if status == 0 and run.want_ids:
                    message_id = pdu.message_id  # type: ignore[attr-defined]
                    run.accepted_ids.append(message_id)
                    run.submitted_at[message_id] = run.sent_at[k]
                answered += 1
            elif cid == _DELIVER_SM:
                replies.append(_with_seq(_DELIVER_SM_RESP, pdu.sequence_number))
                self._deliver(cast(DeliverSm, pdu), now)
            elif cid == _ENQUIRE_LINK:
                replies.append(_with_seq(_ENQUIRE_LINK_RESP, pdu.sequence_number))
                run.enquire_links += 1
            elif cid == _BIND_RESP:
                if not self.bound.done():
                    self.bound.set_result(pdu.command_status)
            elif cid == _UNBIND:
                replies.append(_with_seq(_UNBIND_RESP_PDU, pdu.sequence_number))
                self.submitting = False
            elif cid == _UNBIND_RESP and not self.unbound.done():
                self.unbound.set_result(None)
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))
        if answered:
            self.outstanding -= answered
            run.answered += answered
            run.last_response = now
            if run.answered == len(run.pdus):
                run.done.set()
            self.pump()

    def _deliver(self, pdu: DeliverSm, now: float) -> None:
        run = self.run
        if not pdu.esm_class & _RECEIPT_BIT:
            run.other_deliver_sm += 1
            return
        if not run.first_receipt:
            run.first_receipt = now
        run.last_receipt = now
        run.receipt_stats[receipt_stat(pdu)] += 1
        message_id = receipt_id(pdu)
        if message_id is None:
            run.receipts_without_id += 1
        elif message_id in run.receipt_ids:
            run.duplicate_receipts += 1
        else:
            run.receipt_ids.add(message_id)
            submitted = run.submitted_at.get(message_id)
            if submitted is not None:  # else the receipt came before its submit_sm_resp
                run.receipt_latency.append(now - submitted)

    # --- sending ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def pump(self) -> None:
        """Fill the window with the process's next submit_sm, as far as ``--rate`` allows."""
        if not self.submitting or self.transport is None:
            return
        run = self.run
        n = min(run.window - self.outstanding, len(run.pdus) - run.next)
        if n <= 0:
            return
        now = time.perf_counter()
        if run.rate_per_bind:
            due = int((now - run.t0) * run.rate_per_bind) + 1 - self.sent
            if due < n:
                n = max(due, 0)
                if self.timer is None:
                    at = run.t0 + (self.sent + n) / run.rate_per_bind
                    self.timer = self.loop.call_later(max(0.0, at - now), self._tick)
            if n <= 0:
                return
        start = run.next
        end = start + n
        run.next = end
        self.transport.write(b"".join(run.pdus[start:end]))
        run.sent_at[start:end] = [now] * n
        if not run.first_submit:
            run.first_submit = now
        self.outstanding += n
        self.sent += n

    def _tick(self) -> None:
        self.timer = None
        self.pump()


async def bind(host: str, port: int, run: Run, system_id: str, password: str, seq: int) -> Bind:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: Bind(run), host, port)
    proto.write(
        encode(BindTransceiver(sequence_number=seq, system_id=system_id, password=password))
    )
    status = await asyncio.wait_for(proto.bound, 30)
    if status != 0:
        name = CommandStatus(status).name if status in CommandStatus._value2member_map_ else ""
        raise SystemExit(f"bind_transceiver refused: 0x{status:08x} {name}".rstrip())
    return proto


@dataclass
class WorkerArgs:
    host: str
    port: int
    system_id: str
    password: str
    first: int  # global index of this process's first message
    count: int
    binds: int
    window: int
    rate_per_bind: float
    receipts: bool
    stall_timeout: float


def worker(
    index: int, wa: WorkerArgs, shared: Any, out: multiprocessing.Queue[dict[str, Any]]
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out.put(asyncio.run(work(index, wa, shared)))


async def work(index: int, wa: WorkerArgs, shared: Any) -> dict[str, Any]:
    """Bind, submit everything, wait for the main process's stop flag, unbind; the results."""
    base = 1 + index * _STAT_SLOTS
    pdus = encode_submits(wa.first, wa.count, 1 if wa.receipts else 0)
    run = Run(
        pdus=pdus,
        window=wa.window,
        rate_per_bind=wa.rate_per_bind,
        want_ids=wa.receipts,
        sent_at=[0.0] * wa.count,
        latency=[-1.0] * wa.count,
    )
    binds = [
        await bind(wa.host, wa.port, run, wa.system_id, wa.password, wa.count + 1 + b)
        for b in range(wa.binds)
    ]
    cpu_start = time.process_time()
    run.t0 = run.last_activity = time.perf_counter()
    for b in binds:
        b.submitting = True
        b.pump()
    if not wa.count:
        run.done.set()
    stalled = False
    cpu_submits = 0.0
    while True:  # publish counters every 50 ms; stop when told to, or when the links are gone
        if run.done.is_set():
            await asyncio.sleep(0.05)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.done.wait(), 0.05)
        shared[base] = len(run.accepted_ids)
        shared[base + 1] = len(run.receipt_ids)
        now = time.perf_counter()
        if run.done.is_set() and not shared[base + 2]:
            shared[base + 2] = run.last_response or now
            cpu_submits = time.process_time() - cpu_start
        if shared[0] or all(b.transport is None for b in binds):
            break
        if not run.done.is_set() and now - run.last_activity > wa.stall_timeout:
            stalled = True
            break
        if run.done.is_set() and not wa.receipts:
            break
    if not shared[base + 2]:
        shared[base + 2] = run.last_response or time.perf_counter()
        cpu_submits = time.process_time() - cpu_start
    cpu = time.process_time() - cpu_start
    for k, b in enumerate(binds):
        b.submitting = False
        b.write(encode(Unbind(sequence_number=wa.count + 1 + wa.binds + k)))
    waits = [asyncio.wait([b.unbound, b.lost], return_when=asyncio.FIRST_COMPLETED) for b in binds]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*waits), 5)
    for b in binds:
        b.close()
    return {
        "latency": [v for v in run.latency if v >= 0],
        "unanswered": wa.count - run.answered,
        "unsent": wa.count - run.next,
        "statuses": run.statuses,
        "first_submit": run.first_submit,
        "last_response": run.last_response,
        "accepted_ids": run.accepted_ids,
        "receipt_ids": run.receipt_ids,
        "receipt_latency": run.receipt_latency,
        "duplicate_receipts": run.duplicate_receipts,
        "receipts_without_id": run.receipts_without_id,
        "receipt_stats": run.receipt_stats,
        "first_receipt": run.first_receipt,
        "last_receipt": run.last_receipt,
        "other_deliver_sm": run.other_deliver_sm,
        "decode_errors": run.decode_errors,
        "stray_responses": run.stray_responses,
        "enquire_links": run.enquire_links,
        "stalled": stalled,
        "cpu": cpu,
        "cpu_submits": cpu_submits,
    }


# --- server and account ---------------------------------------------------------------------------


def start_server(
    data_dir: Path, durability: str, workers: int = 1, extra_config: str = ""
) -> tuple[subprocess.Popen[str], int]:
    """``smsgate serve`` on ports the OS picks; the process and its SMPP port."""
    proc, line = http_send.start_server(
        data_dir,
        0,
        durability,
        ("--smpp-port", "0", "--workers", str(workers)),
        ready="SMPP 3.4 listening on",
        extra_config=extra_config,
    )
    return proc, int(line.rsplit(":", 1)[1])


def add_smpp_credentials(data_dir: Path, account_id: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "smsgate.cli",
            "smpp",
            "add",
            account_id,
            "--system-id",
            SYSTEM_ID,
            "--password",
            PASSWORD,
            "--data-dir",
            str(data_dir),
            "--json",
        ],
        capture_output=True,
        check=True,
    )


# --- report ---------------------------------------------------------------------------------------


def status_name(status: int) -> str:
    if status in CommandStatus._value2member_map_:
        return CommandStatus(status).name
    return "ESME_RINVDCS" if status == 0x104 else "?"


def match_receipts(accepted: set[str], received: set[str]) -> tuple[int, set[str], set[str]]:
    """Receipts matching accepted ids, the accepted ids with none, and the unknown receipt ids.

    An id that matches nothing is tried again read as hex, as some SMSCs print it so."""
    matched = accepted & received
    unknown = received - accepted
    for rid in list(unknown):
        with contextlib.suppress(ValueError):
            if str(int(rid, 16)) in accepted and str(int(rid, 16)) not in matched:
                matched.add(str(int(rid, 16)))
                unknown.discard(rid)
    return len(matched), accepted - matched, unknown


def report(
    args: argparse.Namespace,
    results: Sequence[dict[str, Any]],
    server_cpu: tuple[float, float] | None,
    rss: list[float],
    children_cpu: float = 0.0,
) -> None:
    latencies: list[float] = sorted(v for r in results for v in r["latency"])
    statuses: Counter[int] = Counter()
    receipt_stats: Counter[str] = Counter()
    for r in results:
        statuses.update(r["statuses"])
        receipt_stats.update(r["receipt_stats"])
    starts = [r["first_submit"] for r in results if r["first_submit"]]
    ends = [r["last_response"] for r in results if r["last_response"]]
    first, last = (min(starts), max(ends)) if starts and ends else (0.0, 0.0)
    elapsed = max(last - first, 1e-9)
    ok = statuses.get(0, 0)
    unanswered = sum(r["unanswered"] for r in results)
    gen_cpu = sum(r["cpu"] for r in results)
    gen_cpu_submits = sum(r["cpu_submits"] for r in results)

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    rate = f"{args.rate:,.0f}/s" if args.rate else "unlimited"
    print(
        f"setup         {args.binds} binds x window {args.window}, {args.processes} process(es), "
        f"rate {rate}, receipts {'on' if args.receipts else 'off'}"
        + ("" if args.endpoint else f", durability={args.durability}")
    )
    print(f"submits       {len(latencies)} answered in {elapsed:.2f} s, {unanswered} unanswered")
    print(f"accepted/s    {ok / elapsed:,.0f}  (first submit to last response)")
    if latencies:
        print(
            f"latency ms    p50 {q(0.50):.1f}  p90 {q(0.90):.1f}  p99 {q(0.99):.1f}  "
            f"max {latencies[-1] * 1000:.1f}"
        )
    answers = ", ".join(
        f"0x{s:08x} {status_name(s)} {n}" for s, n in sorted(statuses.items(), key=lambda x: x[0])
    )
    print(f"answers       {answers or '-'}")
    if args.receipts:
        accepted = {i for r in results for i in r["accepted_ids"]}
        received: set[str] = set()
        for r in results:
            received |= r["receipt_ids"]
        matched, missing, unknown = match_receipts(accepted, received)
        firsts = [r["first_receipt"] for r in results if r["first_receipt"]]
        lasts = [r["last_receipt"] for r in results if r["last_receipt"]]
        line = f"receipts      {matched} / {len(accepted)} expected"
        if lasts:
            span = max(max(lasts) - min(firsts), 1e-9)
            line += (
                f", {len(received) / span:,.0f}/s; last one {max(lasts) - last:.2f} s after "
                f"the last response ({max(lasts) - first:.2f} s after the first submit)"
            )
        print(line)
        if lasts:
            end_to_end = max(max(lasts) - first, 1e-9)
            waits = sorted(v for r in results for v in r["receipt_latency"])

            def w(p: float) -> float:
                return waits[min(len(waits) - 1, int(p * len(waits)))] * 1000 if waits else 0.0

            print(
                f"end to end    {matched / end_to_end:,.0f} messages/s with their receipts "
                f"(first submit to last receipt); submit to receipt ms p50 {w(0.5):.0f}  "
                f"p90 {w(0.9):.0f}  p99 {w(0.99):.0f}  max {w(1.0):.0f}"
            )
        extra = {
            "missing": len(missing),
            "unknown ids": len(unknown),
            "duplicates": sum(r["duplicate_receipts"] for r in results),
            "without id": sum(r["receipts_without_id"] for r in results),
            "other deliver_sm": sum(r["other_deliver_sm"] for r in results),
        }
        print("              " + ", ".join(f"{k} {v}" for k, v in extra.items()))
        if missing:
            print(f"              missing e.g. {sorted(missing)[:3]}")
        if unknown:
            print(f"              unknown e.g. {sorted(unknown)[:3]}")
        if receipt_stats:
            print(f"receipt stat  {dict(receipt_stats)}")
    problems = {
        "decode errors": sum(r["decode_errors"] for r in results),
        "stray responses": sum(r["stray_responses"] for r in results),
        "stalled processes": sum(1 for r in results if r["stalled"]),
        "unsent": sum(r["unsent"] for r in results),
    }
    if any(problems.values()):
        print(f"problems      {problems}")
    if server_cpu is not None:
        total, submitting = server_cpu
        per = total / max(len(latencies), 1) * 1e6
        print(
            f"server CPU    {total:.1f} s = {per:.0f} us per message; {submitting:.1f} s until "
            f"the last response ({submitting / elapsed * 100:.0f}% of one core)"
        )
    if children_cpu:
        per = children_cpu / max(len(latencies), 1) * 1e6
        print(f"child CPU     {children_cpu:.1f} s = {per:.0f} us per message (connector process)")
    if rss:
        step = max(1, len(rss) // 10)
        print(f"server RSS MB {' '.join(f'{v:.0f}' for v in rss[::step])} (end {rss[-1]:.0f})")
    print(
        f"generator CPU {gen_cpu:.1f} s; {gen_cpu_submits:.1f} s until the last response = "
        f"{gen_cpu_submits / max(len(latencies), 1) * 1e6:.0f} us per message "
        f"({gen_cpu_submits / elapsed * 100:.0f}% of one core)"
    )


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=64, help="submit_sm unanswered per bind")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=0, help="submits/s overall (0: unlimited)")
    parser.add_argument("--processes", type=int, default=1, help="load-generator processes")
    parser.add_argument("--durability", default="full", choices=["full", "normal"])
    parser.add_argument(
        "--receipts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask for delivery receipts (registered_delivery 1) and wait for them",
    )
    parser.add_argument(
        "--receipt-timeout", type=float, default=60, help="s to wait for receipts after the submits"
    )
    parser.add_argument(
        "--stall-timeout", type=float, default=30, help="s without any answer before giving up"
    )
    parser.add_argument(
        "--no-number-limits",
        action="store_true",
        help="switch off the account's per-number daily limits (no per-number state)",
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="as in bench/http_send.py")
    parser.add_argument("--redis", metavar="URL", help="as in bench/http_send.py")
    parser.add_argument("--server-config", default="", help="TOML added to the server's")
    parser.add_argument("--endpoint", help="host:port of a running SMPP server")
    parser.add_argument("--system-id", default=SYSTEM_ID, help="with --endpoint")
    parser.add_argument("--password", default=PASSWORD, help="with --endpoint")
    args = parser.parse_args()
    if not 1 <= args.processes <= args.binds:
        parser.error("--processes must be between 1 and --binds")

    tmp = Path(tempfile.mkdtemp(prefix="smsgate-bench-"))
    server = None
    database = http_send.scale_out_environment(args)
    try:
        if args.endpoint:
            host, port_text = args.endpoint.rsplit(":", 1)
            port = int(port_text)
        else:
            data_dir = tmp / "data"
            account_id, _, _ = create_account(data_dir)
            add_smpp_credentials(data_dir, account_id)
            if args.no_number_limits:
                lift_number_limits(data_dir, account_id)
            server, port = start_server(data_dir, args.durability, args.workers, args.server_config)
            host = "127.0.0.1"
        drive(args, host, port, None if server is None else server.pid)
    finally:
        if server is not None:
            server.terminate()
            server.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
        if database is not None:
            http_send.drop_database(*database)


def drive(args: argparse.Namespace, host: str, port: int, server_pid: int | None) -> None:
    """Run the generator processes against ``host:port`` and print the report; the server's
    CPU and memory are measured when its ``server_pid`` is given. ``args`` are this script's
    (binds, window, messages, rate, processes, receipts and the timeouts, system_id, password)."""
    shared = RawArray("d", 1 + _STAT_SLOTS * args.processes)
    out: multiprocessing.Queue[dict[str, Any]] = multiprocessing.Queue()
    procs = []
    first = 0
    for p in range(args.processes):
        count = args.messages // args.processes + (p < args.messages % args.processes)
        binds = args.binds // args.processes + (p < args.binds % args.processes)
        wa = WorkerArgs(
            host=host,
            port=port,
            system_id=args.system_id,
            password=args.password,
            first=first,
            count=count,
            binds=binds,
            window=args.window,
            rate_per_bind=args.rate / args.binds,
            receipts=args.receipts,
            stall_timeout=args.stall_timeout,
        )
        procs.append(multiprocessing.Process(target=worker, args=(p, wa, shared, out)))
        first += count
    rss: list[float] = []
    cpu_before = cpu_seconds(server_pid) if server_pid is not None else 0.0
    children_before = children_cpu_seconds(server_pid) if server_pid is not None else 0.0
    cpu_submitting: float | None = None
    for proc in procs:
        proc.start()
    results: list[dict[str, Any]] = []
    next_sample = 0.0
    while len(results) < len(procs):
        with contextlib.suppress(Exception):
            results.append(out.get(timeout=0.05))
        now = time.perf_counter()
        if server_pid is not None and now >= next_sample:
            rss.append(rss_mb(server_pid))
            next_sample = now + 1.0
        slots = [shared[1 + i * _STAT_SLOTS : 1 + (i + 1) * _STAT_SLOTS] for i in range(len(procs))]
        if all(s[2] for s in slots):
            if cpu_submitting is None and server_pid is not None:
                cpu_submitting = cpu_seconds(server_pid) - cpu_before
            accepted = sum(s[0] for s in slots)
            receipts = sum(s[1] for s in slots)
            last_submit = max(s[2] for s in slots)
            if receipts >= accepted or now - last_submit > args.receipt_timeout:
                shared[0] = 1.0
        if any(not proc.is_alive() and proc.exitcode for proc in procs):
            shared[0] = 1.0
            if out.empty() and all(not proc.is_alive() for proc in procs):
                break
    for proc in procs:
        proc.join(10)
    server_cpu = None
    children = 0.0
    if server_pid is not None:
        total = cpu_seconds(server_pid) - cpu_before
        server_cpu = (total, total if cpu_submitting is None else cpu_submitting)
        children = children_cpu_seconds(server_pid) - children_before
    if len(results) < len(procs):
        print(f"{len(procs) - len(results)} generator process(es) failed", file=sys.stderr)
    if results:
        report(args, results, server_cpu, rss, children)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
