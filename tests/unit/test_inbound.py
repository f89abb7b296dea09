"""MO messages find their account by the longest number or prefix, and read as Alibaba's SmsUp."""

from __future__ import annotations

import pytest

from smsgate.domain.inbound import InboundMessage, parse_inbound_document


def test_the_longest_entry_owns_the_number_and_the_rest_is_the_dest_code() -> None:
    numbers = parse_inbound_document({"6591": "wide", "659124": "acme", "6591240000": "exact"})

    assert numbers.owner("6591240000") == ("exact", "")
    assert numbers.owner("65912477") == ("acme", "77")
    assert numbers.owner("+6591999999") == ("wide", "999999")
    assert numbers.owner("6598000000") is None


def test_an_empty_document_owns_nothing() -> None:
    assert parse_inbound_document({}).owner("6591240000") is None


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ([], "JSON object"),
        ({"+6591": "a"}, "digits, without"),
        ({"1234567890123456": "a"}, "1-15 digits"),
        ({"6591": 7}, "account id must be text"),
    ],
)
def test_a_bad_document_is_refused(doc: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_inbound_document(doc)


def test_an_mo_message_reads_as_alibabas_sms_up_element() -> None:
    message = InboundMessage(
        sequence_id=1234567890,
        account_id="acme",
        source="6591112222",
        destination="65912477",
        dest_code="77",
        text="STOP",
        received_at=1_504_195_200.0,  # 2017-08-31 16:00:00 UTC
        connector="carrier-a",
    )

    assert message.sms_up() == {
        "phone_number": "6591112222",
        "send_time": "2017-09-01 00:00:00",  # Alibaba writes UTC+8
        "content": "STOP",
        "sign_name": "",
        "dest_code": "77",
        "sequence_id": 1234567890,
    }
