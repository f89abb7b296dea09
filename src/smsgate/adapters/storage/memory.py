"""The store port in plain dicts: a fake for unit tests, with the SQLite adapter's behaviour.

The contract suite (``tests/contract/test_store.py``) runs against this and the SQLite store, so
a unit test written against this fake means the same thing in production. No threads, no I/O:
every method completes without suspending, which makes each one atomic on the event loop just as
each SQLite operation is atomic in its transaction. Secrets are kept as they are (nothing here
outlives the process), and records are copied in and out so callers cannot change stored data by
mutating what they hold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smsgate.adapters.storage.common import (
    accepting_account,
    balance_refusal,
    check_json,
    first_id_of_page,
    id_window,
    parse_after_id,
    parse_id,
)
from smsgate.domain.carrier_receipts import carrier_key
from smsgate.domain.inbound import InboundMessage
from smsgate.domain.models import (
    FINAL_STATUSES,
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
from smsgate.domain.pricing import MAX_AMOUNT_MICROS
from smsgate.ports.replay import StoredNonce
from smsgate.ports.store import (
    CallbackJob,
    CallbackRetry,
    InboundPart,
    InboundPushJob,
    NumberUse,
    PendingReceipt,
    StoreError,
    StoreProblem,
)

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class _Callback:
    id: int
    account_id: str
    url: str
    message_id: int
    attempts: int
    next_attempt_at: float
    last_error: str | None = None
    dead: bool = False


@dataclass(slots=True)
class _InboundPush:
    id: int
    account_id: str
    url: str
    sequence_id: int
    attempts: int
    next_attempt_at: float
    last_error: str | None = None
    dead: bool = False


class MemoryStore:
    """The :class:`smsgate.ports.store.Store` port in memory."""

    def __init__(self) -> None:
        self._open = False
        self._accounts: dict[str, Account] = {}
        self._keys: dict[str, AccessKey] = {}
        self._templates: dict[tuple[str, str], Template] = {}
        self._messages: dict[int, Message] = {}
        self._carrier_ids: dict[tuple[str, str], int] = {}  # (connector, carrier key) -> id
        self._part_states: dict[tuple[str, str], MessageStatus] = {}  # parts' receipts so far
        self._pending_receipts: dict[tuple[str, str], PendingReceipt] = {}
        self._inbound: dict[int, InboundMessage] = {}
        self._inbound_parts: dict[tuple[str, str, str, int, int], dict[int, InboundPart]] = {}
        self._inbound_pushes: dict[int, _InboundPush] = {}
        self._last_push_id = 0
        self._smpp_inbound: set[tuple[str, int]] = set()
        self._conversion_data: list[tuple[str, float, float]] = []
        self._callbacks: dict[int, _Callback] = {}
        self._last_callback_id = 0
        self._smpp_receipts: set[tuple[str, int]] = set()
        self._documents: dict[str, tuple[int, str]] = {}
        self._sign_names: dict[tuple[str, str], SignName] = {}
        self._nonces: set[tuple[float, str, str]] = set()

    async def start(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    def set_disk_listener(self, listener: Callable[[StoreProblem | None], None]) -> None:
        """Memory has no disk to fill: the listener is never called."""

    def _check_open(self) -> None:
        if not self._open:
            raise StoreError("the store is not open")

    # -- accounts and keys --------------------------------------------------------------------

    async def create_account(self, account: Account, key: AccessKey) -> None:
        self._check_open()
        if key.account_id != account.id:
            raise ValueError("the key belongs to another account")
        if account.balance_micros < 0:
            raise ValueError("insufficient balance")
        if account.id in self._accounts:
            raise StoreError(f"account {account.id!r} already exists")
        if key.id in self._keys:
            raise StoreError(f"access key {key.id!r} already exists")
        self._accounts[account.id] = account
        self._keys[key.id] = key

    async def get_account(self, account_id: str) -> Account | None:
        self._check_open()
        return self._accounts.get(account_id)

    async def list_accounts(self) -> list[Account]:
        self._check_open()
        return [self._accounts[i] for i in sorted(self._accounts)]

    async def set_account_state(self, account_id: str, state: AccountState) -> bool:
        return self._change_account(account_id, lambda a: dataclasses.replace(a, state=state))

    async def add_balance(self, account_id: str, delta_micros: int) -> int | None:
        self._check_open()
        account = self._accounts.get(account_id)
        if account is None:
            return None
        balance = account.balance_micros + delta_micros
        if not 0 <= balance <= MAX_AMOUNT_MICROS:
            raise ValueError(balance_refusal(delta_micros))
        self._accounts[account_id] = dataclasses.replace(account, balance_micros=balance)
        return balance

    async def set_callback_url(self, account_id: str, url: str | None) -> bool:
        return self._change_account(account_id, lambda a: dataclasses.replace(a, callback_url=url))

    def _change_account(self, account_id: str, change: Callable[[Account], Account]) -> bool:
        self._check_open()
        account = self._accounts.get(account_id)
        if account is None:
            return False
        self._accounts[account_id] = change(account)
        return True

    async def add_key(self, key: AccessKey) -> None:
        self._check_open()
        if key.account_id not in self._accounts:
            raise StoreError(f"no account {key.account_id!r} for access key {key.id!r}")
        if key.id in self._keys:
            raise StoreError(f"access key {key.id!r} already exists")
        self._keys[key.id] = key

    async def list_keys(self, account_id: str) -> list[AccessKey]:
        self._check_open()
        return sorted(
            (k for k in self._keys.values() if k.account_id == account_id), key=lambda k: k.id
        )

    async def set_key_enabled(self, key_id: str, enabled: bool) -> bool:
        return self._change_key(key_id, lambda k: dataclasses.replace(k, enabled=enabled))

    async def set_key_actions(self, key_id: str, actions: frozenset[str] | None) -> bool:
        return self._change_key(key_id, lambda k: dataclasses.replace(k, allowed_actions=actions))

    def _change_key(self, key_id: str, change: Callable[[AccessKey], AccessKey]) -> bool:
        self._check_open()
        key = self._keys.get(key_id)
        if key is None:
            return False
        self._keys[key_id] = change(key)
        return True

    async def delete_key(self, key_id: str) -> bool:
        self._check_open()
        return self._keys.pop(key_id, None) is not None

    async def find_key(self, key_id: str) -> tuple[AccessKey, Account] | None:
        self._check_open()
        key = self._keys.get(key_id)
        if key is None:
            return None
        return key, self._accounts[key.account_id]

    async def list_all_keys(self, limit: int) -> list[tuple[AccessKey, Account]]:
        self._check_open()
        keys = sorted(self._keys)[: max(limit, 0)]
        return [(self._keys[k], self._accounts[self._keys[k].account_id]) for k in keys]

    # -- templates ----------------------------------------------------------------------------

    async def put_template(self, template: Template) -> None:
        self._check_open()
        if template.account_id not in self._accounts:
            raise StoreError(f"no account {template.account_id!r} for template {template.code!r}")
        self._templates[template.account_id, template.code] = template

    async def get_template(self, account_id: str, code: str) -> Template | None:
        self._check_open()
        return self._templates.get((account_id, code))

    async def list_templates(self, account_id: str) -> list[Template]:
        self._check_open()
        return sorted(
            (t for t in self._templates.values() if t.account_id == account_id),
            key=lambda t: t.code,
        )

    async def delete_template(self, account_id: str, code: str) -> bool:
        self._check_open()
        return self._templates.pop((account_id, code), None) is not None

    # -- messages -----------------------------------------------------------------------------

    async def insert_messages(self, messages: Sequence[Message]) -> None:
        """All or nothing, like one SQLite operation."""
        self._check_open()
        self._messages.update(self._new_messages(_parse_ids(messages), messages))

    async def accept_messages(self, messages: Sequence[Message], charge_micros: int) -> bool:
        """The SQLite store's checks, in its order: bad arguments and ids raise ValueError, an
        account that cannot pay (or does not exist) gives False, a taken id raises StoreError;
        all before anything changes."""
        self._check_open()
        account_id = accepting_account(messages, charge_micros)
        ids = _parse_ids(messages)
        account = self._accounts.get(account_id)
        if account is None or account.balance_micros < charge_micros:
            return False
        batch = self._new_messages(ids, messages)
        if charge_micros:
            balance = account.balance_micros - charge_micros
            self._accounts[account_id] = dataclasses.replace(account, balance_micros=balance)
        self._messages.update(batch)
        return True

    def _new_messages(self, ids: list[int], messages: Sequence[Message]) -> dict[int, Message]:
        batch: dict[int, Message] = {}
        for mid, message in zip(ids, messages, strict=True):
            if mid in self._messages or mid in batch:
                raise StoreError(f"message {message.id} already exists")
            batch[mid] = _copy(message)
        return batch

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
        """Like the SQLite store, a message's time is its id's millisecond."""
        self._check_open()
        if offset < 0:
            raise ValueError("offset cannot be negative")
        window = id_window(since, until)
        if window is None:
            return 0, []
        low, high = window
        ids = sorted(
            (
                i
                for i, m in self._messages.items()
                if low <= i <= high and m.account_id == account_id and (to is None or m.to == to)
            ),
            reverse=True,
        )
        page = ids[offset : offset + max(limit, 0)]
        return len(ids), [_copy(self._messages[i]) for i in page]

    async def numbers_since(
        self, since_id: str, after_id: str | None, limit: int
    ) -> list[NumberUse]:
        self._check_open()
        floor = first_id_of_page(since_id, after_id)
        found = sorted(i for i in self._messages if i >= floor)[:limit]
        return [
            NumberUse(m.id, m.account_id, m.to, m.msg_type, m.created_at)
            for m in (self._messages[i] for i in found)
        ]

    async def count_messages_since(self, since_id: str) -> dict[str, int]:
        self._check_open()
        since = parse_id(since_id)
        if since is None:
            raise ValueError(f"not a message id: {since_id!r}")
        counts = Counter(m.account_id for i, m in self._messages.items() if i >= since)
        return {a: n for a, n in counts.items() if a in self._accounts}  # as in SQLite

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        self._check_open()
        message = self._message(message_id)
        if message is None or message.account_id != account_id:
            return None
        return _copy(message)

    def _message(self, message_id: str) -> Message | None:
        mid = parse_id(message_id)
        return None if mid is None else self._messages.get(mid)

    async def mark_submitted(self, outcomes: Sequence[Accepted]) -> list[Message]:
        self._check_open()
        recorded: list[Message] = []
        for outcome in outcomes:
            message = self._message(outcome.message_id)
            if message is None or message.is_final:
                continue
            message.status = MessageStatus.SUBMITTED
            message.send_date = outcome.submitted_at
            message.connector = outcome.connector
            if outcome.carrier_ids:
                message.carrier_ids = outcome.carrier_ids
                self._index_carrier_ids(message)
                recorded.append(message)
        return self._apply_pending(recorded)

    def _apply_pending(self, messages: Sequence[Message]) -> list[Message]:
        """Apply the kept receipts filed under the carrier keys these messages just recorded."""
        receipts: list[Receipt] = []
        for message in messages:
            for key in _keys(message.carrier_ids):
                pending = self._pending_receipts.get((message.connector or "", key))
                if pending is not None:  # once only, even if two of its keys are recorded
                    receipts.append(pending.receipt(message.id, key))
                    self._forget_pending(pending)
        return self._apply(receipts)

    def _forget_pending(self, pending: PendingReceipt) -> None:
        for key in pending.keys:
            if self._pending_receipts.get((pending.connector, key)) is pending:
                del self._pending_receipts[pending.connector, key]

    def _index_carrier_ids(self, message: Message) -> None:
        """Later wins: a carrier that reuses an id means its newest message by it (and that
        part has had no receipt yet)."""
        if message.connector is not None:
            mid = int(message.id)
            for key in _keys(message.carrier_ids):
                self._carrier_ids[(message.connector, key)] = mid
                self._part_states.pop((message.connector, key), None)

    async def find_by_carrier_id(self, connector: str, carrier_message_id: str) -> Message | None:
        self._check_open()
        mid = self._carrier_ids.get((connector, carrier_key(carrier_message_id)))
        return None if mid is None else _copy(self._messages[mid])

    async def find_by_carrier_ids(
        self, connector: str, carrier_message_ids: Sequence[str]
    ) -> dict[str, Message]:
        self._check_open()
        found: dict[str, Message] = {}
        for carrier_id in carrier_message_ids:
            mid = self._carrier_ids.get((connector, carrier_key(carrier_id)))
            if mid is not None:
                found[carrier_id] = _copy(self._messages[mid])
        return found

    async def keep_pending_receipts(self, receipts: Sequence[PendingReceipt]) -> list[Message]:
        self._check_open()
        matched: list[Receipt] = []
        for pending in receipts:
            if not pending.keys:
                raise ValueError("a pending receipt needs at least one key")
            found = next(
                (
                    (key, mid)
                    for key in pending.keys
                    if (mid := self._carrier_ids.get((pending.connector, key))) is not None
                ),
                None,
            )
            if found is not None:
                matched.append(pending.receipt(str(found[1]), found[0]))
                continue
            for key in pending.keys:
                self._pending_receipts[pending.connector, key] = pending
        return self._apply(matched)

    async def prune_pending_receipts(self, received_before: float) -> int:
        self._check_open()
        old = {id(p): p for p in self._pending_receipts.values() if p.received_at < received_before}
        for pending in old.values():
            self._forget_pending(pending)
        return len(old)

    async def submitted_past_expiry(
        self, now: float, default_validity_s: float, limit: int
    ) -> list[str]:
        self._check_open()
        due = sorted(
            (expiry, mid)
            for mid, m in self._messages.items()
            if m.status is MessageStatus.SUBMITTED
            and (expiry := _expiry(m, default_validity_s)) <= now
        )
        return [str(mid) for _, mid in due[: max(limit, 0)]]

    async def count_awaiting_receipt(self, connector: str, sent_until: float) -> int:
        self._check_open()
        return sum(
            1
            for m in self._messages.values()
            if m.status is MessageStatus.SUBMITTED
            and m.connector == connector
            and m.send_date is not None
            and m.send_date <= sent_until
        )

    async def apply_receipts(self, receipts: Sequence[Receipt]) -> list[Message]:
        self._check_open()
        for receipt in receipts:
            if receipt.status not in FINAL_STATUSES:
                raise ValueError(f"a receipt must carry a final status, not {receipt.status}")
        return self._apply(receipts)

    def _apply(self, receipts: Sequence[Receipt]) -> list[Message]:
        changed: list[Message] = []
        for receipt in receipts:
            message = self._message(receipt.message_id)
            if message is None or message.is_final or self._part_pending(message, receipt):
                continue
            message.status = receipt.status
            message.error_code = receipt.error_code
            message.receive_date = receipt.done_at
            if receipt.send_date is not None:
                message.send_date = receipt.send_date
            if receipt.connector is not None:
                message.connector = receipt.connector
            if receipt.carrier_status is not None:
                message.carrier_status = receipt.carrier_status
            if receipt.carrier_ids:
                message.carrier_ids = receipt.carrier_ids
                self._index_carrier_ids(message)
            changed.append(_copy(message))
            self._queue_callback(message, receipt.done_at)
            if message.wants_smpp_receipt:
                self._smpp_receipts.add((message.account_id, int(message.id)))
            if receipt.refund and message.price_micros:
                self._refund(message.account_id, message.price_micros)
        return changed

    def _part_pending(self, message: Message, receipt: Receipt) -> bool:
        """Record a part's receipt; True while the message must wait for its other parts."""
        keys = _keys(message.carrier_ids)
        connector = message.connector
        if receipt.part is None or connector is None or len(keys) < 2 or receipt.part not in keys:
            return False
        mid = int(message.id)
        if self._carrier_ids.get((connector, receipt.part)) != mid:
            return False  # the id went to a newer message: this one's parts are not known
        self._part_states[connector, receipt.part] = receipt.status
        if receipt.status is not MessageStatus.DELIVERED:
            return False
        return any(
            self._carrier_ids.get((connector, key)) == mid
            and self._part_states.get((connector, key)) is not MessageStatus.DELIVERED
            for key in keys
        )

    def _refund(self, account_id: str, amount: int) -> None:
        """A message of an account that is not there refunds nothing, as in SQLite."""
        account = self._accounts.get(account_id)
        if account is not None:
            balance = account.balance_micros + amount
            self._accounts[account_id] = dataclasses.replace(account, balance_micros=balance)

    def _queue_callback(self, message: Message, due: float) -> None:
        """Snapshot the account's URL now, as the SQLite store does in the receipt's transaction."""
        account = self._accounts.get(message.account_id)
        if account is None or account.callback_url is None:
            return
        self._last_callback_id += 1
        self._callbacks[self._last_callback_id] = _Callback(
            id=self._last_callback_id,
            account_id=account.id,
            url=account.callback_url,
            message_id=int(message.id),
            attempts=0,
            next_attempt_at=due,
        )

    async def list_messages(self, account_id: str, limit: int) -> list[Message]:
        self._check_open()
        ids = sorted(
            (i for i, m in self._messages.items() if m.account_id == account_id), reverse=True
        )
        return [_copy(self._messages[i]) for i in ids[: max(0, limit)]]

    async def last_message_id(self) -> str | None:
        self._check_open()
        return str(max(self._messages)) if self._messages else None

    async def pending_smpp_receipts(
        self, account_id: str, after_id: str | None, limit: int
    ) -> list[Message]:
        self._check_open()
        after = parse_after_id(after_id)
        if limit <= 0:
            return []
        ids = sorted(i for a, i in self._smpp_receipts if a == account_id and i > after)
        return [_copy(self._messages[i]) for i in ids[:limit] if i in self._messages]

    async def finish_smpp_receipts(self, account_id: str, message_ids: Sequence[str]) -> None:
        self._check_open()
        for message_id in message_ids:
            mid = parse_id(message_id)
            if mid is not None:
                self._smpp_receipts.discard((account_id, mid))

    async def cancel_message(self, account_id: str, message_id: str, at: float) -> Message | None:
        self._check_open()
        message = self._message(message_id)
        if (
            message is None
            or message.account_id != account_id
            or message.status is not MessageStatus.ACCEPTED
        ):
            return None
        message.status = MessageStatus.CANCELLED
        message.receive_date = at
        if message.price_micros:
            self._refund(account_id, message.price_micros)
        return _copy(message)

    async def unfinished_messages(self, after_id: str | None, limit: int) -> list[Message]:
        self._check_open()
        after = parse_after_id(after_id)
        if limit <= 0:
            return []
        ids = sorted(i for i, m in self._messages.items() if i > after and not m.is_final)
        return [_copy(self._messages[i]) for i in ids[:limit]]

    async def record_conversion(
        self, account_id: str, message_id: str, converted: bool, at: float
    ) -> bool:
        self._check_open()
        message = self._message(message_id)
        if message is None or message.account_id != account_id:
            return False
        message.converted = converted
        message.conversion_time = at
        return True

    async def add_conversion_data(self, account_id: str, rate: float, report_time: float) -> None:
        self._check_open()
        self._conversion_data.append((account_id, rate, report_time))

    # -- callbacks ----------------------------------------------------------------------------

    async def due_callbacks(self, now: float, limit: int) -> list[CallbackJob]:
        self._check_open()
        if limit <= 0:
            return []
        due = sorted(
            (c for c in self._callbacks.values() if not c.dead and c.next_attempt_at <= now),
            key=lambda c: (c.next_attempt_at, c.id),
        )
        return [
            CallbackJob(
                id=c.id,
                account_id=c.account_id,
                url=c.url,
                message=_copy(self._messages[c.message_id]),
                attempts=c.attempts,
            )
            for c in due[:limit]
        ]

    async def next_callback_due(self) -> float | None:
        self._check_open()
        return min(
            (c.next_attempt_at for c in self._callbacks.values() if not c.dead), default=None
        )

    async def finish_callbacks(self, ids: Sequence[int]) -> None:
        self._check_open()
        for callback_id in ids:
            self._callbacks.pop(callback_id, None)

    async def retry_callbacks(self, retries: Sequence[CallbackRetry]) -> None:
        self._check_open()
        for retry in retries:
            callback = self._callbacks.get(retry.id)
            if callback is None:
                continue
            callback.attempts = retry.attempts
            callback.next_attempt_at = retry.next_attempt_at
            callback.last_error = retry.last_error
            callback.dead = retry.dead

    # -- inbound (MO) messages ----------------------------------------------------------------

    async def add_inbound_part(self, part: InboundPart) -> list[InboundPart] | None:
        self._check_open()
        group = self._inbound_parts.setdefault(part.group, {})
        group.setdefault(part.number, part)
        if len(group) < part.total:
            return None
        return [group[number] for number in sorted(group)]

    async def store_inbound(
        self, message: InboundMessage, *, completes: InboundPart | None = None, smpp: bool = False
    ) -> InboundMessage | None:
        self._check_open()
        if completes is not None and self._inbound_parts.pop(completes.group, None) is None:
            return None
        sequence_id = max(self._inbound, default=0) + 1
        stored = dataclasses.replace(message, sequence_id=sequence_id)
        self._inbound[sequence_id] = stored
        account = self._accounts.get(message.account_id)
        if account is not None and account.callback_url is not None:
            self._last_push_id += 1
            self._inbound_pushes[self._last_push_id] = _InboundPush(
                self._last_push_id,
                account.id,
                account.callback_url,
                sequence_id,
                attempts=0,
                next_attempt_at=message.received_at,
            )
        if smpp:
            self._smpp_inbound.add((message.account_id, sequence_id))
        return stored

    async def due_inbound_pushes(self, now: float, limit: int) -> list[InboundPushJob]:
        self._check_open()
        if limit <= 0:
            return []
        due = sorted(
            (p for p in self._inbound_pushes.values() if not p.dead and p.next_attempt_at <= now),
            key=lambda p: (p.next_attempt_at, p.id),
        )
        return [
            InboundPushJob(p.id, p.account_id, p.url, self._inbound[p.sequence_id], p.attempts)
            for p in due[:limit]
        ]

    async def next_inbound_push_due(self) -> float | None:
        self._check_open()
        return min(
            (p.next_attempt_at for p in self._inbound_pushes.values() if not p.dead), default=None
        )

    async def finish_inbound_pushes(self, ids: Sequence[int]) -> None:
        self._check_open()
        for push_id in ids:
            self._inbound_pushes.pop(push_id, None)

    async def retry_inbound_pushes(self, retries: Sequence[CallbackRetry]) -> None:
        self._check_open()
        for retry in retries:
            push = self._inbound_pushes.get(retry.id)
            if push is not None:
                push.attempts = retry.attempts
                push.next_attempt_at = retry.next_attempt_at
                push.last_error = retry.last_error
                push.dead = retry.dead

    async def pending_smpp_inbound(
        self, account_id: str, after_sequence_id: int | None, limit: int
    ) -> list[InboundMessage]:
        self._check_open()
        after = -1 if after_sequence_id is None else after_sequence_id
        ids = sorted(i for a, i in self._smpp_inbound if a == account_id and i > after)
        return [self._inbound[i] for i in ids[: max(limit, 0)]]

    async def finish_smpp_inbound(self, account_id: str, sequence_ids: Sequence[int]) -> None:
        self._check_open()
        for sequence_id in sequence_ids:
            self._smpp_inbound.discard((account_id, sequence_id))

    async def list_inbound(self, account_id: str, limit: int) -> list[InboundMessage]:
        self._check_open()
        ids = sorted(
            (i for i, m in self._inbound.items() if m.account_id == account_id), reverse=True
        )
        return [self._inbound[i] for i in ids[: max(limit, 0)]]

    async def prune_inbound_parts(self, received_before: float) -> int:
        self._check_open()
        pruned = 0
        for key, group in list(self._inbound_parts.items()):
            old = [n for n, part in group.items() if part.received_at < received_before]
            for number in old:
                del group[number]
            pruned += len(old)
            if not group:
                del self._inbound_parts[key]
        return pruned

    # -- policy: documents and sign names -----------------------------------------------------

    async def get_document(self, name: str) -> tuple[int, str] | None:
        self._check_open()
        return self._documents.get(name)

    async def put_document(self, name: str, body: str) -> int:
        self._check_open()
        check_json(name, body)
        version = self._documents.get(name, (0, ""))[0] + 1
        self._documents[name] = (version, body)
        return version

    async def document_versions(self) -> dict[str, int]:
        self._check_open()
        return {name: version for name, (version, _) in self._documents.items()}

    async def put_sign_name(self, sign: SignName) -> None:
        self._check_open()
        if sign.account_id not in self._accounts:
            raise StoreError(f"no account {sign.account_id!r} for sign name {sign.name!r}")
        self._sign_names[sign.account_id, sign.name] = sign

    async def get_sign_name(self, account_id: str, name: str) -> SignName | None:
        self._check_open()
        return self._sign_names.get((account_id, name))

    async def list_sign_names(self, account_id: str) -> list[SignName]:
        self._check_open()
        return sorted(
            (s for s in self._sign_names.values() if s.account_id == account_id),
            key=lambda s: s.name,
        )

    async def delete_sign_name(self, account_id: str, name: str) -> bool:
        self._check_open()
        return self._sign_names.pop((account_id, name), None) is not None

    # -- replay nonces ------------------------------------------------------------------------

    def remember_nonce(
        self, access_key_id: str, nonce: str, expires_at: float
    ) -> asyncio.Future[None]:
        self._check_open()
        self._nonces.add((expires_at, access_key_id, nonce))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def live_nonces(
        self, now: float, after: StoredNonce | None, limit: int
    ) -> list[StoredNonce]:
        self._check_open()
        start = (
            (-math.inf, "", "")
            if after is None
            else (
                after.expires_at,
                after.access_key_id,
                after.nonce,
            )
        )
        live = sorted(n for n in self._nonces if n[0] > now and n > start)
        return [StoredNonce(key_id, nonce, at) for at, key_id, nonce in live[: max(limit, 0)]]

    async def prune_nonces(self, now: float) -> int:
        self._check_open()
        expired = {n for n in self._nonces if n[0] <= now}
        self._nonces -= expired
        return len(expired)


def _parse_ids(messages: Sequence[Message]) -> list[int]:
    ids: list[int] = []
    for message in messages:
        mid = parse_id(message.id)
        if mid is None:
            raise ValueError(f"message id {message.id!r} is not a canonical decimal below 2**63")
        ids.append(mid)
    return ids


def _keys(carrier_ids: Sequence[str]) -> list[str]:
    """The carrier keys of a message's part ids, in part order, without repeats."""
    return list(dict.fromkeys(carrier_key(c) for c in carrier_ids))


def _expiry(message: Message, default_validity_s: float) -> float:
    validity = message.validity_period
    return message.created_at + (default_validity_s if validity is None else validity)


def _copy(message: Message) -> Message:
    return dataclasses.replace(message, extra=dict(message.extra))
