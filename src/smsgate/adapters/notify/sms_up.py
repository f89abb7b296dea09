"""MO messages pushed to customers' callback URLs as Alibaba's ``SmsUp`` messages.

The push is Alibaba's HTTP batch form: a POST of a JSON array, one element per message
(:meth:`~smsgate.domain.inbound.InboundMessage.sms_up`: ``phone_number``, ``send_time``,
``content``, ``sign_name``, ``dest_code``, ``sequence_id``), to the account's callback URL (the
one its receipts go to; a receiver tells them apart by their fields). The receiver answers
``{"code": 0}``; Alibaba pushes again otherwise, and so does this pusher, with the receipts'
back-off (:class:`~smsgate.adapters.notify.http_callbacks.Pusher`). A 2xx answer that is not
JSON counts as received, as for receipts; one whose JSON ``code`` is not 0 does not.

Rows come from the store (``mo_pushes``), queued in the transaction that stored the message, so
a crash may repeat a push but never lose one: de-duplicate on ``sequence_id``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from smsgate.adapters.notify.http_callbacks import Pusher, PushQueue
from smsgate.config import CallbackConfig
from smsgate.ports.clock import Clock
from smsgate.ports.store import InboundPushJob, InboundStore

__all__ = ["SmsUpPusher", "sms_up_body", "sms_up_refusal"]


def sms_up_body(jobs: Sequence[InboundPushJob]) -> bytes:
    """The JSON array of SmsUp elements."""
    return json.dumps([job.message.sms_up() for job in jobs], ensure_ascii=False).encode()


def sms_up_refusal(answer: bytes) -> str | None:
    """Why a 2xx answer is not an acknowledgement (a JSON ``code`` other than 0), or None."""
    try:
        parsed = json.loads(answer)
    except (ValueError, RecursionError):
        return None
    if isinstance(parsed, dict) and "code" in parsed and parsed["code"] not in (0, "0"):
        return f"answered code {str(parsed['code'])[:40]}"
    return None


class SmsUpPusher(Pusher[InboundPushJob]):
    """Pushes MO messages; wake it (``wake``) when one is stored."""

    def __init__(
        self,
        store: InboundStore,
        clock: Clock,
        config: CallbackConfig,
        max_concurrent_posts: int = 16,
        coalesce_s: float = 0.05,
    ) -> None:
        super().__init__(
            PushQueue(
                store.due_inbound_pushes,
                store.next_inbound_push_due,
                store.finish_inbound_pushes,
                store.retry_inbound_pushes,
            ),
            sms_up_body,
            clock,
            config,
            what="SmsUp push of MO message",
            refusal=sms_up_refusal,
            max_concurrent_posts=max_concurrent_posts,
            coalesce_s=coalesce_s,
        )

    def _describe(self, job: InboundPushJob) -> str:
        return str(job.message.sequence_id)
