"""``smsgate migrate --from``: an embedded installation, built through the CLI and a real server
with the official SDKs, moved into PostgreSQL and served from there by a server with the same
master key.

What the first server leaves behind is what an operator's would: accounts and keys made by the
CLI, a template, a sign name and a price set, messages delivered and others still waiting for
their receipt, and receipt pushes still owed (the receiver refuses them until the move is done).
The server on PostgreSQL then answers the same AccessKey, QueryMessage finds every message, the
pushes owed are delivered, balances and policy are the same, and the moved template and price
apply to a new message. The waiting messages were handed to the simulator, which records no
hand-over (they stay ACCEPTED) and forgets them when its server stops: on PostgreSQL they are
queued work (due at once, claimed by nobody), which the new server's workers take and deliver,
as the embedded server would have on its restart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from alibabacloud_dysmsapi20180501 import models
from alibabacloud_dysmsapi20180501.client import Client as V3Client

from smsgate.config import ENV_STORE_URL
from tests.services import fresh_postgres_database

from .conftest import CallbackReceiver, ServerProcess, v1_call, v3_client

pytestmark = pytest.mark.slow

# Pushes are retried often and never given up, so the ones owed at the move are still owed
# after it. On the embedded server, numbers ending 5555 get their receipt an hour later.
CONFIG = """
[simulator]
delay_ms = 20

[callbacks]
backoff_initial_s = 0.2
backoff_max_s = 1.0
max_attempts = 1000
"""
WAIT_AN_HOUR = """
[[simulator.rules]]
match = "suffix"
value = "5555"
receipt = "success"
delay_ms = 3600000
"""
DELIVERED = [f"659123400{i}" for i in range(4)]
WAITING = ["6591235555", "6598765555"]


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def refusing_receiver(cleanups: list[Callable[[], object]]) -> CallbackReceiver:
    receiver = CallbackReceiver()
    receiver.fail_next = 1_000_000  # every push fails until the test says otherwise
    receiver.start()
    cleanups.append(receiver.stop)
    return receiver


def migrate_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsgate.cli", "migrate", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def wait_for_status(client: V3Client, message_ids: list[str], status: str) -> None:
    deadline = time.monotonic() + 20
    waiting = set(message_ids)
    while waiting and time.monotonic() < deadline:
        for message_id in list(waiting):
            query = models.QueryMessageRequest(message_id=message_id)
            if client.query_message(query).body.status == status:
                waiting.discard(message_id)
        time.sleep(0.1)
    assert not waiting, f"not status {status}: {sorted(waiting)}"


def send(client: V3Client, to: str, text: str) -> str:
    body = client.send_message_to_globe(models.SendMessageToGlobeRequest(to=to, message=text)).body
    assert body.response_code == "OK", body
    return str(body.message_id)


def balances(listed: object) -> dict[str, Decimal]:
    assert isinstance(listed, list)
    return {str(a["account_id"]): Decimal(str(a["balance"])) for a in listed}


def test_an_embedded_installation_moves_into_postgresql_and_serves_from_there(
    tmp_path: Path,
    database: str,
    refusing_receiver: CallbackReceiver,
    cleanups: list[Callable[[], object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_STORE_URL, raising=False)
    embedded = ServerProcess(tmp_path / "data", CONFIG + WAIT_AN_HOUR)
    embedded.init()
    account = embedded.create_account("moving", callback_url=refusing_receiver.url, balance="10")
    quiet = embedded.create_account("quiet", balance="2.5")
    embedded.cli("policy", "set", "prices", '{"default": "0.07"}')
    embedded.cli(
        *("templates", "add", account.account_id, "--code", "SMS_200"),
        *("--content", "Hi ${name}", "--status", "approved"),
    )
    embedded.cli("signs", "add", account.account_id, "Acme", "--status", "approved")
    embedded.start()
    cleanups.append(embedded.stop)

    client = v3_client(embedded, account)
    delivered = [send(client, to, f"delivered {to}") for to in DELIVERED]
    waiting = [send(client, to, f"waiting {to}") for to in WAITING]
    wait_for_status(client, delivered, "1")
    wait_for_status(client, waiting, "3")  # sending: no receipt yet
    refusing_receiver.wait_requests(1)  # the pushes are owed, and failing
    accounts_before = embedded.cli("accounts", "list")
    prices_before = embedded.cli("policy", "show", "prices")

    # A running server is refused: the copy would miss what it writes afterwards.
    busy = migrate_cli("--from", str(embedded.data_dir), "--to", database)
    assert busy.returncode == 2
    assert "in use by another process (a server running on it?): stop it first" in busy.stderr
    embedded.stop()

    pg_data = tmp_path / "pg-data"
    move = migrate_cli(
        *("--from", str(embedded.data_dir), "--to", database),
        *("--data-dir", str(pg_data), "--json"),
    )
    assert move.returncode == 0, move.stderr
    report = json.loads(move.stdout)
    assert (report["verified"], report["committed"], report["messages"]) == (True, True, 6)
    assert report["master_key_copied"] is True

    monkeypatch.setenv(ENV_STORE_URL, database)
    served = ServerProcess(pg_data, CONFIG)
    served.start()
    cleanups.append(served.stop)
    client = v3_client(served, account)  # the same AccessKey signs for the new server

    for message_id, to in zip(delivered + waiting, DELIVERED + WAITING, strict=True):
        body = client.query_message(models.QueryMessageRequest(message_id=message_id)).body
        assert (body.to, body.message.split()[1]) == (to, to)
    assert served.cli("accounts", "list") == accounts_before
    refusing_receiver.fail_next = 0
    # Owed before the move and pushed after it; then the waiting ones, delivered from the queue.
    pushes = refusing_receiver.wait_for(delivered + waiting)
    assert all(p["Status"] == 1 for p in pushes)
    wait_for_status(client, waiting, "1")
    assert served.cli("policy", "show", "prices") == prices_before

    # The moved template, sign name and price apply to a new message.
    sent = v1_call(
        served,
        account,
        "SendMessageWithTemplate",
        {
            "To": DELIVERED[0],
            "From": "Acme",
            "TemplateCode": "SMS_200",
            "TemplateParam": '{"name": "Ana"}',
        },
    )
    assert sent["ResponseCode"] == "OK", sent
    refusing_receiver.wait_for([str(sent["MessageId"])])
    after, before = balances(served.cli("accounts", "list")), balances(accounts_before)
    assert after[account.account_id] == before[account.account_id] - Decimal("0.07")
    assert after[quiet.account_id] == before[quiet.account_id] == Decimal("2.5")
