"""The store port: what the core needs to keep, whatever database keeps it.

The embedded adapter is SQLite (``adapters/storage/sqlite/``); several processes share PostgreSQL
(``adapters/storage/postgres/``); a memory fake serves unit tests (``adapters/storage/memory.py``).
The same contract tests (``tests/contract/``) run against every adapter.

Every write method is durable when its awaitable returns: the core answers "OK" to a client only
after :meth:`MessageStore.insert_messages` has returned. Adapters batch concurrent writes into one
transaction (group commit) so that durability does not cost a disk sync per message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import (
    Accepted,
    AccessKey,
    Account,
    AccountState,
    Message,
    MessageStatus,
    Receipt,
    SignName,
    Template,
)
from smsgate.ports.replay import NonceStore

__all__ = [
    "AccountStore",
    "CallbackJob",
    "CallbackRetry",
    "CallbackStore",
    "InboundPart",
    "InboundPushJob",
    "InboundStore",
    "MessageStore",
    "NumberUse",
    "PendingReceipt",
    "PolicyStore",
    "Store",
    "StoreError",
    "StoreProblem",
    "TemplateStore",
]


class StoreError(Exception):
    """The store failed (disk, database). The core turns this into isp.SYSTEM_ERROR."""


class AccountStore(Protocol):
    async def create_account(self, account: Account, key: AccessKey) -> None: ...
    async def get_account(self, account_id: str) -> Account | None: ...
    async def list_accounts(self) -> list[Account]: ...
    async def set_account_state(self, account_id: str, state: AccountState) -> bool: ...
    async def add_balance(self, account_id: str, delta_micros: int) -> int | None:
        """Add (or with a negative delta, take) money; returns the new balance, None if no such
        account. Never lets the balance go below zero: raises ValueError instead."""
        ...

    async def set_callback_url(self, account_id: str, url: str | None) -> bool: ...
    async def add_key(self, key: AccessKey) -> None: ...
    async def list_keys(self, account_id: str) -> list[AccessKey]: ...
    async def set_key_enabled(self, key_id: str, enabled: bool) -> bool: ...
    async def set_key_actions(self, key_id: str, actions: frozenset[str] | None) -> bool: ...
    async def delete_key(self, key_id: str) -> bool: ...
    async def find_key(self, key_id: str) -> tuple[AccessKey, Account] | None:
        """The key and its account, whatever their states (the caller decides what they mean)."""
        ...

    async def list_all_keys(self, limit: int) -> list[tuple[AccessKey, Account]]:
        """Up to ``limit`` keys with their accounts, in key id order: what the key cache loads
        before the server opens its doors."""
        ...


class TemplateStore(Protocol):
    async def put_template(self, template: Template) -> None:
        """Insert or replace (account_id, code)."""
        ...

    async def get_template(self, account_id: str, code: str) -> Template | None: ...
    async def list_templates(self, account_id: str) -> list[Template]: ...
    async def delete_template(self, account_id: str, code: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class PendingReceipt:
    """A carrier's receipt that named an id no message had yet: its submit_sm_resp is still on
    its way (or being recorded). Kept under each key its id may have been stored as
    (``domain.carrier_receipts.id_candidates``) until a message records one of them."""

    connector: str
    keys: tuple[str, ...]  # carrier keys, most likely first
    reported_id: str  # the id as the receipt gave it
    status: MessageStatus
    error_code: str
    carrier_status: str | None
    done_at: float
    refund: bool
    received_at: float

    def receipt(self, message_id: str, part: str) -> Receipt:
        """The receipt for the message that recorded ``part`` (one of :attr:`keys`)."""
        return Receipt(
            message_id,
            self.status,
            self.error_code,
            self.done_at,
            refund=self.refund,
            carrier_status=self.carrier_status,
            part=part,
        )


class MessageStore(Protocol):
    async def insert_messages(self, messages: Sequence[Message]) -> None:
        """Store newly accepted messages without charging; durable when it returns."""
        ...

    async def accept_messages(self, messages: Sequence[Message], charge_micros: int) -> bool:
        """Charge ``charge_micros`` to the messages' account and store them, in one transaction.

        All messages belong to one account. Returns False, storing and charging nothing, when the
        balance is below the charge: the balance never goes below zero, and a message is never
        charged twice (the charge and the rows commit together or not at all).
        """
        ...

    async def query_messages(
        self,
        account_id: str,
        *,
        since: float,
        until: float,
        to: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[Message]]:
        """An account's messages created in [since, until), optionally to one number, newest
        first: (total count, one page)."""
        ...

    async def numbers_since(
        self, since_id: str, after_id: str | None, limit: int
    ) -> list[NumberUse]:
        """A page of what per-number limits counted: the messages with an id at or above
        ``since_id`` (and above ``after_id``, the last of the previous page), by id. A starting
        server seeds its limiter with the windows still open."""
        ...

    async def count_messages_since(self, since_id: str) -> dict[str, int]:
        """Messages per account with an id at or above ``since_id`` (ids grow with time): what
        day and month quotas have used so far, rebuilt on start."""
        ...

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        """A message of this account; None if it does not exist or belongs to another account."""
        ...

    async def mark_submitted(self, outcomes: Sequence[Accepted]) -> list[Message]:
        """Record that carriers took these messages: status SUBMITTED, send_date, connector and
        carrier ids (kept as they were when an outcome has none). Final messages are left
        alone: a fast carrier's receipt may arrive before its submit is recorded.

        Receipts kept by :meth:`keep_pending_receipts` under one of the recorded ids are applied
        in the same transaction, as :meth:`apply_receipts` applies them, and forgotten; returns
        the messages they made final (for the receipt listeners)."""
        ...

    async def find_by_carrier_id(self, connector: str, carrier_message_id: str) -> Message | None:
        """The message a carrier connection knows by this id (that of any of its parts), as
        :meth:`mark_submitted` or a receipt recorded it: how a carrier's receipt, which names only
        its own id, finds our message. None if there is none. A carrier that reuses an id finds
        the message it was last recorded for. Ids are recorded and looked up by their carrier
        key (``domain.carrier_receipts.carrier_key``: ``00A1`` finds ``a1``)."""
        ...

    async def find_by_carrier_ids(
        self, connector: str, carrier_message_ids: Sequence[str]
    ) -> dict[str, Message]:
        """:meth:`find_by_carrier_id` for many ids in one query: each id given that finds a
        message, with it."""
        ...

    async def keep_pending_receipts(self, receipts: Sequence[PendingReceipt]) -> list[Message]:
        """Keep receipts whose id no message had when they were looked up, until
        :meth:`mark_submitted` records one of their keys (a newer receipt under the same
        (connector, key) replaces an older one).

        In the same transaction, a receipt whose key a message recorded meanwhile (between the
        caller's look-up and this write) is applied to it instead of being kept: the look-up and
        the recording of ids cannot miss each other. Returns the messages so made final."""
        ...

    async def prune_pending_receipts(self, received_before: float) -> int:
        """Forget kept receipts received before this time (their messages never showed up);
        how many were forgotten (one per receipt, whatever its number of keys)."""
        ...

    async def submitted_past_expiry(
        self, now: float, default_validity_s: float, limit: int
    ) -> list[str]:
        """Ids of up to ``limit`` SUBMITTED messages whose validity ran out at or before
        ``now`` (created_at + validity_period, or + ``default_validity_s`` without one), oldest
        expiry first: a carrier that never sent their receipt will not send it now."""
        ...

    async def count_awaiting_receipt(self, connector: str, sent_until: float) -> int:
        """How many messages handed over through ``connector`` at or before ``sent_until``
        (their ``send_date``) are still SUBMITTED, awaiting their receipt: what a connector
        being drained still owes. The time bound leaves out a successor's messages, which
        share the connector's name. Counted in the order of the store's writes: a hand-over
        whose ``mark_submitted`` was called before this is counted, even if its write is still
        under way. Cheap enough to ask every half second."""
        ...

    async def apply_receipts(self, receipts: Sequence[Receipt]) -> list[Message]:
        """Move messages to their final status.

        Idempotent: a receipt for a message already final is ignored. Returns the messages that
        changed. A receipt with a ``part`` for a message sent in several parts records that
        part's outcome (durably, with the carrier id): a DELIVERED part leaves the message
        SUBMITTED until every part has been delivered; any other outcome makes it final at once
        (the first failure wins). ``carrier_status`` is kept on the message. A receipt's
        connector and carrier ids, when it has them, are recorded as :meth:`mark_submitted`
        records them. A changed message whose receipt says ``refund``
        gets its ``price_micros`` back on its account's balance, in the same transaction (so at
        most once). The same transaction queues an HTTP callback for every changed message
        whose account has a callback URL, and an SMPP receipt for every one that
        :attr:`Message.wants_smpp_receipt`, so that no receipt push is lost to a crash.
        """
        ...

    async def pending_smpp_receipts(
        self, account_id: str, after_id: str | None, limit: int
    ) -> list[Message]:
        """An account's messages whose SMPP receipt is queued and not yet acknowledged, in id
        order after ``after_id``: what a receiver bind is owed."""
        ...

    async def finish_smpp_receipts(self, account_id: str, message_ids: Sequence[str]) -> None:
        """The client acknowledged these receipts (deliver_sm_resp): never send them again."""
        ...

    async def cancel_message(self, account_id: str, message_id: str, at: float) -> Message | None:
        """Cancel a message of this account still ACCEPTED (not handed to a carrier): it becomes
        CANCELLED and its price goes back to the balance, in one transaction. Returns it, or None
        when there is no such message or it is already further along."""
        ...

    async def list_messages(self, account_id: str, limit: int) -> list[Message]:
        """An account's latest messages, newest first."""
        ...

    async def last_message_id(self) -> str | None:
        """The highest message id stored, so a restarted id generator never reissues one."""
        ...

    async def unfinished_messages(self, after_id: str | None, limit: int) -> list[Message]:
        """Messages not yet final, in id order, after ``after_id``: the work to resume on start."""
        ...

    async def record_conversion(
        self, account_id: str, message_id: str, converted: bool, at: float
    ) -> bool:
        """SmsConversion feedback; False if the message is not this account's."""
        ...

    async def add_conversion_data(
        self, account_id: str, rate: float, report_time: float
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class CallbackJob:
    """A receipt waiting to be pushed to an account's callback URL."""

    id: int
    account_id: str
    url: str
    message: Message
    attempts: int


@dataclass(frozen=True, slots=True)
class CallbackRetry:
    id: int
    attempts: int
    next_attempt_at: float
    last_error: str
    dead: bool  # gave up: kept for the operator to inspect, never retried again


class CallbackStore(Protocol):
    async def due_callbacks(self, now: float, limit: int) -> list[CallbackJob]:
        """Pending callbacks whose next attempt is due, oldest first."""
        ...

    async def next_callback_due(self) -> float | None:
        """When the earliest pending callback is due; None if there is none."""
        ...

    async def finish_callbacks(self, ids: Sequence[int]) -> None: ...
    async def retry_callbacks(self, retries: Sequence[CallbackRetry]) -> None: ...


@dataclass(frozen=True, slots=True)
class InboundPart:
    """One part of a long MO message, as an SMSC delivered it (UDH or SAR numbering)."""

    connector: str
    source: str
    destination: str
    reference: int
    total: int
    number: int
    data_coding: int
    body: bytes  # the part's user data, less any header
    received_at: float

    @property
    def group(self) -> tuple[str, str, str, int, int]:
        """The message it is part of: one sender's reference to one number, on one link."""
        return (self.connector, self.source, self.destination, self.reference, self.total)


@dataclass(frozen=True, slots=True)
class InboundPushJob:
    """An MO message waiting to be pushed (Alibaba's SmsUp) to its account's callback URL."""

    id: int
    account_id: str
    url: str
    message: InboundMessage
    attempts: int


class InboundStore(Protocol):
    """MO messages: parts until their message is whole, the messages, and their deliveries
    owed to the owning account (HTTP pushes and SMPP deliver_sm), each until acknowledged."""

    async def add_inbound_part(self, part: InboundPart) -> list[InboundPart] | None:
        """Keep a part of a long MO message (durable when it returns). When its group then
        holds every part: all of them, in part order, still kept (:meth:`store_inbound`
        removes them with the message it stores). A part number the group holds already is
        not kept again (the first one counts)."""
        ...

    async def store_inbound(
        self, message: InboundMessage, *, completes: InboundPart | None = None, smpp: bool = False
    ) -> InboundMessage | None:
        """Store an MO message and queue its deliveries, in one transaction: a push to its
        account's callback URL (as the account has it now) if it has one, and an SMPP
        deliver_sm to its binds if ``smpp``. Returns it with its ``sequence_id`` (given here,
        growing; the one ``message`` has is ignored).

        ``completes``: a part of the group the message was put together from. The group's parts
        are removed in the same transaction, and if they were gone already (the last part was
        delivered twice and the first delivery stored the message) nothing is stored: None."""
        ...

    async def due_inbound_pushes(self, now: float, limit: int) -> list[InboundPushJob]:
        """Pushes whose next attempt is due, oldest first."""
        ...

    async def next_inbound_push_due(self) -> float | None: ...
    async def finish_inbound_pushes(self, ids: Sequence[int]) -> None: ...
    async def retry_inbound_pushes(self, retries: Sequence[CallbackRetry]) -> None: ...

    async def pending_smpp_inbound(
        self, account_id: str, after_sequence_id: int | None, limit: int
    ) -> list[InboundMessage]:
        """An account's MO messages owed to its SMPP binds, in sequence order after
        ``after_sequence_id``: what a receiver bind reads back when it binds."""
        ...

    async def finish_smpp_inbound(self, account_id: str, sequence_ids: Sequence[int]) -> None:
        """A bind acknowledged these (deliver_sm_resp ESME_ROK): never send them again."""
        ...

    async def list_inbound(self, account_id: str, limit: int) -> list[InboundMessage]:
        """An account's latest MO messages, newest first."""
        ...

    async def prune_inbound_parts(self, received_before: float) -> int:
        """Forget parts received before this time (their message never became whole); how
        many parts were forgotten."""
        ...


class PolicyStore(Protocol):
    """Operator-edited policy kept as named JSON documents (prices, countries, keywords, limits,
    faults, per-account settings), each with a version that grows on every change so that
    running servers can tell cheaply when to reload."""

    async def get_document(self, name: str) -> tuple[int, str] | None:
        """(version, JSON text), or None if never written."""
        ...

    async def put_document(self, name: str, body: str) -> int:
        """Write a document; returns its new version."""
        ...

    async def document_versions(self) -> dict[str, int]: ...

    async def put_sign_name(self, sign: SignName) -> None:
        """Insert or replace (account_id, name)."""
        ...

    async def get_sign_name(self, account_id: str, name: str) -> SignName | None: ...
    async def list_sign_names(self, account_id: str) -> list[SignName]: ...
    async def delete_sign_name(self, account_id: str, name: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class NumberUse:
    """One accepted message as per-number limits count it."""

    message_id: str
    account_id: str
    to: str
    msg_type: str
    created_at: float


@dataclass(frozen=True, slots=True)
class StoreProblem:
    """Why the store cannot write now, for the operator: the server reports it not ready
    until writes succeed again (``/health/ready``)."""

    code: str  # disk_full | disk_io_error | read_only, or an adapter's own (database_unreachable)
    detail: str  # the error as the database or the OS reported it


class Store(
    AccountStore,
    TemplateStore,
    MessageStore,
    CallbackStore,
    InboundStore,
    PolicyStore,
    NonceStore,
    Protocol,
):
    """Everything the embedded default keeps in one database."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    def set_disk_listener(self, listener: Callable[[StoreProblem | None], None]) -> None:
        """Call ``listener`` on the event loop when writes start failing for a disk problem
        (full, I/O error, read-only) and with None when they succeed again: once per change.
        A store with no disk of its own never calls it."""
        ...
