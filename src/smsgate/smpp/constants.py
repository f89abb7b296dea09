"""SMPP 3.4 numbers: command ids, command_status codes, TLV tags, message states, field sizes.

Everything here is quoted from the SMPP v3.4 specification (issue 1.2, 12 October 1999):
command ids from §5.1.2, ``command_status`` values from §5.1.3, ``message_state`` from §5.2.28,
TLV tags from §5.3.2 and C-Octet String maximum sizes (NUL terminator included) from the field
tables of chapter 4.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "ESME_RINVDCS",
    "GENERIC_NACK",
    "MAX_SHORT_MESSAGE",
    "RESPONSE_BIT",
    "TLV_CSTRING_MAX",
    "TLV_INT_SIZES",
    "UDHI",
    "CommandId",
    "CommandStatus",
    "DestFlag",
    "MessageState",
    "TlvTag",
]

#: §5.1.2: a response's command_id is its request's with bit 31 set.
RESPONSE_BIT = 0x80000000

#: §5.2.21: sm_length is 0..254.
MAX_SHORT_MESSAGE = 254

#: ``esm_class`` bit 6: the ``short_message`` starts with a user data header (§5.2.12).
UDHI: Final = 0x40


class CommandId(IntEnum):
    """SMPP 3.4 command ids (§5.1.2.1)."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


GENERIC_NACK = CommandId.GENERIC_NACK


class CommandStatus(IntEnum):
    """SMPP 3.4 error codes (§5.1.3). Values not listed here are kept as plain ints."""

    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF


#: SMPP 5.0 §4.7.6 "invalid data coding scheme", outside :class:`CommandStatus` since 3.4 has no
#: code for it: text that does not decode in its ``data_coding``, or a part of a long message in
#: another coding than its first part, is answered with it.
ESME_RINVDCS: Final = 0x00000104


class MessageState(IntEnum):
    """``message_state`` values (§5.2.28), used by query_sm_resp and the message_state TLV."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class DestFlag(IntEnum):
    """submit_multi ``dest_flag`` (§5.2.25): an SME address or a distribution list name."""

    SME_ADDRESS = 1
    DISTRIBUTION_LIST = 2


class TlvTag(IntEnum):
    """Optional parameter tags (§5.3.2)."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


#: TLVs whose value is an unsigned Integer, with its size in octets (§5.3.2.x "Integer").
#: Tags not listed here and not in :data:`TLV_CSTRING_MAX` are Octet Strings (kept as bytes):
#: the telematics ids, sub-addresses, callback_num(_atag), network_error_code (§5.3.2.31:
#: 1 octet network type + 2 octets error code), message_payload, ussd_service_op,
#: its_session_info and the zero-length alert_on_message_delivery.
TLV_INT_SIZES: dict[int, int] = {
    TlvTag.DEST_ADDR_SUBUNIT: 1,
    TlvTag.DEST_NETWORK_TYPE: 1,
    TlvTag.DEST_BEARER_TYPE: 1,
    TlvTag.SOURCE_ADDR_SUBUNIT: 1,
    TlvTag.SOURCE_NETWORK_TYPE: 1,
    TlvTag.SOURCE_BEARER_TYPE: 1,
    TlvTag.QOS_TIME_TO_LIVE: 4,
    TlvTag.PAYLOAD_TYPE: 1,
    TlvTag.MS_MSG_WAIT_FACILITIES: 1,
    TlvTag.PRIVACY_INDICATOR: 1,
    TlvTag.USER_MESSAGE_REFERENCE: 2,
    TlvTag.USER_RESPONSE_CODE: 1,
    TlvTag.SOURCE_PORT: 2,
    TlvTag.DESTINATION_PORT: 2,
    TlvTag.SAR_MSG_REF_NUM: 2,
    TlvTag.LANGUAGE_INDICATOR: 1,
    TlvTag.SAR_TOTAL_SEGMENTS: 1,
    TlvTag.SAR_SEGMENT_SEQNUM: 1,
    TlvTag.SC_INTERFACE_VERSION: 1,
    TlvTag.CALLBACK_NUM_PRES_IND: 1,
    TlvTag.NUMBER_OF_MESSAGES: 1,
    TlvTag.DPF_RESULT: 1,
    TlvTag.SET_DPF: 1,
    TlvTag.MS_AVAILABILITY_STATUS: 1,
    TlvTag.DELIVERY_FAILURE_REASON: 1,
    TlvTag.MORE_MESSAGES_TO_SEND: 1,
    TlvTag.MESSAGE_STATE: 1,
    TlvTag.DISPLAY_TIME: 1,
    TlvTag.SMS_SIGNAL: 2,
    TlvTag.MS_VALIDITY: 1,
    TlvTag.ITS_REPLY_TYPE: 1,
}

#: TLVs whose value is a C-Octet String, with its maximum size including the NUL.
TLV_CSTRING_MAX: dict[int, int] = {
    TlvTag.ADDITIONAL_STATUS_INFO_TEXT: 256,  # §5.3.2.11
    TlvTag.RECEIPTED_MESSAGE_ID: 65,  # §5.3.2.12
}
