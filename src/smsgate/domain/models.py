"""The records smsgate keeps: accounts, access keys, templates, messages and receipts.

Plain data, no behaviour that needs I/O. Times are POSIX seconds (``float``) in UTC; doors render
them in their own wire formats. Money is kept in integer micro-units (1/1,000,000 of the account's
currency) so balances add up exactly and can be changed atomically in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, TypeAlias

__all__ = [
    "FINAL_STATUSES",
    "Accepted",
    "AccessKey",
    "Account",
    "AccountState",
    "Message",
    "MessageStatus",
    "Receipt",
    "Rejected",
    "Retry",
    "ReviewStatus",
    "SignName",
    "SubmitOutcome",
    "Template",
    "TemplateStatus",
]


class AccountState(StrEnum):
    """The life of an account; each state but NORMAL refuses sending with its own seed code."""

    NORMAL = "normal"
    ABNORMAL = "abnormal"  # isv.ACCOUNT_ABNORMAL
    SUSPENDED = "suspended"  # isv.OUT_OF_SERVICE
    UNSUBSCRIBED = "unsubscribed"  # SMS not activated: isv.PRODUCT_UN_SUBSCRIPT
    CLOSED = "closed"  # isv.ACCOUNT_NOT_EXISTS (kept for its records, but gone for the API)


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    state: AccountState
    balance_micros: int
    callback_url: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An AccessKey pair. ``allowed_actions`` None means every action is allowed."""

    id: str
    account_id: str
    secret: str
    enabled: bool
    allowed_actions: frozenset[str] | None
    created_at: float

    def allows(self, action: str) -> bool:
        return self.allowed_actions is None or action in self.allowed_actions


class TemplateStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    BLOCKED = "blocked"


#: Sign names and sender IDs go through the same review as templates.
ReviewStatus = TemplateStatus


@dataclass(frozen=True, slots=True)
class SignName:
    """A sign name (sender ID) an account may put in ``From``, once approved."""

    account_id: str
    name: str
    status: ReviewStatus
    created_at: float


@dataclass(frozen=True, slots=True)
class Template:
    account_id: str
    code: str  # e.g. SMS_123456789
    content: str  # with ${name} variables
    template_type: str  # verification | notification | promotion
    status: TemplateStatus
    created_at: float


class MessageStatus(StrEnum):
    """Where a message is in the pipeline.

    ACCEPTED: stored, waiting for the carrier. SUBMITTED: handed to the carrier, waiting for its
    receipt. The other four are final: every accepted message reaches one of them. CANCELLED is
    an SMPP cancel_sm that came before the message was handed to the carrier.
    """

    ACCEPTED = "accepted"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset(
    {MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.CANCELLED}
)
#: SMPP registered_delivery bits 0-1 (§5.2.17): 1 asks for every final receipt, 2 for failures.
_RECEIPT_ALWAYS: Final = 1
_RECEIPT_ON_FAILURE: Final = 2


@dataclass(slots=True)
class Message:
    """One message to one destination, as accepted from a door."""

    id: str
    account_id: str
    to: str  # E.164 digits without '+'
    sender: str | None
    body: str
    encoding: str  # GSM7 | UCS2
    segments: int
    country: str
    region_code: str
    region: str
    network: str  # the mobile operator the number belongs to (number data)
    msg_type: str  # NOTIFY | MKT | OTP
    created_at: float
    status: MessageStatus = MessageStatus.ACCEPTED
    task_id: str | None = None
    channel_id: str | None = None
    template_code: str | None = None
    sms_up_extend_code: str | None = None
    validity_period: int | None = None  # seconds
    door: str = "api"  # which door accepted it: api | smpp
    error_code: str | None = None  # a receipt code once failed, "success" once delivered
    send_date: float | None = None  # handed to the carrier
    receive_date: float | None = None  # receipt received
    connector: str | None = None  # the carrier connection that took it, e.g. "simulator"
    carrier_ids: tuple[str, ...] = ()  # the carrier's id for each part, in part order
    # What the carrier's receipt said, raw ("stat:UNDELIV err:001"), for the operator: a value
    # its connector's table does not map shows here beside error_code UNKNOWN_ERR.
    carrier_status: str | None = None
    price_micros: int = 0  # what accepting it cost; refunded on some failures
    registered_delivery: int = 0  # SMPP submits: which receipts go back as deliver_sm
    # SMPP submits: who sent it, so that its receipt goes back to that bind (bind_id, unique per
    # bind and process) or, once that bind is gone, to another bind of that system_id.
    system_id: str | None = None
    bind_id: int | None = None
    converted: bool | None = None  # SmsConversion: did the user act on it
    conversion_time: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def expires_at(self) -> float | None:
        if self.validity_period is None:
            return None
        return self.created_at + self.validity_period

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def wants_smpp_receipt(self) -> bool:
        """Whether its final status must be reported to the SMPP client that sent it."""
        if self.status is MessageStatus.CANCELLED:
            return False  # the client cancelled it and was answered then
        asked = self.registered_delivery & 0x03
        if asked == _RECEIPT_ON_FAILURE:
            return self.status is not MessageStatus.DELIVERED
        return asked == _RECEIPT_ALWAYS


@dataclass(frozen=True, slots=True)
class Receipt:
    """A carrier's final word on a message: DELIVERED, FAILED or EXPIRED, with a receipt code."""

    message_id: str
    status: MessageStatus
    error_code: str  # "success" or a receipt code of the catalog
    done_at: float
    send_date: float | None = None
    refund: bool = False  # give the message's price back to its account (failure receipts)
    # What a carrier that does not record the hand-over (the simulator) would have recorded:
    # who took the message and its ids for the parts, saving a store write per message.
    connector: str | None = None
    carrier_ids: tuple[str, ...] = ()
    # An upstream carrier's receipt: its stat/err as sent (kept on the message), and which part
    # it reports (the carrier key of that part's id, see domain.carrier_receipts.carrier_key).
    # A message sent in several parts is DELIVERED only once every part's receipt says so; the
    # first receipt of a part that failed makes it final.
    carrier_status: str | None = None
    part: str | None = None


# What a carrier says of each message handed to it: it took it, it refused it for good, or it
# cannot take it now.


@dataclass(frozen=True, slots=True)
class Accepted:
    """The carrier took the message; its receipt will follow. A long message sent as several
    parts has one carrier id per part (in part order): a receipt may name any of them."""

    message_id: str
    connector: str  # which carrier connection took it, e.g. "simulator"
    carrier_ids: tuple[str, ...]
    submitted_at: float


@dataclass(frozen=True, slots=True)
class Rejected:
    """The carrier refused the message for good (an invalid destination, a barred sender...): it
    becomes FAILED with ``receipt_code``, the catalog's receipt code for what the carrier said,
    and its receipt goes out like any failure's."""

    message_id: str
    connector: str
    receipt_code: str
    rejected_at: float


@dataclass(frozen=True, slots=True)
class Retry:
    """The carrier cannot take the message now (throttled, window full, link down): it did not
    take it, so it goes back on the queue after ``after_s`` seconds without being sent twice."""

    message_id: str
    after_s: float


SubmitOutcome: TypeAlias = Accepted | Rejected | Retry
