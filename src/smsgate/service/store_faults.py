"""A store that fails is one catalog error, whichever use-case met it: ``isp.SYSTEM_ERROR`` (46).

The store port raises :class:`StoreError` (a disk, a database); the use-cases of this package turn
it into ``SmsError(SYSTEM_ERROR)`` where they call the store, so that every door renders a store
fault the same way, as it renders any other catalog row (HTTP 200 with the code, SMPP 46 or
ESME_RSYSERR by the bind's profile), and no door needs to know what a store is.

The cause is for the operator, not the client: it is logged here, once per run of failures of an
operation (a full disk fails every write until space returns, and the store's health already
says why), with the store's own words, which name tables, files and ids, never a secret or a
message text. The first success after a run is logged too, with how many failed.
"""

from __future__ import annotations

import logging
from types import TracebackType

from smsgate import errors
from smsgate.errors import SmsError
from smsgate.logs import log_event
from smsgate.ports.store import StoreError

__all__ = ["StoreFaults", "Translated"]


class StoreFaults:
    """Translates store faults for one use-case; its runs of failures are counted by operation."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._failing: dict[str, int] = {}  # operation -> failures in its current run

    def translated(self, operation: str) -> Translated:
        """Around a store call for ``operation`` (what it does, as the log line says it): a
        StoreError becomes ``SmsError(SYSTEM_ERROR)``; other exceptions pass unchanged."""
        return Translated(self, operation)

    def failure(self, operation: str, exc: StoreError) -> SmsError:
        """The catalog error to raise for ``exc``; the cause is logged if it starts a run."""
        failures = self._failing.get(operation, 0)
        self._failing[operation] = failures + 1
        if not failures:
            log_event(self._log, logging.ERROR, "store.failed", operation=operation, error=str(exc))
        return SmsError(errors.SYSTEM_ERROR, f"the store failed to {operation}")

    def success(self, operation: str) -> None:
        """``operation`` worked: a run of its failures, if any, ends (and is logged)."""
        if not self._failing:  # the usual case, on every call
            return
        failures = self._failing.pop(operation, 0)
        if failures:
            log_event(
                self._log, logging.WARNING, "store.recovered", operation=operation, failed=failures
            )


class Translated:
    """The context of :meth:`StoreFaults.translated` (a class, not a generator: it is entered
    several times per request, and costs a third as much)."""

    __slots__ = ("_faults", "_operation")

    def __init__(self, faults: StoreFaults, operation: str) -> None:
        self._faults = faults
        self._operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self._faults.success(self._operation)
        elif isinstance(exc, StoreError):
            raise self._faults.failure(self._operation, exc) from exc
