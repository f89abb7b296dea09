"""Fault injection: answer a chosen seed code on purpose, for users testing their error handling.

Some codes no input can trigger (``isp.SYSTEM_ERROR``, ``isp.GATEWAY_ERROR``, ``isp.UNKNOWN``...).
An operator switches a fault on per account and action: "answer code X for the next N calls" or
"for a share of calls". Off by default. The rules are the JSON document ``faults``::

    [{"account": "4816203958112734", "action": "SendMessageToGlobe",
      "code": "isp.GATEWAY_ERROR", "count": 3},
     {"account": "*", "action": "*", "code": "isp.UNKNOWN", "share": 0.01}]

``code`` names a seed row by its API code; the two rows the seed shares a code between are told
apart with the SMPP status: ``"isp.SYSTEM_ERROR/21"`` (access layer) and ``"isp.SYSTEM_ERROR/46"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smsgate import errors
from smsgate.errors import ResultCode

__all__ = ["FaultInjector", "FaultRule", "parse_faults", "result_code_named"]


def result_code_named(name: str) -> ResultCode:
    """A seed row by API code, or ``code/smpp`` where the seed repeats a code."""
    code, _, smpp = name.partition("/")
    matches = [r for r in errors.SEED_ROWS if r.code == code and not r.ok]
    if smpp:
        matches = [r for r in matches if str(r.smpp_status) == smpp]
    if len(matches) != 1:
        choices = ", ".join(f"{r.code}/{r.smpp_status}" for r in matches)
        raise ValueError(
            f"{name!r} is not one seed code" + (f"; say which: {choices}" if choices else "")
        )
    return matches[0]


@dataclass(frozen=True, slots=True)
class FaultRule:
    account: str  # an account id or "*"
    action: str  # an action name or "*"
    result: ResultCode
    count: int | None = None  # the next N calls
    share: float | None = None  # or this share of calls (0 < share <= 1)

    def applies_to(self, account_id: str, action: str) -> bool:
        return self.account in ("*", account_id) and self.action in ("*", action)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "account": self.account,
            "action": self.action,
            "code": f"{self.result.code}/{self.result.smpp_status}",
        }
        if self.count is not None:
            doc["count"] = self.count
        if self.share is not None:
            doc["share"] = self.share
        return doc


def parse_faults(doc: Any) -> tuple[FaultRule, ...]:
    if not isinstance(doc, list):
        raise ValueError("faults must be a JSON list of rules")
    return tuple(_rule(i, raw) for i, raw in enumerate(doc, start=1))


def _rule(number: int, raw: Any) -> FaultRule:
    where = f"fault #{number}"
    keys = {"account", "action", "code", "count", "share"}
    if not isinstance(raw, dict) or not set(raw) <= keys:
        raise ValueError(f"{where} takes only {', '.join(sorted(keys))}")
    for name in ("account", "action", "code"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise ValueError(f"{where}: {name} is required")
    count, share = raw.get("count"), raw.get("share")
    if (count is None) == (share is None):
        raise ValueError(f"{where}: give either count (next N calls) or share (0 < share <= 1)")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"{where}: count must be a whole number >= 1")
    if share is not None and (
        isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1
    ):
        raise ValueError(f"{where}: share must be a number with 0 < share <= 1")
    return FaultRule(
        account=raw["account"],
        action=raw["action"],
        result=result_code_named(raw["code"]),
        count=count,
        share=None if share is None else float(share),
    )


class FaultInjector:
    """Decides, call by call, whether a fault rule fires.

    "Next N calls" needs a count of calls already failed; it lives here, in memory, keyed by the
    version of the faults document, so that writing the document again starts the count afresh.
    ``chance`` is injected (``random.random`` in production) so tests are deterministic.
    """

    def __init__(self, chance: Callable[[], float]) -> None:
        self._chance = chance
        self._version = -1
        self._fired: dict[int, int] = {}

    def check(
        self, rules: tuple[FaultRule, ...], version: int, account_id: str, action: str
    ) -> ResultCode | None:
        """The seed row to answer with, or None to carry on normally."""
        if version != self._version:
            self._version, self._fired = version, {}
        for index, rule in enumerate(rules):
            if not rule.applies_to(account_id, action):
                continue
            if rule.count is not None:
                fired = self._fired.get(index, 0)
                if fired < rule.count:
                    self._fired[index] = fired + 1
                    return rule.result
            elif rule.share is not None and self._chance() < rule.share:
                return rule.result
        return None
