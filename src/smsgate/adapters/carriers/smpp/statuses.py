"""What an upstream SMSC's submit_sm_resp status means for the message: pure, one table.

Four verdicts:

- ``ACCEPTED``: ESME_ROK.
- ``THROTTLED``: ESME_RTHROTTLED, ESME_RMSGQFUL. The SMSC wants less traffic: the bind that got
  it pauses (:mod:`.link`), and the message is tried again later (``Retry``).
- ``TEMPORARY``: ESME_RSYSERR, ESME_RX_T_APPN (the SMSC's own trouble, as Kannel reads them
  too), ESME_RINVBNDSTS (our bind and the SMSC's idea of it disagree; not the message's fault).
  Tried again later (``Retry``), without pausing the bind.
- ``PERMANENT``: everything else, with a receipt code: the message becomes FAILED.

Default receipt codes of the permanent statuses (override per connector with
:meth:`StatusTable.with_codes`):

========================================================================  ===================
ESME_RINVDSTADR, ESME_RINVDSTTON, ESME_RINVDSTNPI, ESME_RINVNUMDESTS        INVALID_NUM
ESME_RINVMSGLEN, ESME_RINVDCS (0x104, SMPP 5.0)                             IN_SMS_CONTENT
ESME_RINVSRCADR/TON/NPI, ESME_RINVSERTYP, ESME_RINVSYSTYP, ESME_RINVESMCLASS,
ESME_RINVREGDLVFLG, ESME_RINVPRTFLG, ESME_RINVEXPIRY, ESME_RINVSCHED,
ESME_RINVDFTMSGID, ESME_RINVREPFLAG, the TLV statuses (0xC0-0xC4),
ESME_RINVCMDLEN, ESME_RINVCMDID, ESME_RX_P_APPN                             SYSTEM_ERR
ESME_RX_R_APPN                                                              RECEIVER_BLACKLIST
any other (ESME_RSUBMITFAIL, ESME_RUNKNOWNERR, vendor codes 0x400-0x4FF)    UNKNOWN_ERR
========================================================================  ===================

SYSTEM_ERR covers what the message does not cause but the connector's settings do (a sender
this carrier does not take, a field it reads otherwise): the operator fixes the connector, and
retrying the same bytes would fail again. An unknown status fails the message rather than
retrying it for ever; its value is in the connector's log line.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from smsgate import errors
from smsgate.smpp.constants import CommandStatus

__all__ = ["DEFAULT_STATUSES", "StatusTable", "Verdict", "status_name"]

_C = CommandStatus
ESME_RINVDCS: Final = 0x00000104


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    THROTTLED = "throttled"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


_THROTTLING: Final = frozenset({_C.ESME_RTHROTTLED, _C.ESME_RMSGQFUL})
_TEMPORARY: Final = frozenset({_C.ESME_RSYSERR, _C.ESME_RX_T_APPN, _C.ESME_RINVBNDSTS})


def _default_codes() -> Mapping[int, str]:
    table: dict[int, str] = {}
    status: int
    for status in (_C.ESME_RINVDSTADR, _C.ESME_RINVDSTTON, _C.ESME_RINVDSTNPI,
                   _C.ESME_RINVNUMDESTS):  # fmt: skip
        table[status] = errors.INVALID_NUM.code
    for status in (_C.ESME_RINVMSGLEN, ESME_RINVDCS):
        table[status] = errors.IN_SMS_CONTENT.code
    for status in (
        _C.ESME_RINVSRCADR, _C.ESME_RINVSRCTON, _C.ESME_RINVSRCNPI, _C.ESME_RINVSERTYP,
        _C.ESME_RINVSYSTYP, _C.ESME_RINVESMCLASS, _C.ESME_RINVREGDLVFLG, _C.ESME_RINVPRTFLG,
        _C.ESME_RINVEXPIRY, _C.ESME_RINVSCHED, _C.ESME_RINVDFTMSGID, _C.ESME_RINVREPFLAG,
        _C.ESME_RINVOPTPARSTREAM, _C.ESME_ROPTPARNOTALLWD, _C.ESME_RINVPARLEN,
        _C.ESME_RMISSINGOPTPARAM, _C.ESME_RINVOPTPARAMVAL, _C.ESME_RINVCMDLEN,
        _C.ESME_RINVCMDID, _C.ESME_RX_P_APPN,
    ):  # fmt: skip
        table[status] = errors.SYSTEM_ERR.code
    table[_C.ESME_RX_R_APPN] = errors.RECEIVER_BLACKLIST.code
    return MappingProxyType(table)


@dataclass(frozen=True, slots=True)
class StatusTable:
    """command_status → verdict, and the receipt code of each permanent one."""

    codes: Mapping[int, str] = field(default_factory=_default_codes)
    throttling: frozenset[int] = _THROTTLING
    temporary: frozenset[int] = _TEMPORARY
    default_code: str = errors.UNKNOWN_ERR.code

    def verdict(self, status: int) -> Verdict:
        if status == _C.ESME_ROK:
            return Verdict.ACCEPTED
        if status in self.throttling:
            return Verdict.THROTTLED
        if status in self.temporary:
            return Verdict.TEMPORARY
        return Verdict.PERMANENT

    def receipt_code(self, status: int) -> str:
        """The receipt code a permanent ``status`` fails a message with."""
        return self.codes.get(status, self.default_code)

    def with_codes(self, overrides: Mapping[int, str]) -> StatusTable:
        """This table with an operator's status → receipt code entries on top; ValueError for
        a code the catalog does not know."""
        known = {code.code for code in errors.RECEIPT_CODES}
        for status, code in overrides.items():
            if code not in known:
                raise ValueError(f"status 0x{status:08x}: {code!r} is not a receipt code")
        return StatusTable(
            MappingProxyType({**self.codes, **overrides}),
            self.throttling,
            self.temporary,
            self.default_code,
        )


DEFAULT_STATUSES: Final = StatusTable()


def status_name(status: int) -> str:
    """``ESME_RINVDSTADR`` for a status SMPP 3.4 names, else its hex value (vendor codes)."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return "ESME_RINVDCS" if status == ESME_RINVDCS else f"0x{status:08x}"
