"""In-process replay guard: refuses a signature nonce already used by the same access key.

An Alibaba signature is valid for the whole acceptance window (15 minutes either side of the
server clock), so a captured request could be sent again and again. Alibaba refuses a reused
``SignatureNonce`` / ``x-acs-signature-nonce`` with ``SignatureNonceUsed``; this guard is what lets
the door do the same. Call it only for requests whose signature and timestamp were already
verified: the nonces of forged or stale requests should not take memory, nor be able to "burn" a
legitimate client's nonce.

It is per process. Several worker processes behind one listener need a shared guard (a store
with a TTL) instead; this one suits a single-process gateway and tests.

Memory, measured with ``tracemalloc`` on CPython 3.11: about 90 bytes per remembered nonce (75 to
100 depending on where the lookup set is in its growth cycle): a 60-bit ``int`` object (32 bytes),
its slot in the lookup set (16 bytes per slot at 30-60 % load) and an 8-byte reference in its
expiry bucket. At 3,000 requests/s with the default 15-minute window the guard holds about 2.9
million nonces at steady state: 260 MB measured, 310 MB at the peak of a set resize. It grows
linearly with the request rate and the window; ``tests/unit/test_nonce_guard.py`` keeps the
per-entry figure from regressing.
"""

from __future__ import annotations

import hashlib
import math
import os
from datetime import datetime, timedelta

__all__ = ["MemoryNonceGuard"]

_DIGEST_BYTES = 8
#: 60 bits keep every digest in a 32-byte int object (64 bits would take 36 bytes); with 3 million
#: nonces remembered, a fresh nonce is wrongly taken for a replay once in about 4 * 10^11 requests.
_DIGEST_SHIFT = 4


class MemoryNonceGuard:
    """Remembers ``(access_key_id, nonce)`` pairs until their request can no longer be replayed.

    A pair is remembered until ``max(timestamp, now) + window`` has passed: a client clock ahead
    of ours keeps the request acceptable until its own timestamp plus the window, one behind it
    until we saw it plus the window. Use the same ``window`` as the timestamp check's skew.

    Pairs are stored as keyed 60-bit BLAKE2b digests (no strings are kept; the random key makes
    collisions impossible to aim at). Expiry is by time bucket: every pair goes into the bucket
    of the ``bucket`` width during which it expires, and a bucket is dropped whole once its time
    has passed, so a pair may be remembered up to one bucket width longer than needed, never
    less. Each call is O(1); dropping a bucket costs O(its size) in C, once per bucket width.

    Not thread-safe: meant for one event loop.
    """

    __slots__ = ("_bucket_seconds", "_buckets", "_key", "_next_purge", "_seen", "_window_seconds")

    def __init__(
        self,
        window: timedelta = timedelta(minutes=15),
        *,
        bucket: timedelta = timedelta(minutes=1),
        key: bytes | None = None,
    ) -> None:
        """``bucket`` trades memory (entries outlive their expiry by up to one width) against
        how often buckets are dropped; ``key`` (up to 64 bytes) is for reproducible tests only.
        """
        if window <= timedelta(0) or bucket <= timedelta(0):
            raise ValueError("window and bucket must be positive")
        self._window_seconds = window.total_seconds()
        self._bucket_seconds = bucket.total_seconds()
        self._key = os.urandom(32) if key is None else key
        self._seen: set[int] = set()
        self._buckets: dict[int, list[int]] = {}
        self._next_purge = -math.inf

    def __len__(self) -> int:
        """How many pairs are remembered (including any not yet dropped past their expiry)."""
        return len(self._seen)

    def check_and_remember(
        self, access_key_id: str, nonce: str, timestamp: datetime, now: datetime
    ) -> bool:
        """Return ``False`` if the pair is still remembered, else remember it and return ``True``.

        ``timestamp`` is the request's signed timestamp, ``now`` the server clock; both must be
        timezone-aware.
        """
        now_seconds = _epoch_seconds(now)
        self._purge(now_seconds)
        digest = self._digest(access_key_id, nonce)
        if digest in self._seen:
            return False
        expires = max(_epoch_seconds(timestamp), now_seconds) + self._window_seconds
        index = math.ceil(expires / self._bucket_seconds)
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = []
        bucket.append(digest)
        self._seen.add(digest)
        return True

    def _digest(self, access_key_id: str, nonce: str) -> int:
        """A keyed 60-bit digest; the length prefix keeps ("ab", "c") apart from ("a", "bc")."""
        data = f"{len(access_key_id)}:{access_key_id}{nonce}".encode("utf-8", "surrogatepass")
        raw = hashlib.blake2b(data, digest_size=_DIGEST_BYTES, key=self._key).digest()
        return int.from_bytes(raw) >> _DIGEST_SHIFT

    def _purge(self, now_seconds: float) -> None:
        """Drop every bucket whose time has passed; does nothing within the same bucket width.

        A bucket with index ``i`` holds pairs expiring in ``((i - 1) * width, i * width]``, so it
        can go once ``now >= i * width``. New pairs always land in a later bucket than the
        current one, so checking once per width is enough.
        """
        current = math.floor(now_seconds / self._bucket_seconds)
        if current < self._next_purge:
            return
        for index in [index for index in self._buckets if index <= current]:
            self._seen.difference_update(self._buckets.pop(index))
        self._next_purge = current + 1


def _epoch_seconds(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("MemoryNonceGuard needs timezone-aware datetimes")
    return moment.timestamp()
