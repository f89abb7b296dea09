"""Sans-IO SMPP 3.4, shared by the server door and the carrier connectors (DESIGN.md).

- :mod:`.constants`: command ids, command_status codes, TLV tags, message states (§5);
- :mod:`.pdu`: one frozen dataclass per PDU (chapter 4) with verbatim TLVs;
- :mod:`.codec`: ``encode(pdu) -> bytes``, ``decode(bytes) -> Pdu`` and :class:`PduReader`;
- :mod:`.errors`: decode errors that carry the answer the session should send;
- :mod:`.states`: roles (SMSC, ESME), session states and what each role may send and receive;
- :mod:`.session`: one session for either role (bytes, events and ``now`` in; bytes out);
- :mod:`.events`: what the session hands its driver.

No sockets, tasks or clocks in here.
"""

from smsgate.smpp.codec import NEED_DATA, NeedData, PduReader, decode, encode, error_response
from smsgate.smpp.errors import SmppDecodeError, SmppEncodeError

__all__ = [
    "NEED_DATA",
    "NeedData",
    "PduReader",
    "SmppDecodeError",
    "SmppEncodeError",
    "decode",
    "encode",
    "error_response",
]
