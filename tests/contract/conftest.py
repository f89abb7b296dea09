"""Shared builders for the store contract suite: small records with sensible defaults."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.storage.memory import MemoryStore
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.domain.models import (
    AccessKey,
    Account,
    AccountState,
    Message,
    Template,
    TemplateStatus,
)
from smsgate.ports.store import Store
from tests import builders


def _account(account_id: str = "acc-1", **changes: Any) -> Account:
    account = Account(
        id=account_id,
        name=f"Account {account_id}",
        state=AccountState.NORMAL,
        balance_micros=0,
        callback_url=None,
        created_at=1_700_000_000.0,
    )
    return replace(account, **changes)


def _key(key_id: str = "LTAIkey1", account_id: str = "acc-1", **changes: Any) -> AccessKey:
    key = AccessKey(
        id=key_id,
        account_id=account_id,
        secret=f"secret-of-{key_id}",
        enabled=True,
        allowed_actions=None,
        created_at=1_700_000_000.5,
    )
    return replace(key, **changes)


_message = builders.message


def _template(code: str = "SMS_100001", account_id: str = "acc-1", **changes: Any) -> Template:
    template = Template(
        account_id=account_id,
        code=code,
        content="Your code is ${code}",
        template_type="verification",
        status=TemplateStatus.APPROVED,
        created_at=1_700_000_000.0,
    )
    return replace(template, **changes)


# Builders as fixtures (test modules cannot import conftest): each returns a record with sensible
# defaults, changed by keyword arguments, e.g. ``make_message(7, status=MessageStatus.FAILED)``.


@pytest.fixture
def make_account() -> Callable[..., Account]:
    return _account


@pytest.fixture
def make_key() -> Callable[..., AccessKey]:
    return _key


@pytest.fixture
def make_message() -> Callable[..., Message]:
    return _message


@pytest.fixture
def make_template() -> Callable[..., Template]:
    return _template


@pytest.fixture
def open_account() -> Callable[..., Awaitable[None]]:
    """Create an account with one key named ``key-<account id>``:
    ``await open_account(store, "acc-2", balance_micros=100)``."""

    async def open_(store: Store, account_id: str = "acc-1", **changes: Any) -> None:
        await store.create_account(
            _account(account_id, **changes), _key(f"key-{account_id}", account_id)
        )

    return open_


@pytest.fixture
def secret_box() -> SecretBox:
    return SecretBox(secrets.token_bytes(32))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "smsgate.db"


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(
    request: pytest.FixtureRequest, db_path: Path, secret_box: SecretBox
) -> Callable[[], Store]:
    """Builds unstarted stores of one kind; sqlite ones all share one file (to test reopening).

    The return type also has mypy check that both adapters satisfy the Store protocol."""
    if request.param == "memory":
        return MemoryStore
    return lambda: SqliteStore(db_path, secret_box)


@pytest.fixture
async def store(store_factory: Callable[[], Store]) -> AsyncIterator[Store]:
    started = store_factory()
    await started.start()
    yield started
    await started.close()


@pytest.fixture
async def sqlite_store(db_path: Path, secret_box: SecretBox) -> AsyncIterator[SqliteStore]:
    started = SqliteStore(db_path, secret_box)
    await started.start()
    yield started
    await started.close()
