"""A store fault is the catalog's isp.SYSTEM_ERROR (46), its cause logged once per run of failures
of an operation; anything else passes through untouched."""

from __future__ import annotations

import logging

import pytest

from smsgate import errors
from smsgate.errors import SmsError
from smsgate.logs import FIELDS_ATTR
from smsgate.ports.store import StoreError
from smsgate.service.store_faults import StoreFaults

log = logging.getLogger("tests.store_faults")


def _fail(faults: StoreFaults, operation: str) -> SmsError:
    with pytest.raises(SmsError) as caught, faults.translated(operation):
        raise StoreError("OperationalError: database or disk is full")
    return caught.value


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, object]]]:
    return [(r.getMessage(), getattr(r, FIELDS_ATTR)) for r in caplog.records]


def test_a_store_error_becomes_the_cores_system_error() -> None:
    refusal = _fail(StoreFaults(log), "store messages")

    assert refusal.result is errors.SYSTEM_ERROR
    assert refusal.result.smpp_status == 46  # the core's row, not the access layer's 21
    assert refusal.detail == "the store failed to store messages"
    assert isinstance(refusal.__cause__, StoreError)


def test_other_exceptions_pass_unchanged() -> None:
    faults = StoreFaults(log)
    refusal = SmsError(errors.DATA_NOT_EXIST)
    with pytest.raises(SmsError) as caught, faults.translated("read a message"):
        raise refusal
    assert caught.value is refusal
    with pytest.raises(ValueError, match="a bug"), faults.translated("read a message"):
        raise ValueError("a bug")


def test_each_run_of_failures_is_logged_once_by_operation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    faults = StoreFaults(log)
    cause = "OperationalError: database or disk is full"
    with caplog.at_level(logging.INFO, logger=log.name):
        for _ in range(3):
            _fail(faults, "store messages")
        with faults.translated("read a message"):  # reads work while writes fail
            pass
        _fail(faults, "read a message")
        with faults.translated("store messages"):
            pass
        with faults.translated("store messages"):
            pass
        _fail(faults, "store messages")

    assert _lines(caplog) == [
        ("store.failed", {"operation": "store messages", "error": cause}),
        ("store.failed", {"operation": "read a message", "error": cause}),
        ("store.recovered", {"operation": "store messages", "failed": 3}),
        ("store.failed", {"operation": "store messages", "error": cause}),
    ]
