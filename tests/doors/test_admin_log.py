"""The admin API logs one ``admin.request`` line per call, without the operator token."""

from __future__ import annotations

import logging

import pytest

from smsgate.logs import JsonFormatter, TextFormatter
from tests.doors.test_admin_api import TOKEN, Admin, admin

__all__ = ["admin"]  # the fixture, used by name below


async def test_each_admin_call_is_one_line_without_the_token(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smsgate.doors.admin")

    created = await admin.new_account()
    refused = await admin.request("GET", "/admin/accounts", headers={"Authorization": "Bearer x"})

    assert refused.status == 401
    records = [r for r in caplog.records if r.getMessage() == "admin.request"]
    fields = [getattr(r, "smsgate_fields", {}) for r in records]
    assert [(f["method"], f["path"], f["status"]) for f in fields] == [
        ("POST", "/admin/accounts", 201),
        ("GET", "/admin/accounts", 401),
    ]
    assert all(isinstance(f["latency_ms"], float) for f in fields)
    for record in records:
        for line in (TextFormatter().format(record), JsonFormatter().format(record)):
            assert TOKEN not in line
            assert created["access_key_secret"] not in line
