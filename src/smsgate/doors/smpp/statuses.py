"""The ``command_status`` a refused command is answered with, in its bind's status profile.

A seed row is answered with the seed's SMPP code (profile ``seed``, the default) or with the
standard SMPP 3.4 status of :data:`smsgate.errors.SMPP34_STATUS` (profile ``smpp34``), as the
bind's credential chose (``smsgate smpp add --status-codes``, else ``[smpp] status_codes``).
The platform's own states (:data:`smsgate.errors.PLATFORM_CODES`: a full queue) read as their
catalog entry names them for the profile. Protocol faults (:class:`Refused`,
:class:`ConcatError`) carry their own SMPP 3.4 status and read the same in both profiles.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final, TypeAlias

from smsgate import errors
from smsgate.errors import OverloadedError, PlatformCode, ResultCode, SmppStatusProfile, SmsError
from smsgate.smpp.constants import CommandStatus
from smsgate.smpp.reassembly import ConcatError

from .fields import Refused

__all__ = ["PROFILES", "SEED", "SMPP34", "StatusProfile", "log_unexpected", "status_of"]

log = logging.getLogger(__name__)

#: A seed row or a state of the platform -> the command_status that answers it.
StatusProfile: TypeAlias = Mapping[ResultCode | PlatformCode, int]


def _profile(name: SmppStatusProfile, rows: StatusProfile) -> StatusProfile:
    """``rows`` and the platform's states as the catalog names them for profile ``name``; a name
    that is not an SMPP 3.4 status fails at import."""
    profile = dict(rows)
    for state in errors.PLATFORM_CODES:
        profile[state] = int(CommandStatus[state.smpp_status[name]])
    return profile


SEED: Final = _profile("seed", {row: row.smpp_status for row in errors.SEED_ROWS})
SMPP34: Final = _profile(
    "smpp34", {row: int(CommandStatus[name]) for row, name in errors.SMPP34_STATUS.items()}
)
PROFILES: Final[Mapping[errors.SmppStatusProfile, StatusProfile]] = {
    "seed": SEED,
    "smpp34": SMPP34,
}
_EXPECTED: Final = (Refused, ConcatError, SmsError, OverloadedError)


def status_of(exc: BaseException, profile: StatusProfile = SEED) -> int:
    """The command_status answering a command that raised ``exc``: the profile's status for a
    business rule or a state of the platform (a full queue), the SMPP 3.4 code for a protocol
    fault, and ESME_RSYSERR for anything unexpected (which the caller logs once:
    :func:`log_unexpected`)."""
    if isinstance(exc, Refused | ConcatError):
        return exc.status
    if isinstance(exc, SmsError):
        return profile.get(exc.result, exc.result.smpp_status)
    if isinstance(exc, OverloadedError):
        return profile[exc.platform_code]
    return CommandStatus.ESME_RSYSERR


def log_unexpected(exc: BaseException) -> None:
    """Log a failure that is not a refusal: a fault of ours, answered with ESME_RSYSERR."""
    if not isinstance(exc, _EXPECTED):
        log.error("SMPP command failed", exc_info=exc)
