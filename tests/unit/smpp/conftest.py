"""Fixtures of the SMPP unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.unit.smpp.outbox_kit import ManualTimers


@pytest.fixture
async def timers(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ManualTimers]:
    loop = asyncio.get_running_loop()
    manual = ManualTimers(loop)
    monkeypatch.setattr(loop, "call_later", manual.call_later)
    yield manual
    for _, handle, _, _ in manual.pending:
        handle.cancel()
