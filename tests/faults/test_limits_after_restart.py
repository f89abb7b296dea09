"""Per-number limits hold across a restart of an embedded server (clean or kill -9): the limiter
is seeded with the messages of the windows still open, so a second verification code to a
number within the minute is refused after the restart as it would have been before it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smsgate import errors
from tests.interop.conftest import ServerProcess

from .signing import get_all, signed_url

pytestmark = pytest.mark.slow

CONFIG = "[simulator]\ndelay_ms = 20\n"


def send_code(server: ServerProcess, key_id: str, secret: str, to: str) -> str:
    url = signed_url(
        "SendMessageToGlobe",
        {"To": to, "Message": "Your code is 1234", "Type": "OTP"},
        key_id,
        secret,
    )
    ((_status, body),) = asyncio.run(get_all(server.endpoint, [url]))
    return str(body["ResponseCode"])


@pytest.mark.parametrize("restart", ["stop", "kill -9"])
def test_the_minute_limit_of_a_number_survives_a_restart(tmp_path: Path, restart: str) -> None:
    server = ServerProcess(tmp_path / "data", CONFIG)
    server.start()
    try:
        account = server.create_account("otp", balance="10")
        assert send_code(server, account.key_id, account.secret, "6591234567") == errors.OK.code

        if restart == "stop":
            server.stop()
        else:
            server.kill()
        server.start()

        assert (
            send_code(server, account.key_id, account.secret, "6591234567")
            == errors.BUSINESS_LIMIT_CONTROL_MINUTE.code
        )
        assert send_code(server, account.key_id, account.secret, "6591234568") == errors.OK.code
    finally:
        server.stop()
