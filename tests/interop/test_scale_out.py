"""Several processes on PostgreSQL and Redis: two API processes and two delivery workers (each
pair under ``serve --workers 2``), loaded through the official SDK, one API process and one
worker killed with SIGKILL mid-flight. Every acknowledged message reaches a final state, the
killed processes are started again by their supervisor, and the balance is what the stored
messages cost, to the micro."""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg
import pytest
from alibabacloud_dysmsapi20180501 import models
from redis.asyncio import Redis

from smsgate.config import ENV_REDIS_URL, ENV_STORE_URL
from tests.services import delete_redis_keys, fresh_postgres_database, redis_url

from .conftest import (
    Account,
    CallbackReceiver,
    ServerProcess,
    free_port,
    run_cli,
    v3_client,
)

START_S = 60.0
#: A carrier slow enough that messages are in flight when the worker is killed.
CONFIG = """
[simulator]
delay_ms = 300

[callbacks]
backoff_initial_s = 0.05
"""


@dataclass
class Supervised:
    """``smsgate serve --workers 2 --role ROLE``, and what its children printed."""

    role: str
    proc: subprocess.Popen[str]
    log: IO[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Condition = field(default_factory=threading.Condition)

    def follow(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.ready:
                self.lines.append(line.rstrip("\n"))
                self.ready.notify_all()

    def wait_ready(self, count: int) -> None:
        """Until ``count`` child starts said they are ready (restarts count too)."""
        with self.ready:
            done = self.ready.wait_for(
                lambda: sum(f"ready (role {self.role})" in line for line in self.lines) >= count,
                START_S,
            )
        assert done, "\n".join(self.lines)

    def children(self) -> list[int]:
        return _children(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.log.close()

    def start_following(self) -> None:
        self._reader = threading.Thread(target=self.follow, daemon=True)
        self._reader.start()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc: no library needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A fresh database and a Redis prefix of the test's own, named to every process."""
    prefix = f"smsgate-test:{secrets.token_hex(6)}:"
    with fresh_postgres_database() as store_url:
        monkeypatch.setenv(ENV_STORE_URL, store_url)
        monkeypatch.setenv(ENV_REDIS_URL, redis_url())
        yield store_url, prefix
        asyncio.run(_delete_keys(prefix))


async def _delete_keys(prefix: str) -> None:
    async with Redis.from_url(redis_url()) as client:
        await delete_redis_keys(client, prefix)


def _supervise(data_dir: Path, config: Path, role: str, node_id: int, http_port: int) -> Supervised:
    log = (data_dir.parent / f"{role}.log").open("a")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smsgate.cli",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "--workers",
            "2",
            "--role",
            role,
            "--node-id",
            str(node_id),
            "--http-port",
            str(http_port),
            "--smpp-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    supervised = Supervised(role, proc, log)
    supervised.start_following()
    return supervised


def _node_of(pid: int) -> int:
    """The node id a server process was given (the last --node-id of its command line)."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return int(args[len(args) - 1 - args[::-1].index(b"--node-id") + 1])


async def _node_with_messages_in_flight(store_url: str) -> int:
    """A worker node whose carrier holds messages awaiting their receipt, once there is one."""
    conn = await asyncpg.connect(store_url)
    try:
        async with asyncio.timeout(START_S):
            while True:
                # The simulator answers with the receipt alone: what it holds stays queued,
                # claimed by the worker that handed it over.
                node = await conn.fetchval(
                    "SELECT work_node FROM messages WHERE status = 'accepted' "
                    "AND work_claimed_until IS NOT NULL "
                    "GROUP BY work_node ORDER BY count(*) DESC LIMIT 1"
                )
                if node is not None:
                    return int(node)
                await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def _stored(store_url: str, account_id: str) -> tuple[int, int, dict[str, str]]:
    """The account's stored messages: how many, what they cost, and each one's state."""
    conn = await asyncpg.connect(store_url)
    try:
        rows = await conn.fetch(
            "SELECT id, status, price_micros FROM messages WHERE account_id = $1", account_id
        )
        balance = await conn.fetchval(
            "SELECT balance_micros FROM balances WHERE account_id = $1", account_id
        )
    finally:
        await conn.close()
    states = {str(r["id"]): str(r["status"]) for r in rows}
    return int(balance), sum(int(r["price_micros"]) for r in rows), states


def test_two_api_processes_and_two_workers_survive_a_sigkill_each(
    tmp_path: Path, shared: tuple[str, str], receiver: CallbackReceiver
) -> None:
    store_url, prefix = shared
    data_dir = tmp_path / "data"
    config = tmp_path / "smsgate.toml"
    config.write_text(CONFIG + f'\n[redis]\nprefix = "{prefix}"\n')
    initial = 1000_000_000  # 1,000.00 in micros
    run_cli(data_dir, "init")  # the master key (kept in the data directory) and the schema
    created = run_cli(
        data_dir,
        "accounts",
        "create",
        "--name",
        "scale",
        "--balance",
        "1000",
        "--callback-url",
        receiver.url,
    )
    assert isinstance(created, dict)
    account_id = str(created["account_id"])

    http_port = free_port()
    api = _supervise(data_dir, config, "api", 0, http_port)
    workers = _supervise(data_dir, config, "worker", 10, free_port())
    try:
        api.wait_ready(2)
        workers.wait_ready(2)
        endpoint = ServerProcess(data_dir)  # only for its endpoint's shape
        endpoint.port = http_port

        acknowledged: list[str] = []
        lock = threading.Lock()
        sent_enough = threading.Event()

        def send(thread: int) -> None:
            client = v3_client(endpoint, _account(created))
            for i in range(60):
                number = f"6591{thread:02d}{i:04d}"
                try:
                    body = client.send_message_to_globe(
                        models.SendMessageToGlobeRequest(to=number, message=f"m{thread}-{i}")
                    ).body
                except Exception:
                    client = v3_client(endpoint, _account(created))
                    continue
                if body.response_code == "OK":
                    with lock:
                        acknowledged.append(str(body.message_id))
                        if len(acknowledged) >= 150:
                            sent_enough.set()

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, t) for t in range(8)]
            assert sent_enough.wait(START_S)
            # The worker killed holds messages its carrier took and has not answered yet.
            node = asyncio.run(_node_with_messages_in_flight(store_url))
            killed_api = api.children()[0]
            (killed_worker,) = [p for p in workers.children() if _node_of(p) == node]
            for pid in (killed_api, killed_worker):
                subprocess.run(["kill", "-KILL", str(pid)], check=True)
            for future in futures:
                future.result()

        assert len(acknowledged) >= 300
        # Well within the claims' lease (120 s): the restarted node took its own back at once.
        pushes = receiver.wait_for(acknowledged, timeout_s=60)
        assert {p["MessageId"] for p in pushes} == set(acknowledged)
        assert all(p["Status"] == 1 for p in pushes)  # delivered: the default rule

        api.wait_ready(3)  # the killed ones came back
        workers.wait_ready(3)
        assert killed_api not in api.children()
        assert len(api.children()) == 2
        assert len(workers.children()) == 2

        balance, spent, states = asyncio.run(_stored(store_url, account_id))
        assert set(acknowledged) <= set(states)  # nothing acknowledged is missing
        assert all(states[m] == "delivered" for m in acknowledged)
        assert balance == initial - spent  # to the micro, whatever the kills cut short
    finally:
        api.stop()
        workers.stop()
    assert _children(api.proc.pid) == []
    assert _children(workers.proc.pid) == []


def _account(created: dict[str, object]) -> Account:
    return Account(
        str(created["account_id"]),
        str(created["access_key_id"]),
        str(created["access_key_secret"]),
    )
