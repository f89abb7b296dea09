"""A burst of sends right after a start is decided on the operator's policy, never on defaults.

Clients that retry after a crash arrive together the moment the port opens. Before the fix the
policy cache moved its next-refresh time forward before its first read of the store had
finished, so every request but the first that arrived meanwhile was judged on empty defaults:
blocked keywords, RAM deny policies, country restrictions, prices and per-number caps skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from smsgate import errors
from tests.interop.conftest import Account, ServerProcess

from .signing import get_all, signed_url

pytestmark = pytest.mark.slow

BURST = 64
GROUP = BURST // 4
#: The server's default refresh interval: the first burst falls within one refresh.
CONFIG = "[simulator]\ndelay_ms = 20\n"
DENY_SEND = {
    "Version": "1",
    "Statement": [{"Effect": "Deny", "Action": "dysms:SendMessageToGlobe", "Resource": "*"}],
}


def test_a_burst_right_after_start_obeys_every_rule(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", CONFIG)
    # Policy written with the CLI before the server exists, as an operator sets a platform up.
    server.init()
    keyword = server.create_account("keyword")
    denied = server.create_account("denied")
    foreign = server.create_account("foreign")
    capped = server.create_account("capped", balance="10")
    server.cli("keywords", "add", "forbidden")
    prices = {"default": "0.01", "countries": {"SG": {"price": "0.2"}}}
    server.cli("policy", "set", "prices", json.dumps(prices))
    server.cli("policy", "set", "countries", '{"allowed": ["SG"]}')
    server.cli("policy", "set", f"key:{denied.key_id}", json.dumps(DENY_SEND))
    server.cli("settings", capped.account_id, "--limits", '{"per_number_per_day": 2}')

    # Signed before the start, so that the burst leaves the moment the port is open.
    def send(account: Account, to: str, text: str) -> str:
        params = {"To": to, "Message": text}
        return signed_url("SendMessageToGlobe", params, account.key_id, account.secret)

    urls = (
        [send(keyword, f"6591230{i:03d}", f"a forbidden offer {i}") for i in range(GROUP)]
        + [send(denied, f"6591231{i:03d}", f"hello {i}") for i in range(GROUP)]
        + [send(foreign, f"60123456{i:03d}", f"hello {i}") for i in range(GROUP)]
        + [send(capped, "6591232000", f"hello {i}") for i in range(GROUP)]
    )
    server.start()
    try:
        answers = asyncio.run(get_all(server.endpoint, urls))
        assert all(status == 200 for status, _ in answers), answers
        codes = [body["ResponseCode"] for _, body in answers]
        assert codes[:GROUP] == [errors.BLACK_KEY_CONTROL_LIMIT.code] * GROUP
        assert codes[GROUP : 2 * GROUP] == [errors.RAM_PERMISSION_DENY.code] * GROUP
        assert codes[2 * GROUP : 3 * GROUP] == [errors.NOT_SUPPORTED_COUNTRY.code] * GROUP
        assert Counter(codes[3 * GROUP :]) == {
            "OK": 2,
            errors.BUSINESS_LIMIT_CONTROL_PHONE.code: GROUP - 2,
        }
        # Charged the configured price (0.2 a segment), not the default one.
        balances = {}
        for account in (keyword, denied, foreign, capped):
            shown = server.cli("accounts", "show", account.account_id)
            assert isinstance(shown, dict)
            balances[account.account_id] = shown["balance"]
        assert balances == {
            keyword.account_id: "1000",
            denied.account_id: "1000",
            foreign.account_id: "1000",
            capped.account_id: "9.6",
        }
    finally:
        server.stop()
