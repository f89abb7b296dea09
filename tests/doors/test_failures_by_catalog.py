"""The same failure gets the same answer at both doors, each in its wire form, from the catalog.

A store that fails, on any path, is ``isp.SYSTEM_ERROR`` (46): HTTP 200 with that code, SMPP 46
(``seed``) or ESME_RSYSERR (``smpp34``). An overload (no room in the delivery queue, or too many
HTTP requests in progress) is :data:`errors.OVERLOADED`: HTTP ``Throttling`` 429, SMPP
``ESME_RMSGQFUL`` in both status profiles. Requests are real: signed HTTP requests to the
in-process Alibaba door, and PDUs that smpplib encodes to the in-process SMPP door. The store is
the memory store with operations that fail on demand, as a database that cannot be read or
written does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import smpplib.consts
from aiohttp import ClientResponse

from smsgate import errors
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.config import HttpConfig
from smsgate.domain.models import (
    AccessKey,
    Account,
    Message,
    ReviewStatus,
    SignName,
    Template,
)
from smsgate.doors.smpp.statuses import PROFILES
from smsgate.errors import SmppStatusProfile
from smsgate.logs import FIELDS_ATTR
from smsgate.ports.store import StoreError
from smsgate.smpp.constants import CommandStatus

from .conftest import ACCOUNT_ID, AK, SECRET, T0, Door, open_door, signed_url
from .smpp_wire import bound, cancel_sm, open_smpp_door, pdu, read_header, read_pdu

SG = "6591234567"
SEND = {"Action": "SendMessageToGlobe", "To": SG, "Message": "hello"}


async def _json(response: ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return body


def _overload_status(profile: SmppStatusProfile) -> int:
    """What the catalog says a full queue is over SMPP in ``profile``."""
    return int(CommandStatus[errors.OVERLOADED.smpp_status[profile]])


class FaultyStore(MemoryStore):
    """The memory store, except that the operations named in :attr:`failing` fail as a
    database that cannot be read or written does."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def _fault(self, operation: str) -> None:
        if operation in self.failing:
            raise StoreError("OperationalError: disk I/O error")

    async def accept_messages(self, messages: Sequence[Message], charge_micros: int) -> bool:
        self._fault("accept_messages")
        return await super().accept_messages(messages, charge_micros)

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        self._fault("get_message")
        return await super().get_message(account_id, message_id)

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
        self._fault("query_messages")
        return await super().query_messages(
            account_id, since=since, until=until, to=to, limit=limit, offset=offset
        )

    async def record_conversion(
        self, account_id: str, message_id: str, converted: bool, at: float
    ) -> bool:
        self._fault("record_conversion")
        return await super().record_conversion(account_id, message_id, converted, at)

    async def add_conversion_data(self, account_id: str, rate: float, report_time: float) -> None:
        self._fault("add_conversion_data")
        await super().add_conversion_data(account_id, rate, report_time)

    async def cancel_message(self, account_id: str, message_id: str, at: float) -> Message | None:
        self._fault("cancel_message")
        return await super().cancel_message(account_id, message_id, at)

    async def get_template(self, account_id: str, code: str) -> Template | None:
        self._fault("get_template")
        return await super().get_template(account_id, code)

    async def get_sign_name(self, account_id: str, name: str) -> SignName | None:
        self._fault("get_sign_name")
        return await super().get_sign_name(account_id, name)

    async def find_key(self, key_id: str) -> tuple[AccessKey, Account] | None:
        self._fault("find_key")
        return await super().find_key(key_id)

    async def get_account(self, account_id: str) -> Account | None:
        self._fault("get_account")
        return await super().get_account(account_id)

    async def list_accounts(self) -> list[Account]:
        self._fault("list_accounts")
        return await super().list_accounts()

    async def document_versions(self) -> dict[str, int]:
        self._fault("document_versions")
        return await super().document_versions()

    def remember_nonce(
        self, access_key_id: str, nonce: str, expires_at: float
    ) -> asyncio.Future[None]:
        self._fault("remember_nonce")  # at once, as a closed store refuses it
        return super().remember_nonce(access_key_id, nonce, expires_at)


