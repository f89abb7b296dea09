"""submit_sm through smpplib (an independent SMPP client) against a real server process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
from alibabacloud_dysmsapi20180501 import models

from smsgate import errors

from .conftest import SIMULATOR_CONFIG, Account, ServerProcess, v3_client
from .test_smpp_door import submit, text_of

SG = "6591234567"  # a valid Singapore mobile number (SingTel)
PASSWORD = "s3cret"


def smpp_credentials(server: ServerProcess, account: Account, system_id: str) -> None:
    server.cli("smpp", "add", account.account_id, "--system-id", system_id, "--password", PASSWORD)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Its own server, re-reading policy on every use: credentials added by a test work at once
    (the default re-reads at most once a second), so no test waits."""
    proc = ServerProcess(
        tmp_path_factory.mktemp("smpp") / "data", SIMULATOR_CONFIG + "\n[server]\nrefresh_s = 0\n"
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[smpplib.client.Client]:
    c = smpplib.client.Client(
        "127.0.0.1", server.smpp_port, timeout=5, allow_unknown_opt_params=True
    )
    c.connect()
    yield c
    c.disconnect()


def bound(
    server: ServerProcess, client: smpplib.client.Client, system_id: str, balance: str = "1000"
) -> Account:
    account = server.create_account(system_id, balance=balance)
    smpp_credentials(server, account, system_id)
    client.bind_transceiver(system_id=system_id, password=PASSWORD)
    return account


def test_gsm_submit_is_queryable_over_http(
    server: ServerProcess, client: smpplib.client.Client
) -> None:
    account = bound(server, client, "gsmclient")
    resp = submit(client, SG, b"Your code is 1234")
    assert resp.status == smpplib.consts.SMPP_ESME_ROK
    message_id = text_of(resp.message_id)
    assert message_id.isdigit()
    query = (
        v3_client(server, account)
        .query_message(models.QueryMessageRequest(message_id=message_id))
        .body
    )
    assert query.response_code == "OK"
    assert query.to == SG
    assert query.message == "Your code is 1234"


def test_ucs2_submit(server: ServerProcess, client: smpplib.client.Client) -> None:
    account = bound(server, client, "ucs2client")
    resp = submit(client, SG, "验证码 1234 ✓".encode("utf-16-be"), data_coding=8)
    assert resp.status == smpplib.consts.SMPP_ESME_ROK
    query = (
        v3_client(server, account)
        .query_message(models.QueryMessageRequest(message_id=text_of(resp.message_id)))
        .body
    )
    assert query.message == "验证码 1234 ✓"


def test_invalid_destination_answers_the_seed_smpp_code(
    server: ServerProcess, client: smpplib.client.Client
) -> None:
    bound(server, client, "badnumber")
    resp = submit(client, "12", b"hello")
    assert resp.status == errors.MOBILE_NUMBER_ILLEGAL.smpp_status == 33


def test_zero_balance_answers_amount_not_enough(
    server: ServerProcess, client: smpplib.client.Client
) -> None:
    bound(server, client, "poorclient", balance="0")
    resp = submit(client, SG, b"hello")
    assert resp.status == errors.AMOUNT_NOT_ENOUGH.smpp_status == 45


def test_wrong_password_is_refused(server: ServerProcess, client: smpplib.client.Client) -> None:
    account = server.create_account("wrongpw")
    smpp_credentials(server, account, "wrongpw")
    with pytest.raises(smpplib.exceptions.PDUError) as info:
        client.bind_transceiver(system_id="wrongpw", password="nope")
    assert info.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD


def test_unknown_system_id_is_refused(client: smpplib.client.Client) -> None:
    with pytest.raises(smpplib.exceptions.PDUError) as info:
        client.bind_transceiver(system_id="nobody", password=PASSWORD)
    assert info.value.args[1] == smpplib.consts.SMPP_ESME_RINVSYSID
