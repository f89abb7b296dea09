"""``SqliteStore``: the mixin of each protocol module over one writer, and nothing else."""

from __future__ import annotations

from smsgate.adapters.storage.sqlite.accounts import AccountsMixin
from smsgate.adapters.storage.sqlite.callbacks import CallbacksMixin
from smsgate.adapters.storage.sqlite.inbound import InboundMixin
from smsgate.adapters.storage.sqlite.messages import MessagesMixin
from smsgate.adapters.storage.sqlite.nonces import NoncesMixin
from smsgate.adapters.storage.sqlite.policy import PolicyMixin
from smsgate.adapters.storage.sqlite.receipts import ReceiptsMixin
from smsgate.adapters.storage.sqlite.templates import TemplatesMixin
from smsgate.adapters.storage.sqlite.writer import StoreWriter

__all__ = ["SqliteStore"]


class SqliteStore(
    AccountsMixin,
    TemplatesMixin,
    MessagesMixin,
    ReceiptsMixin,
    CallbacksMixin,
    InboundMixin,
    PolicyMixin,
    NoncesMixin,
    StoreWriter,
):
    """The :class:`smsgate.ports.store.Store` port on one SQLite file.

    ``durability="full"`` syncs the WAL at every commit: an accepted message survives a power
    cut. ``"normal"`` syncs only at checkpoints: it survives a crash of the process but may lose
    the last commits to a power cut, for some more throughput on slow disks.

    Must be started, used and closed on one event loop. A write whose caller is cancelled may
    still be committed (it was already queued): callers must not assume otherwise.

    Each mixin is one port's methods (one module each); ``StoreWriter`` is the plumbing they
    share. A mixin calls ``self._write`` as the one class did: no call in between.
    """
