"""Connector settings: what the operator may set, checked before anything binds."""

from __future__ import annotations

from typing import Any

import pytest

from smsgate.domain.connectors import ConnectorSpec, check_password, parse_connectors_document

BASE: dict[str, Any] = {
    "host": "smsc.example.net",
    "port": 2775,
    "system_id": "acme",
    "password_sealed": "v1:sealed",
}


def test_defaults_are_one_transceiver_with_a_window_of_ten() -> None:
    spec = parse_connectors_document({"carrier-a": BASE})["carrier-a"]

    assert (spec.bind_mode, spec.binds, spec.window, spec.tps) == ("transceiver", 1, 10, 0.0)
    assert (spec.long_method, spec.receipt_ids, spec.text_coding) == ("udh", "auto", 0)
    assert spec.address == "smpp://smsc.example.net:2775"


def test_the_document_round_trips() -> None:
    spec = ConnectorSpec(
        name="carrier-b",
        **BASE,
        tls=True,
        bind_mode="tx+rx",
        binds=4,
        window=50,
        tps=200.5,
        source_ton=5,
        source_npi=0,
        long_method="sar",
        receipt_ids="hex",
        receipt_codes={"UNDELIV:005": "PORTED_NUM"},
    )

    parsed = parse_connectors_document({"carrier-b": spec.to_document()})

    assert parsed["carrier-b"] == spec
    assert spec.address == "smpps://smsc.example.net:2775"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"port": 0}, "port must be 1-65535"),
        ({"port": "2775"}, "port must be a whole number"),
        ({"tls": 1}, "tls must be true or false"),
        ({"binds": True}, "binds must be a whole number"),
        ({"system_id": "x" * 16}, "system_id must be 1-15"),
        ({"bind_mode": "receiver"}, "bind_mode must be one of transceiver, tx"),
        ({"window": 0}, "window must be 1-10000"),
        ({"tps": -1}, "tps must be 0"),
        ({"reconnect_initial_s": 5, "reconnect_max_s": 1}, "reconnect_max_s must be at least"),
        ({"text_coding": 8}, "text_coding must be one of 0, 1, 3"),
        ({"long_method": "split"}, "long_method must be one of udh, sar, payload"),
        ({"receipt_ids": "oct"}, "receipt_ids must be one of"),
        ({"receipt_codes": {"UNDELIV": 5}}, "receipt_codes must map"),
        ({"colour": "red"}, "unknown settings colour"),
        ({"host": ""}, "host is required"),
    ],
)
def test_a_bad_setting_is_refused_by_name(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_connectors_document({"c": {**BASE, **change}})


def test_required_settings_and_names() -> None:
    with pytest.raises(ValueError, match="missing password_sealed, port"):
        parse_connectors_document({"c": {"host": "h", "system_id": "s"}})
    with pytest.raises(ValueError, match="built-in simulator"):
        parse_connectors_document({"simulator": BASE})
    with pytest.raises(ValueError, match="name must be"):
        parse_connectors_document({"bad name": BASE})
    with pytest.raises(ValueError, match="JSON object of name"):
        parse_connectors_document([BASE])


@pytest.mark.parametrize("password", ["", "123456789", "pässwd", "tab\there"])
def test_a_password_smpp_cannot_carry_is_refused(password: str) -> None:
    with pytest.raises(ValueError, match="password must be"):
        check_password(password)


def test_a_password_of_up_to_eight_characters_is_fine() -> None:
    check_password("12345678")
    check_password("x")
