"""asyncio drivers for the sans-IO protocols, shared by the doors and the carrier adapters.

- :mod:`.smpp`: one :class:`~smsgate.smpp.session.SmppSession` over a stream transport, for the
  SMPP door (SMSC role) and for connectors to carriers (ESME role).

The protocol packages (:mod:`smsgate.smpp`) do no I/O, and the doors and adapters must not import
each other: a driver both sides use lives here, between the two, as aioquic keeps its
``asyncio/`` package beside its sans-IO ``quic/``.
"""
