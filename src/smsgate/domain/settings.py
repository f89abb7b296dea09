"""Operator settings that are data, not configuration: platform-wide and per account.

Both are JSON documents in the store, changed through the CLI or the admin API and effective
within a second on running servers.

Platform (``platform``)::

    {"limits": {...},              # LimitPolicy defaults (see domain/limits.py)
     "system_per_day": 1000000,    # platform-wide daily quota: isv.SYSTEM_LIMIT_CONTROL
     "refund_on": ["INVALID_NUM"], # receipt codes whose messages are refunded, or "all"
     "review": {"templates": "manual", "sign_names": "manual"},   # or "auto"
     "max_param_length": 35,       # template variable values: isv.PARAM_LENGTH_LIMIT
     "require_sign_name": true}    # SendMessageWithTemplate's From must be an approved sign name

Account (``account:<id>``)::

    {"limits": {...},              # overrides of the platform limits
     "barred_actions": ["BatchSendMessageToGlobe"],   # isv.FORBIDDEN_ACTION
     "billing": "overdue",         # "normal" | "overdue": isv.BILLING_DEDUCTION_ERROR
     "max_param_length": 20}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from smsgate import errors
from smsgate.domain.limits import LimitPolicy

__all__ = ["AccountSettings", "PlatformSettings"]

Review = Literal["manual", "auto"]
_RECEIPTS = frozenset(c.code for c in errors.RECEIPT_CODES) | {errors.EXPIRED.code}


@dataclass(frozen=True, slots=True)
class PlatformSettings:
    limits: dict[str, Any] = field(default_factory=dict)
    system_per_day: int | None = None
    refund_on: frozenset[str] = frozenset()
    review_templates: Review = "manual"
    review_sign_names: Review = "manual"
    max_param_length: int = 35
    require_sign_name: bool = True

    @classmethod
    def from_dict(cls, doc: Any) -> PlatformSettings:
        keys = {
            "limits",
            "system_per_day",
            "refund_on",
            "review",
            "max_param_length",
            "require_sign_name",
        }
        _object(doc, keys, "platform")
        review = doc.get("review", {})
        _object(review, {"templates", "sign_names"}, "platform.review")
        for name in ("templates", "sign_names"):
            if review.get(name, "manual") not in ("manual", "auto"):
                raise ValueError(f"platform.review.{name} must be 'manual' or 'auto'")
        refund = doc.get("refund_on", [])
        if refund == "all":
            refund = sorted(_RECEIPTS)
        if not isinstance(refund, list) or not all(
            isinstance(code, str) and code in _RECEIPTS for code in refund
        ):
            raise ValueError(f"platform.refund_on must be 'all' or a list of {sorted(_RECEIPTS)}")
        require = doc.get("require_sign_name", True)
        if not isinstance(require, bool):
            raise ValueError("platform.require_sign_name must be true or false")
        return cls(
            limits=_limits(doc.get("limits", {}), "platform.limits"),
            system_per_day=_optional_positive(doc.get("system_per_day"), "system_per_day"),
            refund_on=frozenset(refund),
            review_templates=review.get("templates", "manual"),
            review_sign_names=review.get("sign_names", "manual"),
            max_param_length=_positive(doc.get("max_param_length", 35), "max_param_length"),
            require_sign_name=require,
        )


@dataclass(frozen=True, slots=True)
class AccountSettings:
    limits: dict[str, Any] = field(default_factory=dict)
    barred_actions: frozenset[str] = frozenset()
    overdue: bool = False
    max_param_length: int | None = None

    @classmethod
    def from_dict(cls, doc: Any) -> AccountSettings:
        _object(doc, {"limits", "barred_actions", "billing", "max_param_length"}, "account")
        barred = doc.get("barred_actions", [])
        if not isinstance(barred, list) or not all(isinstance(a, str) for a in barred):
            raise ValueError("barred_actions must be a list of action names")
        billing = doc.get("billing", "normal")
        if billing not in ("normal", "overdue"):
            raise ValueError("billing must be 'normal' or 'overdue'")
        return cls(
            limits=_limits(doc.get("limits", {}), "account.limits"),
            barred_actions=frozenset(barred),
            overdue=billing == "overdue",
            max_param_length=_optional_positive(doc.get("max_param_length"), "max_param_length"),
        )

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.limits:
            doc["limits"] = self.limits
        if self.barred_actions:
            doc["barred_actions"] = sorted(self.barred_actions)
        if self.overdue:
            doc["billing"] = "overdue"
        if self.max_param_length is not None:
            doc["max_param_length"] = self.max_param_length
        return doc


def _object(doc: Any, keys: set[str], where: str) -> None:
    if not isinstance(doc, dict):
        raise ValueError(f"{where} settings must be a JSON object")
    unknown = set(doc) - keys
    if unknown:
        raise ValueError(f"unknown {where} settings: {', '.join(sorted(unknown))}")


def _limits(value: Any, where: str) -> dict[str, Any]:
    """Limits are checked when the document is written, so a typo is refused at once rather
    than discovered on a send."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object")
    try:
        LimitPolicy.from_dict(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return value


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a whole number >= 1")
    return value


def _optional_positive(value: Any, where: str) -> int | None:
    return None if value is None else _positive(value, where)
