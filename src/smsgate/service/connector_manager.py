"""Running connectors kept in line with the ``connectors`` policy document, while messages flow.

The operator adds, changes and removes connectors with the CLI or the admin API, which write the
document; :class:`~smsgate.service.policy.PolicyCache` re-reads it within ``refresh_s``, and
:meth:`ConnectorManager.reconcile` (run every ``interval_s``) acts on the difference:

- an added connector is built by the factory, started, and routed to at once;
- a changed one (any setting, its password included) is built and started anew, takes the
  old one's place in routing, and the old one drains;
- a removed one drains: nothing more is routed to it, the submits it was handed are answered
  (within ``drain_s``, after which its close answers what is left), the receipts its SMSC owes
  for the messages it took come in (within ``receipt_drain_s``, ``[upstream]``), then it is
  closed.

The password is stored sealed with the data directory's master key; it is unsealed here, only
to be handed to the factory, and never logged: a failure to build a connector is logged with
the connector's name and the failure, with the password blanked out of it. A connector that
fails to build or start is not routed to (its messages fail over, or wait) and is tried again
only when its settings change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from smsgate.domain import connectors
from smsgate.domain.connectors import ConnectorSpec
from smsgate.logs import log_event
from smsgate.ports.carrier import Carrier
from smsgate.service.connectors import ConnectorSet, RunningConnector
from smsgate.service.policy import PolicyCache

__all__ = ["ConnectorFactory", "ConnectorManager"]

log = logging.getLogger(__name__)

#: Builds a connector (not started) from its settings and its password in clear.
ConnectorFactory = Callable[[ConnectorSpec, str], Carrier]
_NO_CONNECTORS: Mapping[str, ConnectorSpec] = {}


class ConnectorManager:
    def __init__(
        self,
        policy: PolicyCache,
        carriers: ConnectorSet,
        factory: ConnectorFactory,
        unseal: Callable[[str], str],
        *,
        interval_s: float = 1.0,
        drain_s: float = 60.0,
        receipt_drain_s: float = 0.0,
    ) -> None:
        self._policy = policy
        self._carriers = carriers
        self._factory = factory
        self._unseal = unseal
        self._interval_s = interval_s
        self._drain_s = drain_s
        self._receipt_drain_s = receipt_drain_s
        self._running: dict[str, ConnectorSpec] = {}
        self._failed: dict[str, tuple[ConnectorSpec, str]] = {}  # name -> (spec, why)
        self._drains: set[asyncio.Task[None]] = set()

    async def reconcile(self) -> None:
        """Make the running connectors those of the document as the policy cache has it."""
        wanted = await self._policy.document(connectors.DOCUMENT, _NO_CONNECTORS)
        for name in [n for n in self._running if n not in wanted]:
            del self._running[name]
            self._drain(self._carriers.retire(name))
            log_event(log, logging.INFO, "connector.removed", connector=name)
        for name in [n for n in self._failed if n not in wanted]:
            del self._failed[name]
        for name, spec in wanted.items():
            failed = self._failed.get(name)
            if self._running.get(name) == spec:
                self._failed.pop(name, None)  # back to the settings in service
            elif failed is None or failed[0] != spec:
                await self._build(name, spec)

    async def run(self) -> None:
        """Reconcile every ``interval_s`` until cancelled; a failure is logged and retried."""
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("connectors could not be brought in line with their document")
            await asyncio.sleep(self._interval_s)

    async def stop(self) -> None:
        """Stop draining politely: the connector set's close ends every connector now."""
        for task in self._drains:
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)

    def status(self) -> dict[str, dict[str, object]]:
        """Live state by connector name, with those that failed to build or start."""
        shown = dict(self._carriers.status())
        for name, (_spec, why) in self._failed.items():
            shown[name] = {**shown.get(name, {"state": "failed"}), "error": why}
        return shown

    async def _build(self, name: str, spec: ConnectorSpec) -> None:
        replacing = name in self._running
        password = ""
        try:
            password = self._unseal(spec.password_sealed)
            carrier = self._factory(spec, password)
        except Exception as exc:
            self._fail(name, spec, "cannot be built", exc, password)
            return
        try:
            replaced = await self._carriers.put(name, carrier)
        except Exception as exc:
            self._fail(name, spec, "cannot start", exc, password)
            try:
                await carrier.close()
            except Exception:
                log.exception("connector %s failed to close after a failed start", name)
            return
        self._running[name] = spec
        self._failed.pop(name, None)
        self._drain(replaced)
        log_event(
            log,
            logging.INFO,
            "connector.replaced" if replacing else "connector.added",
            connector=name,
            address=spec.address,
            system_id=spec.system_id,
            bind_mode=spec.bind_mode,
            binds=spec.binds,
        )

    def _fail(
        self, name: str, spec: ConnectorSpec, what: str, exc: Exception, password: str
    ) -> None:
        why = f"{what}: {type(exc).__name__}: {exc}"
        if password:
            why = why.replace(password, "***")
        self._failed[name] = (spec, why)
        if name in self._running:
            # Its old settings keep running: a bad change must not take a working link down.
            why += " (the previous settings stay in service)"
        log_event(log, logging.ERROR, "connector.failed", connector=name, error=why)

    def _drain(self, retired: RunningConnector | None) -> None:
        if retired is None:
            return
        task = asyncio.create_task(
            self._carriers.drain(retired, self._drain_s, self._receipt_drain_s),
            name=f"drain {retired.name}",
        )
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)
