"""Whether the server can do its job now, and if not, why: what ``/health`` and the admin API say.

A full disk used to look like any other error: every send answered ``isp.SYSTEM_ERROR`` while
``/health`` said "ok", and nothing told the operator why. Components report problems here as they
start and end (the store's writer does, on its transitions); each change is logged once (an error
when a problem starts, a warning when it ends), never once per failed request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smsgate.logs import log_event
from smsgate.ports.clock import Clock

__all__ = ["Problem", "Readiness"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Problem:
    component: str  # e.g. "store"
    code: str  # e.g. "disk_full"
    detail: str  # what failed, as reported
    advice: str  # what the operator can do
    since: float  # unix seconds


class Readiness:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._problems: dict[str, Problem] = {}

    @property
    def ready(self) -> bool:
        return not self._problems

    @property
    def problems(self) -> list[Problem]:
        return sorted(self._problems.values(), key=lambda p: p.component)

    def failing(self, component: str, code: str, detail: str, advice: str = "") -> None:
        """``component`` has ``code``; logged if this is news (a new problem or another one)."""
        current = self._problems.get(component)
        if current is not None and current.code == code:
            return
        since = self._clock.now() if current is None else current.since
        self._problems[component] = Problem(component, code, detail, advice, since)
        log_event(
            log,
            logging.ERROR,
            "health.not_ready",
            component=component,
            problem=code,
            detail=detail,
            advice=advice or None,
        )

    def recovered(self, component: str) -> None:
        """``component`` works again; logged if it had a problem."""
        current = self._problems.pop(component, None)
        if current is not None:
            log_event(
                log,
                logging.WARNING,
                "health.ready",
                component=component,
                problem=current.code,
                lasted_s=round(self._clock.now() - current.since, 1),
            )

    def view(self) -> dict[str, Any]:
        """The JSON body of ``/health`` and ``GET /admin/health``."""
        if self.ready:
            return {"status": "ok"}
        return {
            "status": "not ready",
            "problems": [
                {
                    "component": p.component,
                    "problem": p.code,
                    "detail": p.detail,
                    "advice": p.advice,
                    "since": datetime.fromtimestamp(p.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for p in self.problems
            ],
        }
