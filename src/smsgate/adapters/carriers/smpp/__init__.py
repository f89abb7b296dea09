"""The outbound SMPP connector: smsgate as an ESME, binding to an upstream carrier's SMSC.

- :mod:`.encode`: a message as submit_sm PDUs (coding, TON/NPI, validity, long messages), pure;
- :mod:`.statuses`: what a submit_sm_resp status means (accepted, throttled, temporary, or a
  receipt code), pure;
- :mod:`.backoff`, :mod:`.meter`: reconnect waits and submits per second, pure;
- :mod:`.link`: one bind over :class:`~smsgate.drivers.smpp.SmppDriver`, reconnecting;
- :mod:`.connector`: :class:`SmppConnector`, the carrier over ``spec.binds`` links;
- :mod:`.carrier`: :class:`SmppCarrier`, a connector as the routing carrier sees carriers.
"""

from .carrier import SmppCarrier
from .connector import BindState, ConnectorState, SmppConnector
from .statuses import DEFAULT_STATUSES, StatusTable

__all__ = [
    "DEFAULT_STATUSES",
    "BindState",
    "ConnectorState",
    "SmppCarrier",
    "SmppConnector",
    "StatusTable",
]
