"""Accepting messages: every rule of the seed table, then durable storage with the charge.

The one path every door takes to send a message. A message is accepted only once the store has
made it durable; the door answers "OK" after :meth:`SubmitService.accept` returns. Room in the
bounded delivery queue is reserved first, so a full pipeline refuses new work (``OverloadedError``)
instead of growing a backlog, and nothing is stored that cannot be delivered. A store that fails,
whether it was reading policy, a template or writing the messages, refuses the call with
``isp.SYSTEM_ERROR`` (:class:`~smsgate.service.store_faults.StoreFaults`).

Callers run :meth:`SubmitService.accept` to completion (doors do not cancel it when a client goes
away): once the store has committed, the message is enqueued in the same step without another
await, and after a crash the store's unfinished messages are the work to resume.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from smsgate import errors
from smsgate.domain import keywords, numbers, templates, text
from smsgate.domain.ids import MessageIdGenerator
from smsgate.domain.models import Account, Message, ReviewStatus, TemplateStatus
from smsgate.domain.pricing import format_micros
from smsgate.domain.routing import RouteFacts
from smsgate.errors import OverloadedError, SmsError
from smsgate.ports.clock import Clock
from smsgate.ports.limits import Limiter
from smsgate.ports.queue import DeliveryQueue
from smsgate.ports.store import MessageStore, PolicyStore, TemplateStore
from smsgate.service.policy import Policy, PolicyCache
from smsgate.service.store_faults import StoreFaults

__all__ = [
    "MAX_NUMBERS_PER_CALL",
    "MAX_VALIDITY_PERIOD_S",
    "MESSAGE_TYPES",
    "Submission",
    "SubmitService",
]

log = logging.getLogger(__name__)

MESSAGE_TYPES = frozenset({"NOTIFY", "MKT", "OTP"})
MAX_NUMBERS_PER_CALL = 1000
MAX_VALIDITY_PERIOD_S = 7 * 24 * 3600
MAX_TASK_ID = 255
# Alibaba: a sender ID of letters and digits is at most 11 characters; digits only, at most 15.
_ALNUM_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}")
_NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,15}")


@dataclass(frozen=True, slots=True)
class Submission:
    """One message as a door hands it to the core, already taken off its wire format."""

    to: str
    body: str
    sender: str | None = None
    msg_type: str = "NOTIFY"
    task_id: str | None = None
    channel_id: str | None = None
    validity_period: int | None = None
    template_code: str | None = None
    sms_up_extend_code: str | None = None
    door: str = "api"  # api | smpp
    registered_delivery: int = 0  # SMPP: which receipts to send back as deliver_sm
    system_id: str | None = None  # SMPP: the submitting bind's system_id and bind id
    bind_id: int | None = None
    message_id: str | None = None  # reserved with new_message_id (SMPP long messages)
    data: bytes | None = None  # binary user data (SMPP data_coding 2 or 4) instead of a text


class SubmitService:
    """Every rule a message must pass, in order, then durable acceptance with its charge.

    Per message, pure checks first (:meth:`prepare`): fields, number, country, sender ID, a
    route that takes it, keywords, length, price. Then the stateful ones (:meth:`admit`):
    billing state, throttles and quotas, and finally the charge, taken in the same store
    transaction that makes the message durable. A message refused after its throttle counters
    were taken gives them back, so a refused message never uses up a quota.
    """

    def __init__(
        self,
        store: MessageStore,
        template_store: TemplateStore,
        sign_store: PolicyStore,
        queue: DeliveryQueue,
        ids: MessageIdGenerator,
        clock: Clock,
        policy: PolicyCache,
        limiter: Limiter,
        *,
        max_segments: int,
    ) -> None:
        self._store = store
        self._templates = template_store
        self._signs = sign_store
        self._queue = queue
        self._ids = ids
        self._clock = clock
        self._policy = policy
        self._limiter = limiter
        self._max_segments = max_segments
        self._faults = StoreFaults(log)

    def new_message_id(self) -> str:
        """An id to promise before the message exists: the SMPP door answers the first parts of
        a long message with the id the whole message will have."""
        return self._ids.next_id(int(self._clock.now() * 1000))

    def prepare(
        self, account: Account, sub: Submission, policy: Policy, *, international: bool = True
    ) -> Message:
        """Check one submission against the stateless rules and build its message. No I/O.

        Raises :class:`SmsError` with the seed code of the first rule it breaks.
        """
        _check_fields(sub)
        info = numbers.parse_destination(sub.to)
        if international and numbers.is_mainland_china(info):
            raise SmsError(
                errors.COUNTRY_RESTRICTED,
                "the international API does not send to the Chinese mainland",
            )
        policy.countries.check_destination(info.region_code, info.country)
        policy.countries.check_sender(sub.sender, info.region_code)
        routes = policy.routes
        if routes.routes and not routes.takes(
            RouteFacts(info.e164, info.region_code, info.network, account.id, sub.sender)
        ):
            # Accepted, it could never leave: refused now rather than failed later.
            network = f" ({info.network})" if info.network else ""
            raise SmsError(
                errors.NOT_SUPPORTED_COUNTRY,
                f"no route takes this message to {info.country}{network}",
            )
        if sub.data is not None:
            # Binary data has no words to screen; it is kept (and shown) as hex.
            if not sub.data:
                raise SmsError(errors.INVALID_PARAMETERS, "the message data is empty")
            body, encoding = sub.data.hex(), "BINARY"
            segments = text.count_binary_segments(len(sub.data))
        else:
            if not sub.body:
                raise SmsError(errors.INVALID_PARAMETERS, "the message text is empty")
            if policy.keywords is not None:
                keywords.check_text(policy.keywords, sub.body)
            body, encoding = sub.body, text.encoding_for(sub.body)
            segments = text.count_segments(sub.body)
        if segments > self._max_segments:
            raise SmsError(
                errors.INVALID_PARAMETERS,
                f"the message needs {segments} segments; the limit is {self._max_segments}",
            )
        unit_price = policy.prices.segment_price(info.region_code, info.network)
        if unit_price is None:
            raise SmsError(
                errors.NOT_SUPPORTED_COUNTRY,
                f"there is no price for {info.country} ({info.network})",
            )
        now = self._clock.now()
        return Message(
            id=sub.message_id or self._ids.next_id(int(now * 1000)),
            account_id=account.id,
            to=info.e164,
            sender=sub.sender,
            body=body,
            encoding=encoding,
            segments=segments,
            country=info.country,
            region_code=info.region_code,
            region=info.region,
            network=info.network,
            msg_type=sub.msg_type,
            created_at=now,
            task_id=sub.task_id,
            channel_id=sub.channel_id,
            template_code=sub.template_code,
            sms_up_extend_code=sub.sms_up_extend_code,
            validity_period=sub.validity_period,
            price_micros=unit_price * segments,
            door=sub.door,
            registered_delivery=sub.registered_delivery,
            system_id=sub.system_id,
            bind_id=sub.bind_id,
        )

    async def admit(
        self, account: Account, messages: Sequence[Message]
    ) -> tuple[list[Message], list[tuple[Message, SmsError]]]:
        """Apply the stateful rules, then charge and store what passes: (accepted, refused).

        Throttles and quotas refuse single messages (a batch sends the rest); a billing state,
        the balance, a full queue or a store failure refuse the whole call.
        """
        if not messages:
            return [], []
        with self._faults.translated("read the policy"):
            settings = await self._policy.account(account.id)
            policy = await self._policy.current()
            limits = await self._policy.account_limits(account.id)
        if settings.overdue:
            raise SmsError(errors.BILLING_DEDUCTION_ERROR, "the account has overdue payments")
        now = self._clock.now()
        verdicts = await self._limiter.acquire(
            account.id,
            [(m.to, m.msg_type) for m in messages],
            limits,
            policy.platform.system_per_day,
            now,
        )
        passed = [m for m, v in zip(messages, verdicts, strict=True) if v is None]
        refused = [
            (m, SmsError(v, f"{v.code} for {m.to}"))
            for m, v in zip(messages, verdicts, strict=True)
            if v is not None
        ]
        try:
            await self.accept(passed)
        except BaseException:
            await self._limiter.release(account.id, [(m.to, m.msg_type) for m in passed], now)
            raise
        return passed, refused

    async def accept(self, messages: Sequence[Message]) -> None:
        """Charge and store ``messages`` durably, then enqueue them; or refuse them all."""
        if not messages:
            return
        if not await self._queue.try_reserve(len(messages)):
            waiting = await self._queue.waiting()
            raise OverloadedError(f"the delivery queue is full ({waiting} waiting)")
        charge = sum(m.price_micros for m in messages)
        try:
            with self._faults.translated("store messages"):
                charged = await self._store.accept_messages(messages, charge)
        except BaseException:
            await self._queue.cancel_reservation(len(messages))
            raise
        if not charged:
            await self._queue.cancel_reservation(len(messages))
            raise SmsError(
                errors.AMOUNT_NOT_ENOUGH,
                f"sending costs {format_micros(charge)}, more than the balance",
            )
        await self._queue.put_reserved(messages)

    async def send(self, account: Account, sub: Submission) -> Message:
        message = self.prepare(account, sub, await self._current_policy())
        _accepted, refused = await self.admit(account, [message])
        if refused:
            raise refused[0][1]
        return message

    async def send_each(
        self, account: Account, subs: Sequence[Submission]
    ) -> list[Message | SmsError | OverloadedError]:
        """Independent messages sent together, one outcome each and in order, as if each had
        been sent alone, but with one admission and one store write for all of them (the SMPP
        door's submit_sm read in one go).

        A refusal that :meth:`admit` makes for the whole call is each message's, except a
        balance too low for all of them: then they are admitted one by one, so those the balance
        covers still go, in order.
        """
        policy = await self._current_policy()
        outcomes: list[Message | SmsError | OverloadedError] = []
        prepared: list[Message] = []
        for sub in subs:
            try:
                message = self.prepare(account, sub, policy)
            except SmsError as exc:
                outcomes.append(exc)
            else:
                outcomes.append(message)
                prepared.append(message)
        failures = await self._admit_each(account, prepared)
        return [
            failures.get(outcome.id, outcome) if isinstance(outcome, Message) else outcome
            for outcome in outcomes
        ]

    async def _admit_each(
        self, account: Account, messages: list[Message]
    ) -> dict[str, SmsError | OverloadedError]:
        """Admit ``messages``; what refused each one that did not pass, by message id."""
        if not messages:
            return {}
        try:
            _accepted, refused = await self.admit(account, messages)
        except SmsError as exc:
            if exc.result is errors.AMOUNT_NOT_ENOUGH and len(messages) > 1:
                failures: dict[str, SmsError | OverloadedError] = {}
                for message in messages:
                    failures.update(await self._admit_each(account, [message]))
                return failures
            return {m.id: exc for m in messages}
        except OverloadedError as exc:
            # What fits goes, in order; only the rest waits. Refusing the whole batch starved
            # large SMPP windows: smaller batches took every bit of room as it freed up.
            room = await self._queue.room()
            if 0 < room < len(messages):
                failures = await self._admit_each(account, messages[:room])
                failures.update((m.id, exc) for m in messages[room:])
                return failures
            return {m.id: exc for m in messages}
        return {m.id: exc for m, exc in refused}

    async def send_batch(
        self, account: Account, subs: Sequence[Submission]
    ) -> tuple[list[Message], list[tuple[str, SmsError]]]:
        """Send to many numbers: good ones are accepted, bad ones come back as (To, error)."""
        if len(subs) > MAX_NUMBERS_PER_CALL:
            raise SmsError(
                errors.MOBILE_COUNT_OVER_LIMIT,
                f"{len(subs)} numbers in one call; the limit is {MAX_NUMBERS_PER_CALL}",
            )
        policy = await self._current_policy()
        prepared: list[Message] = []
        failed: list[tuple[str, SmsError]] = []
        for sub in subs:
            try:
                prepared.append(self.prepare(account, sub, policy))
            except SmsError as exc:
                failed.append((sub.to, exc))
        accepted, refused = await self.admit(account, prepared)
        failed.extend((m.to, exc) for m, exc in refused)
        return accepted, failed

    async def send_with_template(
        self, account: Account, sub: Submission, template_param: str | None
    ) -> Message:
        """Render an approved template of the account with an approved sign name, then send."""
        code = sub.template_code or ""
        with self._faults.translated("read a template"):
            template = await self._templates.get_template(account.id, code)
        if template is None or template.status is not TemplateStatus.APPROVED:
            state = "does not exist" if template is None else f"is {template.status.value}"
            raise SmsError(errors.SMS_CONTENT_CODE_ILLEGAL, f"template {code!r} {state}")
        with self._faults.translated("read the policy"):
            policy = await self._policy.current()
            settings = await self._policy.account(account.id)
        if policy.platform.require_sign_name:
            await self._check_sign_name(account, sub.sender or "")
        params = templates.parse_template_param(template_param)
        body = templates.render(
            template.content,
            params,
            max_value_length=settings.max_param_length or policy.platform.max_param_length,
        )
        return await self.send(
            account,
            Submission(
                to=sub.to,
                body=body,
                sender=sub.sender,
                msg_type=_template_message_type(template.template_type),
                channel_id=sub.channel_id,
                validity_period=sub.validity_period,
                template_code=code,
                sms_up_extend_code=sub.sms_up_extend_code,
            ),
        )

    async def _current_policy(self) -> Policy:
        with self._faults.translated("read the policy"):
            return await self._policy.current()

    async def _check_sign_name(self, account: Account, name: str) -> None:
        with self._faults.translated("read a sign name"):
            sign = await self._signs.get_sign_name(account.id, name)
        if sign is None or sign.status is not ReviewStatus.APPROVED:
            state = "does not exist" if sign is None else f"is {sign.status.value}"
            raise SmsError(errors.SMS_SIGN_NAME_ILLEGAL, f"sign name {name!r} {state}")


def _template_message_type(template_type: str) -> str:
    return {"verification": "OTP", "promotion": "MKT"}.get(template_type, "NOTIFY")


def _check_fields(sub: Submission) -> None:
    if sub.msg_type not in MESSAGE_TYPES:
        raise SmsError(
            errors.INVALID_PARAMETERS,
            f"Type must be one of {', '.join(sorted(MESSAGE_TYPES))}",
        )
    if sub.validity_period is not None and not 0 < sub.validity_period <= MAX_VALIDITY_PERIOD_S:
        raise SmsError(
            errors.INVALID_PARAMETERS,
            f"ValidityPeriod must be 1 to {MAX_VALIDITY_PERIOD_S} seconds",
        )
    if sub.task_id is not None and not 0 < len(sub.task_id) <= MAX_TASK_ID:
        raise SmsError(errors.INVALID_PARAMETERS, "TaskId must be 1 to 255 characters")
    if sub.sender is not None and not (
        _ALNUM_SENDER.fullmatch(sub.sender) or _NUMERIC_SENDER.fullmatch(sub.sender)
    ):
        raise SmsError(
            errors.INVALID_PARAMETERS,
            "From must be letters and digits (at most 11) or digits only (at most 15)",
        )
