"""How the standalone SMSC answers one submitted message: the number rules in SMPP terms.

In order, for each destination of a submit_sm, data_sm or submit_multi:

1. over ``max_tps`` for the system_id: ESME_RTHROTTLED (a carrier's throughput cap);
2. a ``retries = N`` rule: the first N submits of the same message (same system_id, sender,
   destination and text) are answered with the rule's ``status``, ESME_RTHROTTLED by default, as
   a congested carrier asks for a message again later;
3. a ``reject = true`` rule: the rule's ``status``, by default the SMPP status closest to its
   receipt code (:data:`REJECT_STATUS`: ESME_RINVDSTADR for a number the network refuses);
4. otherwise the message is taken (ESME_ROK) and ends with the rule's receipt code after its
   delay.

Pure: the caller passes ``now`` (a monotonic clock) for the throughput cap.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Final

from smsgate import errors
from smsgate.domain.rate import TokenBucket
from smsgate.smpp.constants import CommandStatus

from ..simulator_rules import Fate, NumberRules, RetryCounter

__all__ = ["REJECT_STATUS", "SubmitDesk"]

_S = CommandStatus

#: A rejecting rule's answer by its receipt code, when the rule names no ``status``.
REJECT_STATUS: Final[Mapping[str, CommandStatus]] = {
    errors.IN_SMS_CONTENT.code: _S.ESME_RSUBMITFAIL,
    errors.INVALID_NUM.code: _S.ESME_RINVDSTADR,
    errors.OPERATOR_NOT_SUPPORT.code: _S.ESME_RINVDSTADR,
    errors.PHONE_NOT_AVAILABLE.code: _S.ESME_RSUBMITFAIL,
    errors.PORTED_NUM.code: _S.ESME_RINVDSTADR,
    errors.RECEIVER_BLACKLIST.code: _S.ESME_RINVDSTADR,
    errors.SYSTEM_ERR.code: _S.ESME_RSYSERR,
    errors.UNKNOWN_ERR.code: _S.ESME_RUNKNOWNERR,
    errors.URL_FAILURE.code: _S.ESME_RSUBMITFAIL,
}
#: A retrying rule's answer when it names no ``status``.
RETRY_STATUS: Final = _S.ESME_RTHROTTLED
_BY_NAME: Final = CommandStatus.__members__


class SubmitDesk:
    """Decides each submitted message: a refusal's command_status, or ESME_ROK and its fate."""

    __slots__ = ("_buckets", "_max_tps", "_retries", "_rules")

    def __init__(self, rules: NumberRules, *, max_tps: float = 0.0) -> None:
        self._rules = rules
        self._max_tps = max_tps
        self._buckets: dict[str, TokenBucket] = {}
        self._retries = RetryCounter()

    def judge(
        self, system_id: str, message: Hashable, destination: str, now: float
    ) -> tuple[int, Fate]:
        """(command_status, fate) of one message to ``destination`` from ``system_id``;
        ``message`` is what identifies it when it is submitted again."""
        fate = self._rules.fate(destination)
        if self._max_tps and not self._allow(system_id, now):
            return _S.ESME_RTHROTTLED, fate
        if fate.retries and self._retries.again((system_id, message), fate.retries):
            return (_BY_NAME[fate.status] if fate.status else RETRY_STATUS), fate
        if fate.reject:
            status = _BY_NAME[fate.status] if fate.status else _reject_status(fate.receipt)
            return status, fate
        return _S.ESME_ROK, fate

    def _allow(self, system_id: str, now: float) -> bool:
        bucket = self._buckets.get(system_id)
        if bucket is None:
            bucket = self._buckets[system_id] = TokenBucket(self._max_tps, now)
        return bucket.allow(now)


def _reject_status(receipt: str) -> int:
    return REJECT_STATUS.get(receipt, _S.ESME_RSUBMITFAIL)
