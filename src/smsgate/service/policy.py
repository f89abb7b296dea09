"""The operator's policy documents, parsed once and kept current.

Rules read prices, country rules, keywords, limits, faults and account settings on every message;
reading and parsing them from the store each time would put I/O and JSON on the hot path. This
cache asks the store for document versions at most once a second and re-parses only what changed,
so that changes made through the CLI or the admin API (possibly by another process) take effect
within a second.

No request is ever decided on policy that was not loaded. The server awaits :meth:`PolicyCache.load`
before it opens its doors; a cache used before that (tests) makes its first callers wait for the
one first read they share. A refresh builds the new version aside and swaps it in whole: callers
that arrive while it runs get the last loaded version (never an empty or half-read one, and only
one read of the store runs at a time), and a refresh that fails keeps that version in service.
With ``ttl_s`` 0 ("at once", used by tests and the interop suite) callers instead wait for a read
that began after they were called, so that a change written just before a call is always seen.

Document names: ``platform``, ``prices``, ``countries``, ``keywords``, ``faults``,
``account:<account id>``, ``key:<AccessKey id>``, ``smpp``, ``connectors``, ``routes``,
``inbound``. A document that does not exist means its defaults. A stored document that no
longer parses (written by an older version, or by hand) is logged and its defaults are used,
rather than stopping every send.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from smsgate.domain.connectors import parse_connectors_document
from smsgate.domain.countries import CountryRules
from smsgate.domain.faults import FaultRule, parse_faults
from smsgate.domain.inbound import parse_inbound_document
from smsgate.domain.keywords import KeywordMatcher
from smsgate.domain.limits import LimitPolicy
from smsgate.domain.pricing import PriceTable
from smsgate.domain.routing import RouteTable, parse_routes_document
from smsgate.domain.settings import AccountSettings, PlatformSettings
from smsgate.ports.clock import Clock
from smsgate.ports.store import PolicyStore, StoreError
from smsgate.service.smpp_accounts import parse_smpp_document

__all__ = ["DEFAULT_PRICES", "DOCUMENT_PARSERS", "Policy", "PolicyCache", "parse_document"]

log = logging.getLogger(__name__)

#: What an account without settings of its own gets (frozen: one instance serves them all).
_NO_SETTINGS: Final = AccountSettings()

T = TypeVar("T")

#: With no price table, every destination costs 0.05 a segment: enough for a zero balance to be
#: refused with isv.AMOUNT_NOT_ENOUGH, as on Alibaba.
DEFAULT_PRICES = PriceTable(default_micros=50_000)


def _keywords(doc: Any) -> KeywordMatcher:
    if not isinstance(doc, list) or not all(isinstance(k, str) for k in doc):
        raise ValueError("keywords must be a JSON list of strings")
    return KeywordMatcher(doc)


#: Document name (or prefix, for per-account and per-key ones) -> parser of its JSON value.
DOCUMENT_PARSERS: dict[str, Callable[[Any], Any]] = {
    "platform": PlatformSettings.from_dict,
    "prices": PriceTable.from_dict,
    "countries": CountryRules.from_dict,
    "keywords": _keywords,
    "faults": parse_faults,
    "account:": AccountSettings.from_dict,
    "key:": json.dumps,  # evaluated per call by domain.ram
    "smpp": parse_smpp_document,  # SMPP credentials, see service.smpp_accounts
    "connectors": parse_connectors_document,  # upstream SMSCs, see domain.connectors
    "routes": parse_routes_document,  # which connector takes a message, see domain.routing
    "inbound": parse_inbound_document,  # which account owns an MO number, see domain.inbound
}


def parse_document(name: str, text: str) -> Any:
    """Parse and validate a document; ValueError says what is wrong (the CLI and API show it)."""
    prefix, colon, subject = name.partition(":")
    parser = DOCUMENT_PARSERS.get(name) if not colon else DOCUMENT_PARSERS.get(prefix + ":")
    if parser is None or (colon and not subject):
        raise ValueError(f"unknown policy document {name!r}")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ValueError(f"{name} is not valid JSON: {exc}") from None
    return parser(doc)


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything platform-wide the rules need, as of one moment."""

    platform: PlatformSettings = field(default_factory=PlatformSettings)
    prices: PriceTable = DEFAULT_PRICES
    countries: CountryRules = field(default_factory=CountryRules)
    keywords: KeywordMatcher | None = None
    faults: tuple[FaultRule, ...] = ()
    limits: LimitPolicy = field(default_factory=LimitPolicy)
    faults_version: int = 0
    #: Which connectors take a message (none: the simulator takes everything).
    routes: RouteTable = field(default_factory=lambda: RouteTable(()))


