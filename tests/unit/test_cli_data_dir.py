"""One data directory for every command: ``--data-dir``, then ``SMSGATE_DATA_DIR``, then the
configuration file (``--config``, then ``SMSGATE_CONFIG``), then ``./smsgate-data``.
Administration commands refuse a data directory that does not exist; ``smsgate init`` creates it.

The commands run in process through ``smsgate.cli.main`` against real SQLite files.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from smsgate.cli import main
from smsgate.config import ENV_CONFIG, ENV_DATA_DIR, ENV_REDIS_URL, ENV_STORE_URL, load_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own SMSGATE_* variables must not steer these tests."""
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(ENV_CONFIG, raising=False)
    monkeypatch.delenv(ENV_STORE_URL, raising=False)
    monkeypatch.delenv(ENV_REDIS_URL, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


# -- resolution order --------------------------------------------------------------------------


def test_data_dir_comes_from_the_flag_then_the_environment_then_the_file(tmp_path: Path) -> None:
    config_file = tmp_path / "smsgate.toml"
    config_file.write_text('[server]\ndata_dir = "from-file"\n')
    env = {ENV_DATA_DIR: "from-env"}

    flag = load_config(config_file, environ=env, data_dir=Path("from-flag"))
    from_env = load_config(config_file, environ=env)
    from_file = load_config(config_file, environ={})
    default = load_config(None, environ={})

    assert (flag.server.data_dir, flag.data_dir_source) == (Path("from-flag"), "--data-dir")
    assert (from_env.server.data_dir, from_env.data_dir_source) == (Path("from-env"), ENV_DATA_DIR)
    assert from_file.server.data_dir == Path("from-file")
    assert from_file.data_dir_source == f"[server] data_dir in {config_file}"
    assert (default.server.data_dir, default.data_dir_source) == (
        Path("smsgate-data"),
        "the default",
    )


def test_the_configuration_file_may_come_from_the_environment(tmp_path: Path) -> None:
    config_file = tmp_path / "smsgate.toml"
    config_file.write_text('[server]\ndata_dir = "from-file"\nhttp_port = 9123\n')
    other = tmp_path / "other.toml"
    other.write_text("[server]\nhttp_port = 9456\n")

    from_env = load_config(None, environ={ENV_CONFIG: str(config_file)})
    flag_wins = load_config(other, environ={ENV_CONFIG: str(config_file)})

    assert (from_env.server.data_dir, from_env.server.http_port) == (Path("from-file"), 9123)
    assert (flag_wins.server.data_dir, flag_wins.server.http_port) == (Path("smsgate-data"), 9456)


# -- administration commands never create a data directory -----------------------------------


def test_an_admin_command_refuses_a_missing_data_dir_and_says_how_to_create_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    status, out, err = run(capsys, "accounts", "create", "--name", "lost")

    missing = tmp_path / "smsgate-data"
    assert status == 2
    assert out == ""
    assert f"no data directory {missing} (from the default)" in err
    assert f"smsgate init --data-dir {missing}" in err
    assert "smsgate serve" in err
    assert not missing.exists()


def test_the_refusal_names_where_the_path_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "typo"))

    status, _out, err = run(capsys, "accounts", "list")

    assert status == 2
    assert f"no data directory {tmp_path / 'typo'} (from {ENV_DATA_DIR})" in err
    assert not (tmp_path / "typo").exists()


def test_init_creates_the_directory_key_token_and_database_then_nothing_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"

    first = run_json(capsys, "init", "--data-dir", str(data_dir))
    again = run_json(capsys, "init", "--data-dir", str(data_dir))

    assert first == {
        "data_dir": str(data_dir),
        "database": str(data_dir / "smsgate.db"),
        "master_key": str(data_dir / "master.key"),
        "admin_token": str(data_dir / "admin.token"),
        "created": ["data_dir", "database", "master_key", "admin_token"],
    }
    assert again == {**first, "created": "nothing: already initialised"}
    for secret in ("master.key", "admin.token"):
        assert stat.S_IMODE((data_dir / secret).stat().st_mode) == 0o600
    created = run_json(capsys, "accounts", "create", "--name", "demo", "--data-dir", str(data_dir))
    assert isinstance(created, dict)
    assert created["name"] == "demo"


def test_init_leaves_a_configured_admin_token_in_the_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "smsgate.toml"
    data_dir, token = tmp_path / "data", "t" * 20
    config_file.write_text(f'[server]\ndata_dir = "{data_dir}"\n[admin]\ntoken = "{token}"\n')

    done = run_json(capsys, "init", "--config", str(config_file))

    assert isinstance(done, dict)
    assert done["admin_token"] == "set in the configuration file"
    assert done["created"] == ["data_dir", "database", "master_key"]
    assert not (tmp_path / "data" / "admin.token").exists()


def test_every_command_finds_the_environments_data_dir_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    run_json(capsys, "init", "--data-dir", str(data_dir))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv(ENV_DATA_DIR, str(data_dir))

    created = run_json(capsys, "accounts", "create", "--name", "seen")
    listed = run_json(capsys, "accounts", "list", "--data-dir", str(data_dir))

    assert isinstance(created, dict)
    assert isinstance(listed, list)
    assert [a["account_id"] for a in listed] == [created["account_id"]]
    assert list(elsewhere.iterdir()) == []


def test_serve_with_several_workers_asks_for_the_shared_store_and_counters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run(capsys, "serve", "--workers", "2", "--data-dir", str(tmp_path))

    assert status == 2
    assert "--store postgresql://... and --redis redis://..." in err
    assert out == ""
