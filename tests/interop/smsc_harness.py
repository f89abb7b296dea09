"""The standalone SMSC (``SimulatorSmsc``) on an event loop of its own thread, and smpplib
clients in the test's thread talking to it over real TCP on loopback.

smpplib is blocking, so the SMSC runs beside it: :meth:`Harness.start` starts one on a free
port, :meth:`Harness.call` runs a function on its loop (to inject MO messages, read counters)
and :meth:`Harness.wait` awaits one of its coroutines. Every client read has a timeout, so a
missing PDU fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.smpp

from smsgate.adapters.carriers.simulator_smsc import SimulatorSmsc, SmscSettings

T = TypeVar("T")

TIMEOUT_S = 5.0
RECEIPT_RE = re.compile(
    r"id:(?P<id>[0-9a-f]+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:(?P<submit>\d{10}) "
    r"done date:(?P<done>\d{10}) stat:(?P<stat>[A-Z]{7}) err:(?P<err>\d{3}) text:(?P<text>.*)"
)


class Harness:
    """Simulators on a background loop; stopped, with the loop, by :meth:`close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._started: list[SimulatorSmsc] = []
        self.clients: list[smpplib.client.Client] = []

    def start(self, settings: SmscSettings | None = None, first_id: int = 1000) -> SimulatorSmsc:
        smsc = SimulatorSmsc(settings, first_id=first_id)
        self.wait(smsc.start())
        self._started.append(smsc)
        return smsc

    def wait(self, coro: Coroutine[Any, Any, T], timeout: float = TIMEOUT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return fn(*args, **kwargs)

        return self.wait(run())

    def connect(self, smsc: SimulatorSmsc) -> smpplib.client.Client:
        client = smpplib.client.Client(
            "127.0.0.1", smsc.port, timeout=TIMEOUT_S, allow_unknown_opt_params=True
        )
        client.connect()
        self.clients.append(client)
        return client

    def bind(
        self,
        smsc: SimulatorSmsc,
        mode: str = "transceiver",
        system_id: str = "acme",
        password: str = "s3cret",
    ) -> smpplib.client.Client:
        client = self.connect(smsc)
        getattr(client, f"bind_{mode}")(system_id=system_id, password=password)
        return client

    def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):  # a test may have closed it already
                client.disconnect()
        for smsc in self._started:
            self.wait(smsc.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT_S)
        self.loop.close()


def expect(client: smpplib.client.Client, command: str) -> smpplib.command.Command:
    """The next PDU, which must be ``command`` (enquire_links are answered on the way)."""
    while True:
        pdu = client.read_pdu()
        if pdu.command == "enquire_link":
            answer(client, pdu, "enquire_link_resp")
            continue
        assert pdu.command == command, f"expected {command}, got {pdu.command}"
        return pdu


def answer(
    client: smpplib.client.Client, pdu: smpplib.command.Command, command: str, status: int = 0
) -> None:
    resp = smpplib.smpp.make_pdu(command, client=client, status=status)
    resp.sequence = pdu.sequence
    client.send_pdu(resp)


def submit(
    client: smpplib.client.Client,
    to: str,
    text: bytes = b"Your code is 1234",
    registered_delivery: int = 1,
    **fields: object,
) -> smpplib.command.Command:
    """submit_sm from the sender ID "Acme" to ``to``; its submit_sm_resp."""
    sent = client.send_message(
        source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
        source_addr="Acme",
        dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
        dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
        destination_addr=to,
        short_message=text,
        registered_delivery=registered_delivery,
        **fields,
    )
    resp = expect(client, "submit_sm_resp")
    assert resp.sequence == sent.sequence
    return resp


def deliver(client: smpplib.client.Client, status: int = 0) -> smpplib.command.Command:
    """The next deliver_sm, answered with ``status``."""
    pdu = expect(client, "deliver_sm")
    answer(client, pdu, "deliver_sm_resp", status)
    return pdu


def text_of(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def receipt_fields(pdu: smpplib.command.Command) -> dict[str, str]:
    """The Appendix B fields of a receipt's text (which must match the format)."""
    match = RECEIPT_RE.fullmatch(text_of(pdu.short_message))
    assert match is not None, pdu.short_message
    return match.groupdict()
