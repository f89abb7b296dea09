"""``smsgate connectors`` and ``smsgate routes`` in process, against a real data directory with
no server running: round trips, the refusals and what they say, and a password that is printed
nowhere. (With a server, live state: tests/interop/test_connectors_live.py.)"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from smsgate.adapters.secret_box import SecretBox
from smsgate.cli import main
from smsgate.config import ENV_CONFIG, ENV_DATA_DIR
from tests.interop.conftest import free_port

PASSWORD = "pw4smsc"
ADD = (
    "connectors", "add", "uplink", "--host", "smsc.example.net", "--port", "2775",
    "--system-id", "acme", "--password", PASSWORD,
)  # fmt: skip


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(ENV_CONFIG, raising=False)
    path = tmp_path / "data"
    assert main(["init", "--data-dir", str(path)]) == 0
    return path


class Cli:
    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data_dir = data_dir
        self.capsys = capsys
        self.printed: list[str] = []
        # Nothing listens here: "no server answers".
        self.config = data_dir.parent / "smsgate.toml"
        self.config.write_text(f"[server]\nhttp_port = {free_port()}\n")

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        status = main([*argv, "--data-dir", str(self.data_dir), "--config", str(self.config)])
        out, err = self.capsys.readouterr()
        self.printed += [out, err]
        return status, out, err

    def json(self, *argv: str) -> object:
        status, out, err = self.run(*argv, "--json")
        assert status == 0, err
        return json.loads(out)

    def refusal(self, *argv: str) -> str:
        status, out, err = self.run(*argv)
        assert (status, out) == (2, "")
        return err.strip()


@pytest.fixture
def cli(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(data_dir, capsys)


def stored_document(data_dir: Path, name: str) -> object:
    with sqlite3.connect(data_dir / "smsgate.db") as db:
        row = db.execute("SELECT body FROM documents WHERE name = ?", (name,)).fetchone()
    return json.loads(row[0])


def test_a_connector_is_added_listed_and_removed_without_its_password(cli: Cli) -> None:
    added = cli.json(
        *ADD, "--tls", "--binds", "2", "--bind-mode", "tx+rx", "--window", "50", "--tps", "100",
        "--system-type", "VMA", "--enquire-link-s", "15", "--source-ton", "5", "--source-npi",
        "0", "--text-coding", "3", "--long-method", "sar", "--receipt-ids", "hex",
        "--receipt-code", "undeliv:005=PORTED_NUM", "--receipt-code", "REJECTD=INVALID_NUM",
    )  # fmt: skip
    status, out, err = cli.run("connectors", "list", "--json")
    listed = json.loads(out)
    removed = cli.json("connectors", "remove", "uplink")

    assert isinstance(added, dict)
    assert added == {
        "name": "uplink",
        "address": "smpps://smsc.example.net:2775",
        "host": "smsc.example.net",
        "port": 2775,
        "system_id": "acme",
        "tls": True,
        "system_type": "VMA",
        "bind_mode": "tx+rx",
        "binds": 2,
        "window": 50,
        "tps": 100.0,
        "enquire_link_s": 15.0,
        "reconnect_initial_s": 1.0,
        "reconnect_max_s": 60.0,
        "response_timeout_s": 30.0,
        "source_ton": 5,
        "source_npi": 0,
        "text_coding": 3,
        "long_method": "sar",
        "receipt_ids": "hex",
        "receipt_codes": {"UNDELIV:005": "PORTED_NUM", "REJECTD": "INVALID_NUM"},
    }
    assert status == 0
    assert listed == [
        {"name": "simulator", "address": "built-in", "live": None},
        {**added, "live": None},
    ]
    assert "no server answers at http://127.0.0.1:" in err
    assert "live state unknown" in err
    assert isinstance(removed, dict)
    assert removed["removed"] is True
    assert not any(PASSWORD in printed for printed in cli.printed)


def test_the_password_is_stored_sealed_with_the_master_key(cli: Cli, data_dir: Path) -> None:
    cli.json(*ADD)

    doc = stored_document(data_dir, "connectors")

    assert isinstance(doc, dict)
    sealed = doc["uplink"]["password_sealed"]
    assert PASSWORD not in json.dumps(doc)
    assert SecretBox.from_key_file(data_dir / "master.key", create=False).open(sealed) == PASSWORD


def test_the_list_for_people_is_one_line_a_connector(cli: Cli) -> None:
    cli.json(*ADD, "--binds", "2")

    status, out, _err = cli.run("connectors", "list")

    assert status == 0
    header, simulator, uplink = out.splitlines()
    assert header.split() == [
        "name", "address", "system_id", "binds", "window", "tps", "state", "bind_states",
        "in_flight", "per_s",
    ]  # fmt: skip
    assert simulator.split()[:2] == ["simulator", "built-in"]
    assert uplink.split() == [
        "uplink", "smpp://smsc.example.net:2775", "acme", "2", "transceiver", "10", "-",
        "unknown", "-", "-", "-",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((*ADD[:-1], "much-too-long"), "the password must be 1-8 ASCII characters"),
        ((*ADD, "--port", "0"), "port must be 1-65535"),
        ((*ADD, "--binds", "0"), "binds must be 1-64"),
        ((*ADD, "--receipt-code", "UNDELIV"), "--receipt-code is STAT[:ERR]=CODE"),
        ((*ADD, "--receipt-code", "UNDELIV=LOST"), "'LOST' is not a receipt code"),
        (("connectors", "remove", "nowhere"), "no connector nowhere"),
        (("routes", "add", "--connector", "nowhere"), "no connector nowhere"),
        (("routes", "add", "--connector", "simulator", "--country", "SGP"), "alpha-2"),
        (("routes", "add", "--connector", "simulator", "--account", "1"), "no account 1"),
        (("routes", "remove", "r1"), "no route r1"),
    ],
)
def test_mistakes_are_refused_with_the_reason(
    cli: Cli, argv: tuple[str, ...], message: str
) -> None:
    refused = cli.refusal(*argv)

    assert refused.startswith("smsgate: ")
    assert message in refused
    assert PASSWORD not in refused


def test_adding_a_connector_again_needs_replace(cli: Cli) -> None:
    cli.json(*ADD)

    refused = cli.refusal(*ADD)
    replaced = cli.json(*ADD, "--window", "64", "--replace")

    assert refused == "smsgate: connector uplink already exists; replace it to change it"
    assert isinstance(replaced, dict)
    assert replaced["window"] == 64


def test_routes_are_added_listed_in_trial_order_and_removed(cli: Cli) -> None:
    cli.json(*ADD)

    first = cli.json("routes", "add", "--connector", "uplink", "--country", "sg")
    second = cli.json(
        "routes", "add", "--connector", "simulator", "--prefix", "6591", "--network", "SingTel",
        "--sender", "Acme", "--priority", "10", "--weight", "3",
    )  # fmt: skip
    listed = cli.json("routes", "list")
    refused = cli.refusal("connectors", "remove", "uplink")
    removed = cli.json("routes", "remove", "r1")

    assert first == {
        "id": "r1", "connector": "uplink", "country": "SG", "prefix": None, "network": None,
        "account": None, "sender": None, "priority": 0, "weight": 1,
    }  # fmt: skip
    assert isinstance(second, dict)
    assert second["id"] == "r2"
    assert listed == [second, first]
    assert refused == "smsgate: connector uplink is used by routes r1: remove them first"
    assert isinstance(removed, dict)
    assert removed["removed"] is True
    assert cli.json("connectors", "remove", "uplink")
    assert cli.json("routes", "list") == [second]


def test_list_says_when_no_server_has_run_on_the_data_dir(cli: Cli, data_dir: Path) -> None:
    (data_dir / "admin.token").unlink()

    status, _out, err = cli.run("connectors", "list")

    assert status == 0
    assert "no server has run on" in err
