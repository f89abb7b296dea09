"""Roles, session states and what each role may send and receive in each state (§2.3, table 2-1).

Like h11's ``_state.py``, the rules are tables rather than code, one per role: the same session
(:class:`~smsgate.smpp.session.SmppSession`) plays the SMSC (the SMPP door, the simulator) or the
ESME (a connector to a carrier) by picking its role's row of each table.

- :data:`REQUEST_STATES`: requests a role may *receive*, and the states allowing them. Outside
  them the answer is ESME_RALYBND for a bind while bound, ESME_RINVBNDSTS otherwise; a command the
  role never receives (deliver_sm at an SMSC, bind_* or submit_sm at an ESME) gets ESME_RINVCMDID.
- :data:`RESPONSE_STATES`: responses a role may receive; outside them a generic_nack
  ESME_RINVBNDSTS, and ESME_RINVCMDID for a response to nothing that role sends (§4.3).
- :data:`SEND_STATES`: requests the driver may send with ``send_request``. Binds, unbind, outbind
  and enquire_link have methods or timers of their own.

Table 2-1 lets enquire_link only in bound states; both roles also answer it before a bind (and
an ESME while its bind waits for an answer), since a peer probing the link early is harmless.
UNBOUND ("our unbind sent") still takes answers to requests sent before the unbind, and the
peer's own unbind when both sides unbind at once.
"""

from __future__ import annotations

import enum
from typing import Final

from smsgate.smpp.constants import CommandId

__all__ = [
    "BOUND_STATE",
    "REQUEST_STATES",
    "RESPONSE_STATES",
    "SEND_STATES",
    "BindKind",
    "Role",
    "SessionState",
]


class Role(enum.Enum):
    """Which end of the connection a session is (§2.1): the value is the spec's name."""

    SMSC = "SMSC"
    ESME = "ESME"

    @property
    def peer(self) -> Role:
        return Role.ESME if self is Role.SMSC else Role.SMSC


class SessionState(enum.Enum):
    """Session states of §2.3, plus the two waits the spec leaves implicit."""

    OPEN = "open"  # connected, not bound
    BINDING = "binding"  # ESME only: our bind sent, waiting for the bind_resp
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBOUND = "unbound"  # our unbind sent, waiting for unbind_resp
    CLOSED = "closed"


class BindKind(enum.Enum):
    """The three binds of §4.1, named as a connector's configuration names them."""

    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"


#: The state a successful bind_* leads to (§2.3).
BOUND_STATE: Final[dict[int, SessionState]] = {
    CommandId.BIND_TRANSMITTER: SessionState.BOUND_TX,
    CommandId.BIND_RECEIVER: SessionState.BOUND_RX,
    CommandId.BIND_TRANSCEIVER: SessionState.BOUND_TRX,
}

_S = SessionState
_OPEN = frozenset({_S.OPEN})
_BINDING = frozenset({_S.BINDING})
_UNBOUND = frozenset({_S.UNBOUND})
_BOUND = frozenset({_S.BOUND_TX, _S.BOUND_RX, _S.BOUND_TRX})
_TX = frozenset({_S.BOUND_TX, _S.BOUND_TRX})
_RX = frozenset({_S.BOUND_RX, _S.BOUND_TRX})
_LIVE = frozenset(_S) - {_S.CLOSED}

_States = frozenset[SessionState]

#: Requests each role may receive, and the states allowing them (§2.3, §2.4, table 2-1).
REQUEST_STATES: Final[dict[Role, dict[int, _States]]] = {
    Role.SMSC: {
        CommandId.BIND_TRANSMITTER: _OPEN,
        CommandId.BIND_RECEIVER: _OPEN,
        CommandId.BIND_TRANSCEIVER: _OPEN,
        CommandId.SUBMIT_SM: _TX,
        CommandId.SUBMIT_MULTI: _TX,
        CommandId.DATA_SM: _TX,
        CommandId.QUERY_SM: _TX,
        CommandId.CANCEL_SM: _TX,
        CommandId.REPLACE_SM: _TX,
        CommandId.ENQUIRE_LINK: _OPEN | _BOUND,
        CommandId.UNBIND: _BOUND | _UNBOUND,  # both sides unbinding at once
    },
    Role.ESME: {
        CommandId.OUTBIND: _OPEN,  # §4.1.7: the SMSC asks us to bind
        CommandId.DELIVER_SM: _RX,  # a transmitter bind never receives one
        CommandId.DATA_SM: _RX,
        CommandId.ALERT_NOTIFICATION: _RX,  # no response (§4.12)
        CommandId.ENQUIRE_LINK: _OPEN | _BINDING | _BOUND,
        CommandId.UNBIND: _BOUND | _UNBOUND,
    },
}

#: Responses each role may receive, and the states allowing them. generic_nack is never
#: answered, so two sessions cannot nack each other forever.
RESPONSE_STATES: Final[dict[Role, dict[int, _States]]] = {
    Role.SMSC: {
        CommandId.DELIVER_SM_RESP: _RX | _UNBOUND,
        CommandId.DATA_SM_RESP: _RX | _UNBOUND,
        CommandId.ENQUIRE_LINK_RESP: _LIVE,
        CommandId.UNBIND_RESP: _UNBOUND,
        CommandId.GENERIC_NACK: _LIVE,
    },
    Role.ESME: {
        CommandId.BIND_TRANSMITTER_RESP: _BINDING,
        CommandId.BIND_RECEIVER_RESP: _BINDING,
        CommandId.BIND_TRANSCEIVER_RESP: _BINDING,
        CommandId.SUBMIT_SM_RESP: _TX | _UNBOUND,
        CommandId.SUBMIT_MULTI_RESP: _TX | _UNBOUND,
        CommandId.DATA_SM_RESP: _TX | _UNBOUND,
        CommandId.QUERY_SM_RESP: _TX | _UNBOUND,
        CommandId.CANCEL_SM_RESP: _TX | _UNBOUND,
        CommandId.REPLACE_SM_RESP: _TX | _UNBOUND,
        CommandId.ENQUIRE_LINK_RESP: _LIVE,
        CommandId.UNBIND_RESP: _UNBOUND,
        CommandId.GENERIC_NACK: _LIVE,
    },
}

#: Requests the driver may send with ``send_request``, and the states allowing them (§2.3). The
#: union of a role's states is where ``can_send()`` may be true.
SEND_STATES: Final[dict[Role, dict[int, _States]]] = {
    Role.SMSC: {
        CommandId.DELIVER_SM: _RX,
        CommandId.DATA_SM: _RX,
        CommandId.ALERT_NOTIFICATION: _RX,  # no response (§4.12)
    },
    Role.ESME: {
        CommandId.SUBMIT_SM: _TX,
        CommandId.SUBMIT_MULTI: _TX,
        CommandId.DATA_SM: _TX,
        CommandId.QUERY_SM: _TX,
        CommandId.CANCEL_SM: _TX,
        CommandId.REPLACE_SM: _TX,
    },
}