def _store_failures(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """The fields of each ``store.failed`` line logged."""
    return [getattr(r, FIELDS_ATTR) for r in caplog.records if r.getMessage() == "store.failed"]


# -- a store failure over HTTP --------------------------------------------------------------------


@dataclass(frozen=True)
class HttpPath:
    """A request, and the store operation that fails under it."""

    params: dict[str, str]
    fails: str
    #: Made first, while the store works: an approved template SMS_1, a message whose id is
    #: added to the request as MessageId.
    template: bool = False
    message: bool = False
    domestic: bool = False
    #: Signed with a key made after the start: the server loaded the keys it had then, and a
    #: key it holds is served from memory (a store failure meanwhile does not refuse it).
    late_key: bool = False


TEMPLATE_SEND = {
    "Action": "SendMessageWithTemplate",
    "To": SG,
    "From": "Acme",
    "TemplateCode": "SMS_1",
}
HTTP_PATHS = {
    "send: storing the message": HttpPath(SEND, "accept_messages"),
    "batch send: storing the messages": HttpPath(
        {"Action": "BatchSendMessageToGlobe", "To": f'["{SG}"]', "Message": '["a"]'},
        "accept_messages",
    ),
    "template send: the template": HttpPath(TEMPLATE_SEND, "get_template"),
    "template send: the sign name": HttpPath(TEMPLATE_SEND, "get_sign_name", template=True),
    "QueryMessage": HttpPath({"Action": "QueryMessage", "MessageId": "1"}, "get_message"),
    "SmsConversion: the message": HttpPath(
        {"Action": "SmsConversion", "MessageId": "1", "Delivered": "true"}, "get_message"
    ),
    "SmsConversion: the report": HttpPath(
        {"Action": "SmsConversion", "Delivered": "true"}, "record_conversion", message=True
    ),
    "ConversionData": HttpPath(
        {"Action": "ConversionData", "ConversionRate": "0.5"}, "add_conversion_data"
    ),
    "QuerySendDetails": HttpPath(
        {
            "Action": "QuerySendDetails",
            "Version": "2017-05-25",
            "PhoneNumber": SG,
            "PageSize": "10",
            "CurrentPage": "1",
        },
        "query_messages",
        domestic=True,
    ),
    "authentication: the AccessKey": HttpPath(SEND, "find_key", late_key=True),
    # Not "access: the policy": the server loads its policy documents before it opens, and keeps
    # them while the store cannot be read (tests/unit/test_decision_caches.py).
    "access: ResourceOwnerId": HttpPath(
        {**SEND, "ResourceOwnerId": "2000000000000002"}, "get_account"
    ),
    "access: ResourceOwnerAccount": HttpPath(
        {**SEND, "ResourceOwnerAccount": "someone else"}, "list_accounts"
    ),
}


async def _prepare(door: Door, store: FaultyStore, path: HttpPath) -> dict[str, str]:
    """The request's parameters, after what it needs was made while the store works."""
    params = dict(path.params)
    if path.template:
        template = Template(
            ACCOUNT_ID, "SMS_1", "Your code is ${code}", "verification", ReviewStatus.APPROVED, 0.0
        )
        await store.put_template(template)
    if path.message:
        params["MessageId"] = (await _json(await door.get(SEND)))["MessageId"]
    if path.domestic:
        params["SendDate"] = datetime.fromtimestamp(door.clock.now(), UTC).strftime("%Y%m%d")
    return params


@pytest.mark.parametrize("path", HTTP_PATHS.values(), ids=HTTP_PATHS.keys())
async def test_a_store_failure_over_http_is_the_catalogs_system_error(
    path: HttpPath, caplog: pytest.LogCaptureFixture
) -> None:
    store = FaultyStore()
    async with open_door(store, capacity=10) as door:
        params = await _prepare(door, store, path)
        queued = len(door.queue)
        key_id, secret = AK, SECRET
        if path.late_key:
            key_id, secret = "LTAI5tDoorTestLateKey001", "LateKeySecret0123456789abcdef"
            await store.add_key(AccessKey(key_id, ACCOUNT_ID, secret, True, None, T0))
        store.failing.add(path.fails)

        response = await door.get(params, key_id=key_id, secret=secret)
        text = await response.text()

        body = await _json(response)
        # The domestic API (2017-05-25) names them Code and Message.
        code, description = (
            ("Code", "Message") if path.domestic else ("ResponseCode", "ResponseDescription")
        )
        assert response.status == 200
        assert set(body) == {"RequestId", code, description}
        assert (body[code], body[description]) == (
            errors.SYSTEM_ERROR.code,
            errors.SYSTEM_ERROR.message,
        )
        assert "disk I/O error" not in text
        assert len(door.queue) == queued  # nothing was accepted
    # The cause is the operator's: logged once, by the core, without a stack trace.
    (failure,) = _store_failures(caplog)
    assert failure["error"] == "OperationalError: disk I/O error"
    assert not [r for r in caplog.records if r.exc_info]


async def test_the_cause_is_logged_once_per_run_of_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FaultyStore()
    query = {"Action": "QueryMessage", "MessageId": "1"}
    async with open_door(store) as door:
        store.failing.add("get_message")
        codes = [(await _json(await door.get(query)))["ResponseCode"] for _ in range(3)]
        store.failing.clear()
        recovered = (await _json(await door.get(query)))["ResponseCode"]

    assert codes == [errors.SYSTEM_ERROR.code] * 3
    assert recovered == errors.DATA_NOT_EXIST.code
    assert _store_failures(caplog) == [
        {"operation": "read a message", "error": "OperationalError: disk I/O error"}
    ]
    (recovery,) = [r for r in caplog.records if r.getMessage() == "store.recovered"]
    assert getattr(recovery, FIELDS_ATTR) == {"operation": "read a message", "failed": 3}


async def test_a_nonce_the_store_cannot_keep_fails_no_request() -> None:
    """The store's own failure is what the operator is told about; memory still refuses a
    replay until the next start (see ``doors.aliyun.auth``)."""
    store = FaultyStore()
    async with open_door(store) as door:
        store.failing.add("remember_nonce")
        url = signed_url(SEND)

        sent = await _json(await door.client.get(url))
        replayed = await door.client.get(url)

        assert sent["ResponseCode"] == "OK"
        assert (replayed.status, (await _json(replayed))["Code"]) == (
            400,
            errors.SIGNATURE_NONCE_USED.code,
        )


# -- overload over HTTP ---------------------------------------------------------------------------


async def test_a_full_queue_is_the_catalogs_overload_answer_over_http(door: Door) -> None:
    assert (await _json(await door.get(SEND)))["ResponseCode"] == "OK"  # fills the queue

    response = await door.get(SEND)

    body = await _json(response)
    gateway = errors.OVERLOADED.gateway
    assert (response.status, body["Code"], body["Message"]) == (
        gateway.http_status,
        gateway.code,
        gateway.message,
    )
    assert (response.status, body["Code"]) == (429, "Throttling")


class _HeldLookups(MemoryStore):
    """Message lookups wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def get_message(self, account_id: str, message_id: str) -> Message | None:
        self.entered.set()
        await self.release.wait()
        return await super().get_message(account_id, message_id)


async def test_too_many_requests_in_progress_is_the_catalogs_overload_answer() -> None:
    store = _HeldLookups()
    async with open_door(store, limits=HttpConfig(max_in_progress=1)) as door:
        first = asyncio.ensure_future(door.get({"Action": "QueryMessage", "MessageId": "1"}))
        await store.entered.wait()

        shed = await door.get(SEND)

        body = await _json(shed)
        gateway = errors.OVERLOADED.gateway
        assert (shed.status, body["Code"]) == (gateway.http_status, gateway.code)
        assert body["Message"] == f"{gateway.message} Too many requests in progress; retry later."
        store.release.set()
        await first


# -- overload over SMPP ---------------------------------------------------------------------------


def _submit(sequence: int) -> bytes:
    return pdu(
        "submit_sm",
        sequence,
        source_addr="Acme",
        destination_addr=SG,
        short_message=b"hello",
    )


@pytest.mark.parametrize("profile", errors.SMPP_STATUS_PROFILES)
async def test_a_full_queue_is_the_catalogs_overload_answer_over_smpp(
    profile: SmppStatusProfile,
) -> None:
    async with open_smpp_door(MemoryStore(), queue_size=1, status_codes=profile) as door:
        reader, writer = await bound(door.port)
        writer.write(_submit(2))
        assert (await read_pdu(reader)).status == smpplib.consts.SMPP_ESME_ROK  # fills the queue

        writer.write(_submit(3))
        answer = await read_pdu(reader)

        assert (answer.command, answer.sequence) == ("submit_sm_resp", 3)
        assert answer.status == _overload_status(profile) == PROFILES[profile][errors.OVERLOADED]
        assert answer.status == smpplib.consts.SMPP_ESME_RMSGQFUL
        assert len(door.queue) == 1  # nothing more was taken
        writer.close()


# -- a store failure over SMPP --------------------------------------------------------------------


def _system_error(profile: SmppStatusProfile) -> int:
    """What the catalog says a store failure is over SMPP in ``profile``."""
    status = PROFILES[profile][errors.SYSTEM_ERROR]
    assert status == {"seed": 46, "smpp34": CommandStatus.ESME_RSYSERR}[profile]
    return status


@pytest.fixture(params=errors.SMPP_STATUS_PROFILES)
def profile(request: pytest.FixtureRequest) -> SmppStatusProfile:
    chosen: SmppStatusProfile = request.param
    return chosen


# Not reading the bind's account: the bind read it, and the key ring keeps what it read while
# the store cannot be read again (tests/unit/test_decision_caches.py).
@pytest.mark.parametrize("fails", ["accept_messages"])
async def test_a_store_failure_behind_submit_sm_is_the_catalogs_system_error(
    profile: SmppStatusProfile, fails: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Storing the message fails."""
    store = FaultyStore()
    async with open_smpp_door(store, status_codes=profile) as door:
        reader, writer = await bound(door.port)
        store.failing.add(fails)

        writer.write(_submit(2))
        answer = await read_pdu(reader)

        assert (answer.command, answer.sequence) == ("submit_sm_resp", 2)
        assert answer.status == _system_error(profile)
        assert len(door.queue) == 0
        writer.close()
    assert len(_store_failures(caplog)) == 1
    assert not [r for r in caplog.records if r.exc_info]  # no "unexpected" failure


async def test_a_store_failure_behind_query_sm_is_the_catalogs_system_error(
    profile: SmppStatusProfile, caplog: pytest.LogCaptureFixture
) -> None:
    store = FaultyStore()
    async with open_smpp_door(store, status_codes=profile) as door:
        reader, writer = await bound(door.port)
        writer.write(_submit(2))
        message_id = (await read_pdu(reader)).message_id.decode()
        store.failing.add("get_message")

        writer.write(pdu("query_sm", 3, message_id=message_id, source_addr="Acme"))
        answer = await read_pdu(reader)

        assert (answer.command, answer.sequence) == ("query_sm_resp", 3)
        assert answer.status == _system_error(profile)
        writer.close()
    assert len(_store_failures(caplog)) == 1
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("fails", ["get_message", "cancel_message"])
async def test_a_store_failure_behind_cancel_sm_is_the_catalogs_system_error(
    profile: SmppStatusProfile, fails: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading the message fails, or cancelling it does."""
    store = FaultyStore()
    async with open_smpp_door(store, status_codes=profile) as door:
        reader, writer = await bound(door.port)
        writer.write(_submit(2))
        message_id = (await read_pdu(reader)).message_id.decode()
        store.failing.add(fails)

        writer.write(cancel_sm(3, message_id))
        command_id, status, sequence = await read_header(reader)

        assert (command_id, sequence) == (0x80000008, 3)  # cancel_sm_resp
        assert status == _system_error(profile)
        assert len(door.queue) == 1  # still on its way
        writer.close()
    assert len(_store_failures(caplog)) == 1
    assert not [r for r in caplog.records if r.exc_info]
