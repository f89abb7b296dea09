"""The outbound SMPP connector: smsgate as an ESME, binding to an upstream carrier's SMSC.

- :mod:`.encode`: a message as submit_sm PDUs (coding, TON/NPI, validity, long messages), pure;
- :mod:`.statuses`: what a submit_sm_resp status means (accepted, throttled, temporary, or a
  receipt code), pure;
- :mod:`.backoff`, :mod:`.meter`: reconnect waits and submits per second, pure.
"""

from .statuses import DEFAULT_STATUSES, StatusTable

__all__ = ["DEFAULT_STATUSES", "StatusTable"]
