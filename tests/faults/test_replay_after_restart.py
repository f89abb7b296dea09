"""A captured signed request is refused after a restart, as it is before one.

Signatures stay valid for the whole 15-minute timestamp window; before the fix the nonces that
refuse a replay lived only in memory, so the same bytes sent again after a restart (clean or
kill -9) sent and charged a second message.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smsgate import errors
from tests.interop.conftest import ServerProcess

from .signing import get_all, signed_url

pytestmark = pytest.mark.slow

CONFIG = "[simulator]\ndelay_ms = 20\n"


@pytest.mark.parametrize("restart", ["stop", "kill -9"])
def test_a_request_sent_before_a_restart_is_refused_after_it(tmp_path: Path, restart: str) -> None:
    server = ServerProcess(tmp_path / "data", CONFIG)
    server.start()
    try:
        account = server.create_account("replayed", balance="10")
        captured = signed_url(
            "SendMessageToGlobe",
            {"To": "6591234567", "Message": "pay 100 to Bob"},
            account.key_id,
            account.secret,
        )
        ((status, body),) = asyncio.run(get_all(server.endpoint, [captured]))
        assert (status, body["ResponseCode"]) == (200, "OK")

        if restart == "stop":
            server.stop()
        else:
            server.kill()  # right after the answer: nothing is flushed on the way out
        server.start()

        ((status, body),) = asyncio.run(get_all(server.endpoint, [captured]))
        assert (status, body["Code"]) == (
            errors.SIGNATURE_NONCE_USED.http_status,
            errors.SIGNATURE_NONCE_USED.code,
        )
        messages = server.cli("messages", "list", account.account_id)
        assert isinstance(messages, list)
        assert len(messages) == 1  # sent once
        shown = server.cli("accounts", "show", account.account_id)
        assert isinstance(shown, dict)
        assert shown["balance"] == "9.95"  # charged once (0.05 a segment by default)

        # A fresh signature of the same call is not a replay.
        fresh = signed_url(
            "SendMessageToGlobe",
            {"To": "6591234567", "Message": "pay 100 to Bob"},
            account.key_id,
            account.secret,
        )
        ((status, body),) = asyncio.run(get_all(server.endpoint, [fresh]))
        assert (status, body["ResponseCode"]) == (200, "OK")
    finally:
        server.stop()
