"""CLI output for people: tables instead of Python reprs, ISO 8601 times in UTC and a chosen zone,
and an example at the end of every command's ``--help``.

Commands run in process through ``smsgate.cli.main`` on a real SQLite data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsgate.adapters.storage.factory import open_store
from smsgate.cli import _parser, main, parse_args
from smsgate.cli.output import render
from smsgate.config import ENV_CONFIG, ENV_DATA_DIR, load_config
from tests.builders import message


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(ENV_CONFIG, raising=False)


@pytest.fixture
def data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "data"
    assert main(["init", "--data-dir", str(path)]) == 0
    capsys.readouterr()
    return path


def cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str) -> str:
    status = main([*argv, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def new_account(capsys: pytest.CaptureFixture[str], data_dir: Path) -> str:
    created = json.loads(cli(capsys, data_dir, "accounts", "create", "--name", "t", "--json"))
    return str(created["account_id"])


# -- settings ------------------------------------------------------------------------------------


def test_settings_print_a_table_for_people_and_json_for_scripts(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    account_id = new_account(capsys, data_dir)
    limits = '{"OTP": {"per_day": 20}, "account_per_day": 1000}'
    change = ("--billing", "overdue", "--barred-actions", "BatchSendMessageToGlobe,QueryMessage")

    table = cli(capsys, data_dir, "settings", account_id, *change, "--limits", limits)
    as_json = json.loads(cli(capsys, data_dir, "settings", account_id, "--json"))

    assert table.splitlines() == [
        f"account_id                       {account_id}",
        "settings.barred_actions          BatchSendMessageToGlobe, QueryMessage",
        "settings.billing                 overdue",
        "settings.limits.OTP.per_day      20",
        "settings.limits.account_per_day  1000",
    ]
    assert "{'" not in table
    assert as_json == {
        "account_id": account_id,
        "settings": {
            "billing": "overdue",
            "barred_actions": ["BatchSendMessageToGlobe", "QueryMessage"],
            "limits": {"OTP": {"per_day": 20}, "account_per_day": 1000},
        },
    }


def test_an_account_without_settings_shows_a_dash(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    account_id = new_account(capsys, data_dir)

    assert cli(capsys, data_dir, "settings", account_id).splitlines() == [
        f"account_id  {account_id}",
        "settings    -",
    ]


def test_lists_are_tables_and_nested_lists_of_records_follow_their_record() -> None:
    shown = render(
        {
            "account_id": "1",
            "enabled": True,
            "callback_url": None,
            "keys": [
                {"access_key_id": "LTAI1", "enabled": True, "actions": "all"},
                {"access_key_id": "LTAI22", "enabled": False, "actions": ["QueryMessage"]},
            ],
        }
    )

    assert shown.splitlines() == [
        "account_id    1",
        "enabled       true",
        "callback_url  -",
        "",
        "keys:",
        "  access_key_id  enabled  actions",
        "  LTAI1          true     all",
        "  LTAI22         false    QueryMessage",
    ]
    assert render([]) == "(none)"


# -- messages list -------------------------------------------------------------------------------

SUMMER = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC).timestamp()
WINTER = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def messages(capsys: pytest.CaptureFixture[str], data_dir: Path) -> str:
    account_id = new_account(capsys, data_dir)

    async def insert() -> None:
        store = open_store(load_config(data_dir=data_dir, environ={}))
        await store.start()
        await store.insert_messages(
            [
                message(1001, account_id, created_at=WINTER, body="line one\nline two"),
                message(1002, account_id, created_at=SUMMER),
            ]
        )
        await store.close()

    asyncio.run(insert())
    return account_id


def test_messages_list_prints_iso_times_in_utc_and_in_the_chosen_zone(
    capsys: pytest.CaptureFixture[str], data_dir: Path, messages: str
) -> None:
    listed = json.loads(
        cli(capsys, data_dir, "messages", "list", messages, "--tz", "Europe/Paris", "--json")
    )
    table = cli(capsys, data_dir, "messages", "list", messages, "--tz", "Asia/Singapore")
    default = json.loads(cli(capsys, data_dir, "messages", "list", messages, "--json"))

    assert [(m["created_at"], m["created_local"]) for m in listed] == [
        ("2026-07-01T12:00:00Z", "2026-07-01T14:00:00+02:00"),
        ("2026-01-15T12:00:00Z", "2026-01-15T13:00:00+01:00"),
    ]
    header, *rows = table.splitlines()
    assert header.split() == [
        "message_id",
        "to",
        "from",
        "status",
        "error_code",
        "connector",
        "carrier_status",
        "segments",
        "price",
        "message",
        "created_at",
        "created_local",
    ]
    assert rows[0].split()[-2:] == ["2026-07-01T12:00:00Z", "2026-07-01T20:00:00+08:00"]
    assert "line one\\nline two" in rows[1]
    assert str(SUMMER) not in table
    assert [m["created_local"] for m in default] == ["2026-07-01T12:00:00Z", "2026-01-15T12:00:00Z"]


def test_an_unknown_time_zone_is_refused_by_name(
    capsys: pytest.CaptureFixture[str], data_dir: Path, messages: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["messages", "list", messages, "--tz", "Mars/Olympus", "--data-dir", str(data_dir)])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unknown time zone 'Mars/Olympus'" in err
    assert "IANA" in err


# -- --help --------------------------------------------------------------------------------------


def command_paths(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the command tree (argparse lists subcommands only in private fields)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_paths(sub, (*path, name))


PATHS = [path for path, _ in command_paths(_parser())]


def test_the_walk_finds_every_command() -> None:
    assert len(PATHS) > 40
    assert ("accounts", "create") in PATHS
    assert ("smpp", "remove") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "smsgate")
def test_every_help_ends_with_examples_that_parse(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out

    assert "example" in shown
    examples = shown.split("example:" if "example:" in shown else "examples:")[1]
    lines = [line.strip() for line in examples.strip().splitlines()]
    assert lines
    for line in lines:
        words = shlex.split(line)
        assert words[0] == "smsgate"
        if words[-1] != "--help":  # an example of asking for help
            parse_args(words[1:])  # exits (failing the test) if it does not parse
