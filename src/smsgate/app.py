"""The composition root: wires doors, core and background loops over one set of adapters.

``Gateway`` takes the adapters :mod:`smsgate.bootstrap` chose (the embedded default: SQLite store,
in-process queue, limiter and replay guard) and builds on them the carrier simulator and the
upstream connectors behind the router, the HTTP callbacks and the doors; it starts the background
loops, opens the doors, and shuts everything down in order: doors first (no new work), then the
loops, then the connectors, then the store (which flushes its last group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from smsgate.adapters.carriers.process import ConnectorProcess, ProcessConnector
from smsgate.adapters.carriers.simulator import CarrierSimulator
from smsgate.adapters.carriers.smpp import SmppCarrier, SmppConnector
from smsgate.adapters.notify.http_callbacks import CallbackPusher
from smsgate.adapters.notify.sms_up import SmsUpPusher
from smsgate.adapters.queue.shared import SharedDeliveryQueue
from smsgate.adapters.secret_files import load_or_create_token
from smsgate.adapters.storage.disk import ADVICE, DiskProblem
from smsgate.bootstrap import Adapters
from smsgate.config import Config
from smsgate.domain.connectors import ConnectorSpec
from smsgate.domain.faults import FaultInjector
from smsgate.domain.ids import MessageIdGenerator, first_id_at
from smsgate.domain.limits import HOUR_S, utc_day_bounds, utc_month_bounds
from smsgate.doors import health
from smsgate.doors.admin import AdminApi
from smsgate.doors.aliyun import render
from smsgate.doors.aliyun.auth import ApiAuthenticator
from smsgate.doors.aliyun.server import AliyunDoor
from smsgate.doors.http_guard import GatedTCPSite, raise_open_file_limit
from smsgate.doors.smpp import SmppServer
from smsgate.ports.carrier import Carrier
from smsgate.ports.store import StoreError
from smsgate.service.access import AccessGuard
from smsgate.service.accounts import AccountService
from smsgate.service.admin import AdminService
from smsgate.service.cancel import CancelDesk, CancelService
from smsgate.service.connector_admin import ConnectorAdmin
from smsgate.service.connector_manager import ConnectorManager
from smsgate.service.connectors import ConnectorSet
from smsgate.service.delivery import DeliveryWorker, recover_unfinished
from smsgate.service.expiry import ExpirySweeper
from smsgate.service.health import Readiness
from smsgate.service.keyring import KeyRing
from smsgate.service.policy import PolicyCache
from smsgate.service.receipts import ReceiptProcessor
from smsgate.service.routing import Router
from smsgate.service.submit import SubmitService
from smsgate.service.upstream import UpstreamService

__all__ = ["Gateway", "Listening"]

log = logging.getLogger(__name__)

#: Nonces read per page at start, and how often expired ones are deleted (each delete then
#: removes only the few seconds' worth that expired since the last one).
_NONCE_PAGE = 10_000
_NONCE_PRUNE_S = 10.0
#: The connector manager looks at the connectors document at least this far apart.
_MIN_RECONCILE_S = 0.25
#: Messages read per page when the limiter is seeded at start.
_SEED_PAGE = 10_000
#: With several processes, how often SMPP binds look for receipts another process applied,
#: and how soon after one was applied here.
_OWED_REREAD_S = 0.5
_OWED_SOON_S = 0.02


@dataclass(frozen=True, slots=True)
class Listening:
    """Where this process listens; None for a door its role does not open."""

    http_host: str
    http_port: int | None
    smpp_port: int | None
    smpp_tls_port: int | None = None


class Gateway:
    """The server over one set of adapters; build it with :func:`smsgate.bootstrap.bootstrap`."""

    def __init__(self, config: Config, adapters: Adapters) -> None:
        self.config = config
        self.clock = adapters.clock
        self.store = adapters.store
        self.box = adapters.box  # connector passwords are sealed with it
        self._adapters = adapters
        self.readiness = Readiness(self.clock)
        self.store.set_disk_listener(self._on_disk)
        self.queue = adapters.queue
        self.policy = PolicyCache(self.store, self.clock, config.server.refresh_s)
        self.simulator = CarrierSimulator(config.simulator, self.clock)
        # The store tells a draining connector which receipts it still owes.
        self.carrier = ConnectorSet(
            Router(self.policy), self.simulator, self.clock, messages=self.store
        )
        self.connectors = ConnectorManager(
            self.policy,
            self.carrier,
            self._build_connector,
            self.box.open,
            interval_s=max(config.server.refresh_s, _MIN_RECONCILE_S),
            receipt_drain_s=config.upstream.receipt_drain_s,
        )
        self.limiter = adapters.limiter
        self.receipts = ReceiptProcessor(self.store, self.policy)
        self.pusher = CallbackPusher(
            self.store, render.receipt_push_body, self.clock, config.callbacks
        )
        # What upstream SMSCs deliver: receipts (matched by carrier id) and MO messages.
        self.upstream = UpstreamService(
            self.store, self.store, self.receipts, self.policy, self.clock
        )
        self.connector_process = ConnectorProcess(self.upstream)
        self.mo_pusher = SmsUpPusher(self.store, self.clock, config.callbacks)
        self.upstream.inbound.add_listener(lambda _stored: self.mo_pusher.wake())
        self.expiry = ExpirySweeper(
            self.store,
            self.receipts,
            self.clock,
            default_validity_s=config.upstream.default_validity_s,
            keep_s=config.upstream.keep_s,
            parts=self.store,
        )
        self.skew = skew = timedelta(seconds=config.server.timestamp_skew_s)
        self.keyring = KeyRing(self.store, self.clock, config.server.refresh_s)
        self.nonces = adapters.nonces
        self._chance = adapters.chance
        # The store keeps nonces for a guard that forgets them on restart; one that keeps them
        # itself (Redis) needs no second copy written with every request.
        kept = None if self.nonces.keeps_nonces_across_restarts else self.store
        self.authenticator = ApiAuthenticator(
            self.keyring, self.nonces, self.clock, skew, kept=kept
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._smpp: SmppServer | None = None
        self._receipts_ready = asyncio.Event()
        self._owed_due = False  # a re-read of what SMPP binds are owed is scheduled
        self.cancels = CancelDesk()

    def _wire_core(self, last_id: str | None) -> None:
        """Build the parts that depend on what the store holds (the last message id issued)."""
        config = self.config
        self.ids = MessageIdGenerator(config.server.node_id, last_issued=last_id)
        self.submit = SubmitService(
            self.store,
            self.store,
            self.store,
            self.queue,
            self.ids,
            self.clock,
            self.policy,
            self.limiter,
            max_segments=config.pipeline.max_segments,
        )
        self.worker = DeliveryWorker(
            self.queue,
            self.carrier,
            self.store,
            self.receipts,
            self.clock,
            config.pipeline.submit_batch,
            self.cancels,
            on_recorded=self.upstream.receipts.recent.remember,
        )
        self.guard = AccessGuard(self.policy, self.store, FaultInjector(self._chance))
        self.door = AliyunDoor(
            self.authenticator,
            self.guard,
            self.submit,
            self.store,
            self.clock,
            config.server.max_body_bytes,
            config.http,
        )

    async def open(self) -> None:
        """Start the store and load what decides requests, then build the core over them: what
        :meth:`start` does before its loops and listeners (and all that a test of one door
        needs)."""
        await self.store.start()
        if isinstance(self.queue, SharedDeliveryQueue):
            await self.queue.start()
        # Every cache that decides requests is loaded before the doors open: a burst of
        # requests arriving with the first connection must not be judged on empty defaults.
        await self.policy.load()  # policy documents, SMPP credentials among them
        await self.keyring.load()  # keys and their accounts
        if not self.nonces.keeps_nonces_across_restarts:
            await self._restore_nonces()  # a request sent before the start is not taken again
        self._wire_core(await self.store.last_message_id())
        await self._seed_quotas()
        if not self.limiter.keeps_counts_across_restarts:
            await self._seed_numbers()  # a restart does not reset per-number limits

    async def start(self) -> Listening:
        """Start what this process's role asks (``[server] role``; all of it by default):
        the delivery side (carriers, connectors, the queue's workers, receipts, callbacks,
        expiry), the HTTP door with the admin API, the SMPP door."""
        role = self.config.server.role
        delivers = role in ("all", "worker")
        # Before anything starts: a damaged token file stops the start with nothing to undo.
        token = load_or_create_token(self.config.admin.token, self.config.admin_token_path)
        await self.open()
        if delivers:
            await self._start_delivery()
        http_port = smpp_port = None
        if role in ("all", "api"):
            http_port = await self._start_http(token)
        if role in ("all", "smpp"):
            smpp_port = await self._start_smpp()
        return Listening(self.config.server.host, http_port, smpp_port, self._smpp_tls_port())

    async def _start_delivery(self) -> None:
        await self.carrier.start(self.receipts.report)
        await self._start_connectors()
        self.receipts.set_wakeup(self._receipts_ready.set)
        self.receipts.add_listener(lambda _changed: self.pusher.wake())
        self.receipts.add_listener(self.cancels.finished)
        # Messages newer than this id are enqueued by the door that accepts them.
        recover_before = self.ids.next_id(int(self.clock.now() * 1000))
        self._spawn(self._deliver_forever, "delivery")
        self._spawn(self._apply_receipts_forever, "receipts")
        self._spawn(self.pusher.run, "callbacks")
        self._spawn(self.mo_pusher.run, "mo-callbacks")
        self._spawn(lambda: self.expiry.run(self.config.upstream.expiry_sweep_s), "expiry")
        self._spawn(self._prune_nonces_forever, "nonces")
        self._spawn(self.connectors.run, "connectors")
        self._spawn(lambda: self._recover(recover_before), "recovery")

    async def _start_http(self, token: str) -> int:
        app = self.door.application()
        health.register(app, self.readiness)
        admin = AdminService(self.store, self.clock)
        AdminApi(
            self.store,
            AccountService(self.store, self.clock),
            admin,
            token,
            readiness=self.readiness,
            connectors=ConnectorAdmin(self.store, admin, self.box.seal),
            live=self.connectors.status,
        ).register(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._open_http_site()
        sockets = self._runner.addresses
        return int(sockets[0][1]) if sockets else self.config.server.http_port

    async def _start_smpp(self) -> int:
        self._smpp = smpp = self.smpp_server()
        if isinstance(self.queue, SharedDeliveryQueue):
            # Receipts (and MO messages) for this process's binds may be applied by another
            # process, and binds of one account may be bound to several: a delivery goes out
            # only through the store's claim on it, never straight from the process that
            # applied it (two processes would both send it). Read what binds are owed soon
            # after anything is applied here, and regularly for what others applied.
            self.receipts.add_listener(lambda _changed: self._reread_owed_soon())
            self.upstream.inbound.add_listener(lambda _stored: self._reread_owed_soon())
            self._spawn(self._reread_owed_forever, "smpp-owed")
        else:
            self.receipts.add_listener(smpp.outbox.on_final)
            self.upstream.inbound.add_listener(smpp.on_inbound)
        server = self.config.server
        return await smpp.start(server.host, server.smpp_port, reuse_port=server.reuse_port)

    def _smpp_tls_port(self) -> int | None:
        return self._smpp.tls_port if self._smpp is not None else None

    def smpp_server(self) -> SmppServer:
        """The SMPP door over the core (not listening yet); :meth:`open` must have run."""
        return SmppServer(
            submit=self.submit,
            accounts=self.store,
            messages=self.store,
            inbound=self.store,
            policy=self.policy,
            guard=self.guard,
            keyring=self.keyring,
            cancels=CancelService(self.cancels, self.store, self.queue, self.carrier, self.clock),
            clock=self.clock,
            config=self.config.smpp,
        )

    async def _open_http_site(self) -> None:
        limits = self.config.http
        open_files = raise_open_file_limit()
        max_connections = min(limits.max_connections, max(open_files - 256, 64))
        if max_connections < limits.max_connections:
            log.info(
                "HTTP connections capped at %d by the open-file limit (%d)",
                max_connections,
                open_files,
            )
        assert self._runner is not None
        site = GatedTCPSite(
            self._runner,
            self.config.server.host,
            self.config.server.http_port,
            max_connections=max_connections,
            max_connections_per_peer=limits.max_connections_per_peer,
            shutdown_timeout=limits.shutdown_timeout_s,
            reuse_port=self.config.server.reuse_port,
        )
        await site.start()

    async def stop(self) -> None:
        if self._smpp is not None:
            await self._smpp.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        # Let receipts that already arrived reach the store before it closes.
        with contextlib.suppress(StoreError):
            while await self.receipts.run_once():
                pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.connectors.stop()
        await self.carrier.close()
        await self.connector_process.close()
        await self.upstream.close()
        await self.pusher.close()
        await self.mo_pusher.close()
        if isinstance(self.queue, SharedDeliveryQueue):
            await self.queue.close()
        await self.store.close()
        await self._adapters.close()

    def _build_connector(self, spec: ConnectorSpec, password: str) -> Carrier:
        """An upstream SMPP connector (not started) for the connector manager: what its SMSC
        delivers goes to the upstream service, receipts and MO messages alike."""
        if self.config.upstream.connector_process:
            return ProcessConnector(self.connector_process, spec, password)
        return SmppCarrier(SmppConnector(spec, password, wall=self.clock), self.upstream)

    async def _start_connectors(self) -> None:
        """Start the configured connectors before delivery starts, so that the first messages
        recovered or accepted find them. One that fails is logged and shown failed by
        ``connectors list``; the manager's loop goes on reconciling in the background."""
        try:
            await self.connectors.reconcile()
        except Exception:
            log.exception("connectors could not be started; retrying in the background")

    async def _seed_quotas(self) -> None:
        """Day and month quotas count what the store already holds for this UTC day and month."""
        now = self.clock.now()
        day_start, month_start = utc_day_bounds(now)[0], utc_month_bounds(now)[0]
        by_day = await self.store.count_messages_since(first_id_at(int(day_start * 1000)))
        by_month = await self.store.count_messages_since(first_id_at(int(month_start * 1000)))
        await self.limiter.seed_usage(by_day, by_month, sum(by_day.values()), now)

    async def _seed_numbers(self) -> None:
        """Give the limiter the messages of the windows still open: the UTC day's and the last
        hour's (which may begin the day before), a page at a time, oldest first."""
        now = self.clock.now()
        since = min(utc_day_bounds(now)[0], now - HOUR_S)
        since_id = first_id_at(int(since * 1000))
        after: str | None = None
        seeded = 0
        started = time.monotonic()
        while page := await self.store.numbers_since(since_id, after, _SEED_PAGE):
            by_account: dict[str, list[tuple[str, str, float]]] = {}
            for use in page:
                by_account.setdefault(use.account_id, []).append(
                    (use.to, use.msg_type, use.created_at)
                )
            for account_id, records in by_account.items():
                limits = await self.policy.account_limits(account_id)
                await self.limiter.seed_numbers(account_id, records, limits, now)
            seeded += len(page)
            after = page[-1].message_id
        if seeded:
            log.info(
                "per-number limits: counted %d messages of the open windows in %.1f s",
                seeded,
                time.monotonic() - started,
            )

    def _on_disk(self, problem: DiskProblem | None) -> None:
        """The store's writes started failing on the disk, or work again (once per change)."""
        if problem is None:
            self.readiness.recovered("store")
        else:
            self.readiness.failing("store", problem.code, problem.detail, ADVICE[problem.code])

    async def _restore_nonces(self) -> None:
        """Remember the nonces of the replay window that the store kept (``ports.replay``)."""
        now = self.clock.now()
        await self.store.prune_nonces(now)
        at = datetime.fromtimestamp(now, UTC)
        window = self.skew
        after = None
        restored = 0
        while page := await self.store.live_nonces(now, after, _NONCE_PAGE):
            for kept in page:
                # The guard keeps a pair until max(timestamp, now) + window: handing it
                # expires_at - window keeps it at least as long as when it was first seen.
                signed = datetime.fromtimestamp(kept.expires_at, UTC) - window
                await self.nonces.check_and_remember(kept.access_key_id, kept.nonce, signed, at)
            restored += len(page)
            after = page[-1]
        if restored:
            log.info("remembered %d signature nonces of the replay window", restored)

    async def _prune_nonces_forever(self) -> None:
        """Nonces past their window are dropped in small, regular deletes."""
        while True:
            await asyncio.sleep(_NONCE_PRUNE_S)
            with contextlib.suppress(StoreError):  # reported by the store's health; try again
                await self.store.prune_nonces(self.clock.now())

    def _spawn(self, factory: Callable[[], Awaitable[None]], name: str) -> None:
        async def guarded() -> None:
            await factory()

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def _recover(self, before_id: str) -> None:
        if isinstance(self.queue, SharedDeliveryQueue):
            # Queued messages need no recovery: they are the store's, and a dead worker's
            # claims run out. What this node handed to a carrier that forgot it on restart
            # (the simulator) is handed over again.
            if self.carrier.resubmit_on_recovery:
                await self.queue.recover_node(self.config.server.node_id)
            return
        await recover_unfinished(self.store, self.queue, self.carrier, before_id)

    def _reread_owed_soon(self) -> None:
        """One re-read of what binds are owed for whatever was applied in the last moment."""
        if self._owed_due:
            return
        self._owed_due = True

        def reread() -> None:
            self._owed_due = False
            if self._smpp is not None:
                self._smpp.reread_owed()

        asyncio.get_running_loop().call_later(_OWED_SOON_S, reread)

    async def _reread_owed_forever(self) -> None:
        """Every ``_OWED_REREAD_S``, have the SMPP outboxes read what bound accounts are owed."""
        while True:
            await asyncio.sleep(_OWED_REREAD_S)
            if self._smpp is not None:
                self._smpp.reread_owed()

    async def _deliver_forever(self) -> None:
        while True:
            try:
                await self.worker.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The messages stay ACCEPTED in the store and are resumed on the next start.
                log.exception("delivery batch failed")
                await asyncio.sleep(1.0)

    async def _apply_receipts_forever(self) -> None:
        while True:
            await self._receipts_ready.wait()
            self._receipts_ready.clear()
            try:
                while await self.receipts.run_once():
                    pass
            except StoreError:
                await asyncio.sleep(1.0)
                self._receipts_ready.set()
