"""Record queries by date: the domestic API's QuerySendDetails (2017-05-25) over every message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alibabacloud_dysmsapi20170525 import models as domestic_models
from alibabacloud_dysmsapi20170525.client import Client as DomesticClient
from alibabacloud_dysmsapi20180501 import models
from alibabacloud_tea_openapi import models as openapi_models
from Tea.exceptions import TeaException

from smsgate import errors

from .conftest import Account, CallbackReceiver, ServerProcess, v3_client

SG = "6591234567"


def domestic_client(server: ServerProcess, account: Account) -> DomesticClient:
    return DomesticClient(
        openapi_models.Config(
            access_key_id=account.key_id,
            access_key_secret=account.secret,
            endpoint=server.endpoint,
            protocol="http",
        )
    )


def query(
    server: ServerProcess, account: Account, day: datetime, page_size: int = 10, page: int = 1
) -> domestic_models.QuerySendDetailsResponseBody:
    request = domestic_models.QuerySendDetailsRequest(
        phone_number=SG,
        send_date=day.strftime("%Y%m%d"),
        page_size=page_size,
        current_page=page,
    )
    return domestic_client(server, account).query_send_details(request).body


def test_query_send_details_lists_the_days_messages(
    server: ServerProcess, pushed_account: Account, receiver: CallbackReceiver
) -> None:
    client = v3_client(server, pushed_account)
    ids = [
        client.send_message_to_globe(
            models.SendMessageToGlobeRequest(to=SG, message=f"record {i}")
        ).body.message_id
        for i in range(3)
    ]
    receiver.wait_for(ids)
    today = datetime.now(UTC)
    body = query(server, pushed_account, today, page_size=2)
    assert (body.code, body.message) == ("OK", errors.OK.message)
    assert body.total_count == 3
    page_one = body.sms_send_detail_dtos.sms_send_detail_dto
    assert [d.content for d in page_one] == ["record 2", "record 1"]  # newest first
    assert all(d.send_status == 3 and d.err_code == "DELIVERED" for d in page_one)
    assert page_one[0].phone_num == SG
    assert page_one[0].receive_date
    page_two = query(server, pushed_account, today, page_size=2, page=2)
    assert [d.content for d in page_two.sms_send_detail_dtos.sms_send_detail_dto] == ["record 0"]


@pytest.mark.parametrize("days", [-30, 1])
def test_dates_outside_the_window_are_query_date_illegal(
    server: ServerProcess, account: Account, days: int
) -> None:
    body = query(server, account, datetime.now(UTC) + timedelta(days=days))
    assert (body.code, body.message) == (
        errors.QUERY_DATE_ILLEGAL.code,
        errors.QUERY_DATE_ILLEGAL.message,
    )


def test_the_oldest_day_in_the_window_is_allowed(server: ServerProcess, account: Account) -> None:
    body = query(server, account, datetime.now(UTC) - timedelta(days=29))
    assert (body.code, body.total_count) == ("OK", 0)


def test_page_size_out_of_range(server: ServerProcess, account: Account) -> None:
    body = query(server, account, datetime.now(UTC), page_size=51)
    assert body.code == errors.INVALID_PARAMETERS.code


def test_other_domestic_actions_are_not_found(server: ServerProcess, account: Account) -> None:
    with pytest.raises(TeaException) as caught:
        domestic_client(server, account).send_sms(
            domestic_models.SendSmsRequest(
                phone_numbers=SG, sign_name="Acme", template_code="SMS_1"
            )
        )
    assert caught.value.code == "InvalidAction.NotFound"
