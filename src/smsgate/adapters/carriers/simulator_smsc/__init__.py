"""The carrier simulator as a standalone SMPP 3.4 SMSC (``smsgate simulator``).

So that the whole path (smsgate, a connector, an SMSC, receipts back) runs on one machine, and
any SMPP client can be pointed at a carrier whose every answer can be produced on purpose. It
decides each message by the embedded simulator's number rules (:mod:`..simulator_rules`):

- :mod:`.settings`: what it is started with (rules, credentials, ids, limits, timers);
- :mod:`.verdicts`: a rule or the throughput cap as an SMPP status (pure);
- :mod:`.deliveries`: receipts and MO messages as deliver_sm (pure);
- :mod:`.outbox`: deliver_sm owed to each system_id, on their way to its receiver binds;
- :mod:`.core`: what the connections share: binds checked, messages numbered, receipts timed;
- :mod:`.connection`: one connection (the SMSC-role driver's handler) and its request table;
- :mod:`.server`: :class:`SimulatorSmsc`, the listener, polite stop and MO injection.
"""

from .server import SimulatorSmsc
from .settings import IdFormat, SmscSettings

__all__ = ["IdFormat", "SimulatorSmsc", "SmscSettings"]
