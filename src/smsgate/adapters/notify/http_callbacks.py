"""Receipt pushes (and, through the same :class:`Pusher`, MO pushes) to customers' HTTP
callback URLs.

Receipts to push are rows in the store, written in the same transaction that made the message
final, so a crash cannot lose one. This pusher takes due rows, POSTs them grouped per URL as one
JSON array (as Alibaba does: several receipts may come in one request), and on failure reschedules
them with exponential back-off until ``max_attempts``, after which a row is kept as dead for the
operator to inspect. Alibaba warns that receipts may arrive twice; so may ours (a crash between the
POST and the bookkeeping), and each carries its ``MessageId`` to de-duplicate on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import aiohttp

from smsgate.adapters.notify.destinations import GuardedResolver
from smsgate.config import CallbackConfig
from smsgate.domain.destinations import DestinationPolicy, parse_networks
from smsgate.domain.models import Message
from smsgate.ports.clock import Clock
from smsgate.ports.store import CallbackJob, CallbackRetry, CallbackStore

__all__ = ["CallbackPusher", "PushJob", "PushQueue", "Pusher", "backoff_delay"]

log = logging.getLogger(__name__)

RenderBatch = Callable[[Sequence[Message]], bytes]


class PushJob(Protocol):
    """One row to push: where, and how many times it was tried."""

    @property
    def id(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def attempts(self) -> int: ...


J = TypeVar("J", bound=PushJob)


@dataclass(frozen=True, slots=True)
class PushQueue(Generic[J]):
    """The store's rows of one kind of push: the store's four methods for them."""

    due: Callable[[float, int], Awaitable[list[J]]]
    next_due: Callable[[], Awaitable[float | None]]
    finish: Callable[[Sequence[int]], Awaitable[None]]
    retry: Callable[[Sequence[CallbackRetry]], Awaitable[None]]


def backoff_delay(attempts: int, config: CallbackConfig, jitter: float = 1.0) -> float:
    """Seconds to wait after the ``attempts``-th failure: doubling from the first delay, capped."""
    # Cap the exponent first: 2 ** 1100 does not fit a float, and max_attempts has no bound.
    doublings = min(max(0, attempts - 1), 64)
    base = config.backoff_initial_s * float(2**doublings)
    return float(min(config.backoff_max_s, base * jitter))


def _any_answer(_body: bytes) -> str | None:
    return None


class Pusher(Generic[J]):
    """Pushes due rows of a :class:`PushQueue`: grouped per URL, one JSON array per POST
    (``render``), retried with back-off. A 2xx answer is a success unless ``refusal`` reads a
    refusal in its body (a short reason, or None)."""

    def __init__(
        self,
        queue: PushQueue[J],
        render: Callable[[Sequence[J]], bytes],
        clock: Clock,
        config: CallbackConfig,
        *,
        what: str,
        refusal: Callable[[bytes], str | None] = _any_answer,
        max_concurrent_posts: int = 16,
        coalesce_s: float = 0.05,
    ) -> None:
        self._queue = queue
        self._render = render
        self._clock = clock
        self._config = config
        self._what = what
        self._refusal = refusal
        self._wakeup = asyncio.Event()
        self._limit = asyncio.Semaphore(max_concurrent_posts)
        self._session: aiohttp.ClientSession | None = None
        self._coalesce_s = coalesce_s
        self._destinations = DestinationPolicy(parse_networks(config.blocked_networks))

    def wake(self) -> None:
        self._wakeup.set()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self) -> None:
        while True:
            self._wakeup.clear()
            handled = await self.push_due()
            if handled:
                continue
            due = await self._queue.next_due()
            timeout = None if due is None else max(0.0, due - self._clock.now())
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                continue
            # Receipts arrive in many small batches; gather a few before asking the store, so
            # that a busy pipeline costs a handful of queries a second, not one per batch.
            await asyncio.sleep(self._coalesce_s)

    async def push_due(self) -> int:
        """Push every row due now; returns how many were attempted."""
        jobs = await self._queue.due(self._clock.now(), self._config.batch_size * 10)
        if not jobs:
            return 0
        by_url: dict[str, list[J]] = defaultdict(list)
        for job in jobs:
            by_url[job.url].append(job)
        chunks = [
            group[i : i + self._config.batch_size]
            for group in by_url.values()
            for i in range(0, len(group), self._config.batch_size)
        ]
        results = await asyncio.gather(*(self._post(chunk) for chunk in chunks))
        done: list[int] = []
        retries: list[CallbackRetry] = []
        now = self._clock.now()
        for chunk, error in zip(chunks, results, strict=True):
            if error is None:
                done.extend(job.id for job in chunk)
                continue
            for job in chunk:
                attempts = job.attempts + 1
                dead = attempts >= self._config.max_attempts
                delay = backoff_delay(attempts, self._config, random.uniform(0.9, 1.1))  # noqa: S311
                retries.append(CallbackRetry(job.id, attempts, now + delay, error, dead))
                if dead:
                    log.warning("giving up on %s %s", self._what, self._describe(job))
        if done:
            await self._queue.finish(done)
        if retries:
            await self._queue.retry(retries)
        return len(jobs)

    def _describe(self, job: J) -> str:
        return f"#{job.id}"

    async def _post(self, chunk: Sequence[J]) -> str | None:
        """POST one chunk; None on success, else a short reason (never the body or secrets)."""
        body = self._render(chunk)
        async with self._limit:
            try:
                self._destinations.check_url(chunk[0].url)
                session = self._get_session()
                async with session.post(
                    chunk[0].url,
                    data=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    allow_redirects=False,  # a redirect could lead anywhere, past the checks
                ) as response:
                    answer = await response.read()
                    if 200 <= response.status < 300:
                        return self._refusal(answer)
                    return f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return f"{type(exc).__name__}: {exc}"[:200]

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._config.timeout_s),
                connector=aiohttp.TCPConnector(resolver=GuardedResolver(self._destinations)),
            )
        return self._session


class CallbackPusher(Pusher[CallbackJob]):
    """Receipt pushes: any 2xx answer counts as received."""

    def __init__(
        self,
        store: CallbackStore,
        render: RenderBatch,
        clock: Clock,
        config: CallbackConfig,
        max_concurrent_posts: int = 16,
        coalesce_s: float = 0.05,
    ) -> None:
        super().__init__(
            PushQueue(
                store.due_callbacks,
                store.next_callback_due,
                store.finish_callbacks,
                store.retry_callbacks,
            ),
            lambda jobs: render([job.message for job in jobs]),
            clock,
            config,
            what="receipt callback for message",
            max_concurrent_posts=max_concurrent_posts,
            coalesce_s=coalesce_s,
        )

    def _describe(self, job: CallbackJob) -> str:
        return job.message.id
