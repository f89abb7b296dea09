"""``smsgate send`` and ``smsgate sign`` against a real server: the HTTP API without an SDK.

``send`` must print exactly what a client gets and go through the signed API as the account (the
official SDK then finds the message); a ``sign --curl`` URL fetched with a plain HTTP GET must be
answered like an SDK's request.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.interop.conftest import (
    SIMULATOR_CONFIG,
    Account,
    ServerProcess,
    free_port,
    v1_call,
)

pytestmark = pytest.mark.slow

SG = "6591234567"


def smsgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process, without the developer's SMSGATE_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "smsgate.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        check=False,
    )


def send(server: ServerProcess, *args: str, **env: str) -> tuple[int, dict[str, object]]:
    done = smsgate(
        "send", "--endpoint", server.endpoint, "--data-dir", str(server.data_dir), *args, env=env
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


# -- send ----------------------------------------------------------------------------------------


def test_send_prints_the_answer_and_the_message_is_the_accounts(
    server: ServerProcess, account: Account
) -> None:
    status, answer = send(
        server, "--account", account.account_id, "--to", SG, "--text", "hello", "--from", "Acme"
    )

    assert status == 0
    assert answer["ResponseCode"] == "OK"
    assert (answer["To"], answer["From"], answer["Segments"]) == (SG, "Acme", "1")
    found = v1_call(server, account, "QueryMessage", {"MessageId": str(answer["MessageId"])})
    assert (found["ResponseCode"], found["Message"], found["To"]) == ("OK", "hello", SG)


def test_send_shows_a_refusal_as_the_client_sees_it_and_fails(
    server: ServerProcess, account: Account
) -> None:
    status, answer = send(server, "--account", account.account_id, "--to", "659", "--text", "x")

    assert status == 1
    assert answer["ResponseCode"] == "isv.MOBILE_NUMBER_ILLEGAL"
    assert set(answer) >= {"RequestId", "ResponseCode", "ResponseDescription"}


def test_send_signs_with_a_key_from_the_flags_or_the_environment(
    server: ServerProcess, account: Account, tmp_path: Path
) -> None:
    nowhere = ("--data-dir", str(tmp_path / "absent"))  # the key alone is enough

    by_flags = send(
        server,
        *nowhere,
        "--access-key-id",
        account.key_id,
        "--access-key-secret",
        account.secret,
        "--to",
        SG,
        "--text",
        "flags",
    )
    by_env = send(
        server,
        *nowhere,
        "--to",
        SG,
        "--text",
        "env",
        SMSGATE_ACCESS_KEY_ID=account.key_id,
        SMSGATE_ACCESS_KEY_SECRET=account.secret,
    )
    wrong = send(
        server,
        "--access-key-id",
        account.key_id,
        "--access-key-secret",
        "not-the-secret",
        "--to",
        SG,
        "--text",
        "wrong",
    )

    assert [status for status, _ in (by_flags, by_env)] == [0, 0]
    assert [a["ResponseCode"] for _, a in (by_flags, by_env)] == ["OK", "OK"]
    assert wrong[0] == 1
    assert wrong[1]["Code"] == "SignatureDoesNotMatch"


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    """A server of its own and a configuration file pointing at its data directory and port."""
    proc = ServerProcess(tmp_path / "data", SIMULATOR_CONFIG)
    proc.start()
    config = tmp_path / "client.toml"
    config.write_text(f'[server]\ndata_dir = "{proc.data_dir}"\nhttp_port = {proc.port}\n')
    yield proc, config
    proc.stop()


def test_send_finds_the_server_and_the_only_account_from_the_configuration(
    fresh: tuple[ServerProcess, Path],
) -> None:
    proc, config = fresh
    none_yet = smsgate("send", "--config", str(config), "--to", SG, "--text", "hi")
    proc.create_account("only")

    done = smsgate("send", "--config", str(config), "--to", SG, "--text", "hi")
    proc.create_account("second")
    ambiguous = smsgate("send", "--config", str(config), "--to", SG, "--text", "hi")

    assert none_yet.returncode == 2
    assert "0 accounts in" in none_yet.stderr
    assert "smsgate accounts create" in none_yet.stderr
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ResponseCode"] == "OK"
    assert ambiguous.returncode == 2
    assert "2 accounts in" in ambiguous.stderr
    assert "--account ID" in ambiguous.stderr


def test_send_says_when_no_server_answers() -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    key = ("--access-key-id", "k", "--access-key-secret", "s")
    done = smsgate("send", "--endpoint", endpoint, *key, "--to", SG, "--text", "hi")

    assert done.returncode == 2
    assert f"cannot reach http://{endpoint}/" in done.stderr
    assert "is the server running" in done.stderr


# -- sign ----------------------------------------------------------------------------------------


def sign(server: ServerProcess, account: Account, *args: str) -> str:
    done = smsgate(
        "sign",
        *args,
        "--endpoint",
        f"http://{server.endpoint}",
        "--data-dir",
        str(server.data_dir),
        "--account",
        account.account_id,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_signed_curl_command_fetched_with_a_get_is_answered_like_an_sdk_request(
    server: ServerProcess, account: Account
) -> None:
    command = shlex.split(
        sign(server, account, "SendMessageToGlobe", f"To={SG}", "Message=a b&c", "--curl")
    )
    assert command[:2] == ["curl", "-sS"]
    assert len(command) == 3

    status, sent = get(command[2])

    assert status == 200
    assert sent["ResponseCode"] == "OK"
    query = sign(server, account, "QueryMessage", f"MessageId={sent['MessageId']}")
    found = get(query)[1]
    assert (found["ResponseCode"], found["Message"]) == ("OK", "a b&c")


def test_a_signed_url_works_once_and_for_any_version(
    server: ServerProcess, account: Account
) -> None:
    today = datetime.now(UTC).strftime("%Y%m%d")
    url = sign(
        server,
        account,
        "QuerySendDetails",
        "--version",
        "2017-05-25",
        f"PhoneNumber={SG}",
        f"SendDate={today}",
        "PageSize=10",
        "CurrentPage=1",
    )

    first = get(url)
    replayed = get(url)

    assert first[0] == 200
    assert first[1]["Code"] == "OK"
    assert replayed[0] == 400
    assert replayed[1]["Code"] == "SignatureNonceUsed"


def test_sign_refuses_a_parameter_without_a_value_and_half_a_key() -> None:
    half_key = smsgate("sign", "QueryMessage", "MessageId=1", "--access-key-id", "k")
    bad_pair = smsgate(
        "sign", "QueryMessage", "MessageId", "--access-key-id", "k", "--access-key-secret", "s"
    )

    assert half_key.returncode == 2
    assert "--access-key-id and --access-key-secret go together" in half_key.stderr
    assert bad_pair.returncode == 2
    assert "parameters are Name=Value, not 'MessageId'" in bad_pair.stderr