class PolicyCache:
    def __init__(self, store: PolicyStore, clock: Clock, ttl_s: float = 1.0) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl_s
        #: When the loaded version is due for a check (0.0 until the first load succeeds).
        self._next_check = 0.0
        self._loaded = False
        self._loading: asyncio.Future[None] | None = None  # set while a read runs
        self._loading_began = 0.0
        self._failing = False  # the last refresh failed (logged once per run of failures)
        self._versions: dict[str, int] = {}
        self._parsed: dict[str, Any] = {}
        self._policy = Policy()
        self._account_limits: dict[str, LimitPolicy] = {}

    async def load(self) -> None:
        """Read every document now, waiting for it; StoreError if the store cannot be read.

        Start-up awaits this before the doors open, so that the first burst of requests is
        judged on the operator's policy rather than on defaults."""
        await self._refresh()

    async def current(self) -> Policy:
        await self._refresh()
        return self._policy

    async def account(self, account_id: str) -> AccountSettings:
        await self._refresh()
        settings: AccountSettings = self._parsed.get(f"account:{account_id}", _NO_SETTINGS)
        return settings

    async def account_limits(self, account_id: str) -> LimitPolicy:
        """The platform limits with the account's overrides applied."""
        policy = await self.current()
        merged = self._account_limits.get(account_id)
        if merged is None:
            settings = await self.account(account_id)
            try:
                merged = policy.limits.merged(settings.limits) if settings.limits else policy.limits
            except ValueError as exc:  # stored before limits were validated on write
                log.error(
                    "limits of account %s are invalid, using the platform's: %s", account_id, exc
                )
                merged = policy.limits
            self._account_limits[account_id] = merged
        return merged

    async def key_policy(self, key_id: str) -> str | None:
        await self._refresh()
        policy: str | None = self._parsed.get(f"key:{key_id}")
        return policy

    async def document(self, name: str, default: T) -> T:
        """The parsed document ``name`` (e.g. ``smpp``), or ``default`` if absent or invalid."""
        await self._refresh()
        value: T = self._parsed.get(name, default)
        return value

    async def _refresh(self) -> None:
        """Make sure a loaded version, checked within ``ttl_s``, is in place (see the module
        docstring). Only the caller that finds it due reads, on its own task (no extra task
        switch on the hot path); the others wait for that read only if nothing is loaded yet,
        or with ``ttl_s`` 0 ("at once"), where they need a read that began after they came."""
        arrived = self._clock.now()
        while arrived >= self._next_check:
            pending = self._loading
            if pending is None:
                await self._read_shared()
                return
            if self._loaded and self._ttl > 0:
                return  # someone is checking: keep serving the last loaded version
            began = self._loading_began
            # Its failure is ours too; if its reader was cancelled instead, look again.
            await asyncio.shield(pending)
            if self._loaded and (self._ttl > 0 or began >= arrived):
                return

    async def _read_shared(self) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_consume)
        self._loading = done
        self._loading_began = self._clock.now()
        try:
            await self._read()
        except asyncio.CancelledError:
            done.set_result(None)
            raise
        except BaseException as exc:
            done.set_exception(exc)
            raise
        else:
            done.set_result(None)
        finally:
            self._loading = None

    async def _read(self) -> None:
        """One check of the store; swaps a new version in whole, or keeps the last one."""
        started = self._clock.now()
        try:
            versions = await self._store.document_versions()
            changed = [name for name, v in versions.items() if self._versions.get(name) != v]
            parsed, known = dict(self._parsed), dict(self._versions)
            for name in changed:
                found = await self._store.get_document(name)
                if found is None:
                    continue
                version, text = found
                try:
                    parsed[name] = parse_document(name, text)
                except (ValueError, TypeError) as exc:
                    log.error(
                        "policy document %s v%d is invalid, using defaults: %s", name, version, exc
                    )
                    parsed.pop(name, None)
                known[name] = version
        except StoreError as exc:
            if not self._loaded:
                raise  # nothing to fall back on: the caller must not decide on defaults
            if not self._failing:
                log.error("cannot read policy documents, keeping the loaded ones: %s", exc)
                self._failing = True
            self._next_check = started + self._ttl
            return
        if self._failing:
            log.info("policy documents readable again")
            self._failing = False
        if changed or not self._loaded:
            self._parsed, self._versions = parsed, known
            self._rebuild(versions)
        self._loaded = True
        self._next_check = started + self._ttl

    def _rebuild(self, versions: dict[str, int]) -> None:
        platform = self._get("platform", PlatformSettings())
        try:
            limits = LimitPolicy.from_dict(platform.limits) if platform.limits else LimitPolicy()
        except ValueError as exc:
            log.error("platform limits are invalid, using defaults: %s", exc)
            limits = LimitPolicy()
        self._policy = Policy(
            platform=platform,
            prices=self._get("prices", DEFAULT_PRICES),
            countries=self._get("countries", CountryRules()),
            keywords=self._parsed.get("keywords"),
            faults=self._get("faults", ()),
            limits=limits,
            faults_version=versions.get("faults", 0),
            routes=self._get("routes", RouteTable(())),
        )
        self._account_limits.clear()

    def _get(self, name: str, default: T) -> T:
        value: T = self._parsed.get(name, default)
        return value


def _consume(done: asyncio.Future[None]) -> None:
    """Retrieve a shared read's failure even when nobody else waited for it (the reader had it
    raised already; nobody needs it logged again)."""
    if not done.cancelled():
        done.exception()
