"""Where an account may send, and which sender IDs each destination country accepts.

Kept by the operator as the JSON document ``countries``::

    {"allowed": ["SG", "ID", "HK"],            # omit for every country
     "senders": {"ID": {"alphanumeric": false},  # numeric sender IDs only
                 "SG": {"blocked": ["BANK", "GOV"]},
                 "HK": {"allowed": ["Acme", "85291234567"]}}}

``allowed`` decides ``isv.NOT_SUPPORTED_COUNTRY``; the sender rules decide ``isv.SENDERID_ERROR``:
a sender ID that the destination blocks, that is not on its allow-list, or whose kind
(alphanumeric or numeric) the destination does not accept. Mainland China on the international
API is a separate rule (``isv.COUNTRY_RESTRICTED``), decided by the API, not by this document.
Sender IDs compare case-insensitively, as handsets show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smsgate import errors
from smsgate.errors import SmsError

__all__ = ["CountryRules", "SenderRules"]


@dataclass(frozen=True, slots=True)
class SenderRules:
    alphanumeric: bool = True
    numeric: bool = True
    blocked: frozenset[str] = frozenset()
    allowed: frozenset[str] | None = None  # None: any sender ID not blocked

    def check(self, sender: str, region_code: str) -> None:
        key = sender.casefold()
        numeric = sender.lstrip("+").isdigit()
        if key in self.blocked:
            raise SmsError(errors.SENDERID_ERROR, f"{region_code} blocks the sender ID {sender!r}")
        if self.allowed is not None and key not in self.allowed:
            raise SmsError(
                errors.SENDERID_ERROR, f"{sender!r} is not a sender ID registered for {region_code}"
            )
        if numeric and not self.numeric:
            raise SmsError(
                errors.SENDERID_ERROR, f"{region_code} does not allow numeric sender IDs"
            )
        if not numeric and not self.alphanumeric:
            raise SmsError(
                errors.SENDERID_ERROR, f"{region_code} does not allow alphanumeric sender IDs"
            )


@dataclass(frozen=True, slots=True)
class CountryRules:
    allowed: frozenset[str] | None = None
    senders: Mapping[str, SenderRules] = field(default_factory=dict)

    def check_destination(self, region_code: str, country: str) -> None:
        if self.allowed is not None and region_code not in self.allowed:
            raise SmsError(
                errors.NOT_SUPPORTED_COUNTRY, f"sending to {country} ({region_code}) is not enabled"
            )

    def check_sender(self, sender: str | None, region_code: str) -> None:
        if sender is None:
            return
        rules = self.senders.get(region_code)
        if rules is not None:
            rules.check(sender, region_code)

    @classmethod
    def from_dict(cls, doc: Any) -> CountryRules:
        if not isinstance(doc, dict) or not set(doc) <= {"allowed", "senders"}:
            raise ValueError('the countries document is {"allowed": [...], "senders": {...}}')
        allowed = doc.get("allowed")
        if allowed is not None:
            allowed = frozenset(_codes(allowed, "allowed"))
        raw = doc.get("senders", {})
        if not isinstance(raw, dict):
            raise ValueError("senders must be an object keyed by country code")
        senders = {}
        for code, rule in raw.items():
            _codes([code], "senders")
            senders[code] = _sender_rules(rule, f"senders.{code}")
        return cls(allowed=allowed, senders=senders)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.allowed is not None:
            doc["allowed"] = sorted(self.allowed)
        if self.senders:
            doc["senders"] = {
                code: {
                    "alphanumeric": r.alphanumeric,
                    "numeric": r.numeric,
                    "blocked": sorted(r.blocked),
                    **({"allowed": sorted(r.allowed)} if r.allowed is not None else {}),
                }
                for code, r in self.senders.items()
            }
        return doc


def _codes(values: Any, where: str) -> list[str]:
    if not isinstance(values, list):
        raise ValueError(f"{where} must be a list of ISO 3166 alpha-2 codes")
    for code in values:
        if not (isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isupper()):
            raise ValueError(f"{where}: {code!r} is not an ISO 3166 alpha-2 code such as SG")
    return values


def _sender_rules(rule: Any, where: str) -> SenderRules:
    keys = {"alphanumeric", "numeric", "blocked", "allowed"}
    if not isinstance(rule, dict) or not set(rule) <= keys:
        raise ValueError(f"{where} takes only {', '.join(sorted(keys))}")
    for flag in ("alphanumeric", "numeric"):
        if not isinstance(rule.get(flag, True), bool):
            raise ValueError(f"{where}.{flag} must be true or false")
    blocked = _names(rule.get("blocked", []), f"{where}.blocked")
    allowed = rule.get("allowed")
    return SenderRules(
        alphanumeric=rule.get("alphanumeric", True),
        numeric=rule.get("numeric", True),
        blocked=frozenset(blocked),
        allowed=None if allowed is None else frozenset(_names(allowed, f"{where}.allowed")),
    )


def _names(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{where} must be a list of sender IDs")
    return [v.casefold() for v in values]
