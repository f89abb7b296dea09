"""SessionPair: an ESME session and an SMSC session joined in memory, with one fake clock.

Like h11's ``ConnectionPair`` and aioquic's ``roundtrip``: what one side queues in
``data_to_send()`` is fed to the other's ``receive_data()`` (whole, or ``chunk`` bytes at a
time), so both roles are tested byte for byte without sockets, timers or tasks. Nothing here
decides for a driver: tests answer binds and requests themselves, or use :meth:`SessionPair.bind`.

The "connection" drops once a side is CLOSED and its last bytes have been delivered: later bytes
from either side are lost, as they would be on a closed socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smsgate.smpp.codec import PduReader
from smsgate.smpp.events import BindRequested, Event
from smsgate.smpp.pdu import Pdu
from smsgate.smpp.session import BindKind, Role, SessionState, SmppSession

__all__ = ["Delivery", "SessionPair", "decode_all"]

SMSC_SYSTEM_ID = "smsgate"


def decode_all(data: bytes) -> list[Pdu]:
    """Every PDU in ``data``, which must hold whole PDUs only."""
    reader = PduReader()
    reader.feed(data)
    pdus = list(reader)
    assert reader.buffered == 0, "a PDU was cut short"
    return pdus


@dataclass(frozen=True)
class Delivery:
    """What one :meth:`SessionPair.send` moved: the PDUs on the wire and the peer's events."""

    pdus: list[Pdu]
    events: list[Event]


class SessionPair:
    """An ESME and an SMSC session connected back to back; ``now`` is the shared clock."""

    def __init__(
        self,
        *,
        now: float = 0.0,
        chunk: int | None = None,
        esme: dict[str, Any] | None = None,
        smsc: dict[str, Any] | None = None,
        **common: Any,
    ) -> None:
        self.now = now
        self.chunk = chunk
        self.esme = SmppSession(Role.ESME, now=now, **common, **(esme or {}))
        self.smsc = SmppSession(Role.SMSC, now=now, **common, **(smsc or {}))
        #: Every PDU that crossed, in order, with its sender.
        self.wire: list[tuple[Role, Pdu]] = []
        self.connected = True

    def session(self, role: Role) -> SmppSession:
        return self.esme if role is Role.ESME else self.smsc

    # --- moving bytes -----------------------------------------------------------------------

    def send(self, sender: Role) -> Delivery:
        """Move ``sender``'s queued bytes to its peer and drain the peer's events (after each
        chunk, as a driver reading the socket would)."""
        source, peer = self.session(sender), self.session(sender.peer)
        data = source.data_to_send()
        if not self.connected:
            return Delivery([], [])
        pdus = decode_all(data)
        self.wire.extend((sender, pdu) for pdu in pdus)
        size = self.chunk or max(len(data), 1)
        events: list[Event] = []
        for start in range(0, len(data), size):
            peer.receive_data(data[start : start + size], self.now)
            events += self.events(sender.peer)
        if source.state is SessionState.CLOSED:
            self.connected = False
        return Delivery(pdus, events)

    def esme_sends(self) -> Delivery:
        return self.send(Role.ESME)

    def smsc_sends(self) -> Delivery:
        return self.send(Role.SMSC)

    def events(self, role: Role) -> list[Event]:
        """Drain ``role``'s pending events."""
        session = self.session(role)
        events = []
        while (event := session.next_event()) is not None:
            events.append(event)
        return events

    def settle(self) -> dict[Role, list[Event]]:
        """Move bytes both ways until neither side has any to send; each side's events."""
        got: dict[Role, list[Event]] = {Role.ESME: [], Role.SMSC: []}
        moved = True
        while moved:
            moved = False
            for sender in (Role.ESME, Role.SMSC):
                delivery = self.send(sender)
                got[sender.peer] += delivery.events
                moved = moved or bool(delivery.pdus)
        return got

    # --- time -------------------------------------------------------------------------------

    def advance(self, seconds: float) -> dict[Role, list[Event]]:
        """Move the shared clock and fire both sessions' timers; each side's events."""
        self.now += seconds
        got = {}
        for role in (Role.ESME, Role.SMSC):
            self.session(role).handle_timer(self.now)
            got[role] = self.events(role)
        return got

    # --- shortcuts --------------------------------------------------------------------------

    def bind(
        self,
        kind: BindKind = BindKind.TRANSCEIVER,
        system_id: str = "acme",
        password: str = "secret",
        *,
        accept: bool = True,
        status: int = 0x0D,  # ESME_RBINDFAIL
    ) -> list[Event]:
        """The ESME binds as ``kind``; the SMSC accepts (or rejects with ``status``). Returns
        the ESME's events: [BindAccepted] or [BindRejected]."""
        self.esme.send_bind(kind, system_id, password, now=self.now)
        (requested,) = self.esme_sends().events
        assert isinstance(requested, BindRequested)
        if accept:
            self.smsc.accept_bind(requested.pdu, SMSC_SYSTEM_ID)
        else:
            self.smsc.reject_bind(requested.pdu, status)
        return self.smsc_sends().events
