"""The SMPP 3.4 door: sessions, commands, and receipts back to the client as deliver_sm."""

from smsgate.doors.smpp.server import SYSTEM_ID, SmppServer

__all__ = ["SYSTEM_ID", "SmppServer"]
