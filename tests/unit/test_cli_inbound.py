"""``smsgate inbound``: numbers and prefixes whose MO messages an account receives, kept in the
policy document ``inbound``, and an account's latest MO messages.

The commands run in process through ``smsgate.cli.main`` against a real data directory.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from smsgate.adapters.storage.factory import open_store
from smsgate.cli import main
from smsgate.config import ENV_CONFIG, ENV_DATA_DIR, load_config
from smsgate.domain.inbound import InboundMessage


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(ENV_CONFIG, raising=False)


@pytest.fixture
def data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    data_dir = tmp_path / "data"
    assert main(["init", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()  # what init printed
    return data_dir


def run(capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str) -> tuple[int, object]:
    status = main([*argv, "--data-dir", str(data_dir), "--json"])
    out, err = capsys.readouterr()
    return status, json.loads(out) if status == 0 else err


def account(capsys: pytest.CaptureFixture[str], data_dir: Path, name: str) -> str:
    status, created = run(capsys, data_dir, "accounts", "create", "--name", name)
    assert status == 0
    assert isinstance(created, dict)
    return str(created["account_id"])


def test_numbers_are_added_listed_and_removed(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    acme, other = account(capsys, data_dir, "acme"), account(capsys, data_dir, "other")

    assert run(capsys, data_dir, "inbound", "add", "+6591230000", "--account", acme) == (
        0,
        {"number": "6591230000", "account_id": acme},
    )
    assert run(capsys, data_dir, "inbound", "add", "659124", "--account", other)[0] == 0
    assert run(capsys, data_dir, "inbound", "list") == (
        0,
        [
            {"number": "6591230000", "account_id": acme},
            {"number": "659124", "account_id": other},
        ],
    )
    assert run(capsys, data_dir, "inbound", "remove", "659124") == (
        0,
        {"number": "659124", "removed": True},
    )
    assert run(capsys, data_dir, "inbound", "list") == (
        0,
        [{"number": "6591230000", "account_id": acme}],
    )


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (("add", "6591230000", "--account", "9999999999999999"), "no account 9999999999999999"),
        (("add", "65-91", "--account", "ACME"), "not a number or prefix"),
        (("add", "1234567890123456", "--account", "ACME"), "1-15 digits"),
        (("add", "6591230000", "--account", "ACME"), "already goes to account"),
        (("remove", "659999"), "no inbound number 659999"),
    ],
)
def test_mistakes_are_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str], data_dir: Path, argv: tuple[str, ...], problem: str
) -> None:
    acme = account(capsys, data_dir, "acme")
    run(capsys, data_dir, "inbound", "add", "6591230000", "--account", acme)

    status, err = run(capsys, data_dir, "inbound", *(acme if a == "ACME" else a for a in argv))

    assert status == 2
    assert problem in str(err)


def test_an_accounts_mo_messages_are_listed_newest_first(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    acme = account(capsys, data_dir, "acme")

    async def receive() -> None:
        store = open_store(load_config(data_dir=data_dir, environ={}))
        await store.start()
        try:
            for text in ("first", "second"):
                message = InboundMessage(0, acme, "6598765432", "6591230077", "77", text, 1.0, "up")
                await store.store_inbound(message)
        finally:
            await store.close()

    asyncio.run(receive())

    status, listed = run(capsys, data_dir, "inbound", "messages", acme, "--limit", "1")
    assert status == 0
    assert listed == [
        {
            "sequence_id": 2,
            "from": "6598765432",
            "to": "6591230077",
            "dest_code": "77",
            "text": "second",
            "received_at": "1970-01-01T00:00:01Z",
            "connector": "up",
        }
    ]
