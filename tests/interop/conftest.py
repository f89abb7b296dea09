"""Real smsgate server processes and the official Alibaba SDKs pointed at them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from aiohttp import web
from alibabacloud_dysmsapi20180501.client import Client as V3Client
from alibabacloud_tea_openapi import models as openapi_models
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(data_dir: Path, *args: str) -> dict[str, object] | list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "smsgate.cli", *args, "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@dataclass
class Account:
    account_id: str
    key_id: str
    secret: str


class ServerProcess:
    """``smsgate serve`` in a child process, on free ports, with its own data directory."""

    def __init__(
        self, data_dir: Path, config_text: str = "", extra_args: tuple[str, ...] = ()
    ) -> None:
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.port = free_port()
        self.smpp_port = free_port()
        self.config_path = data_dir.parent / f"{data_dir.name}.toml"
        self.config_path.write_text(config_text)
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait until it listens. A port that free_port() found free can be taken by
        another process before the server binds it (tests run beside other work): then the
        server starts again on other ports, a few times."""
        for _attempt in range(3):
            logged_before = self.log_path.stat().st_size if self.log_path.exists() else 0
            if self._start_once():
                return
            log = self.log_path.read_text()
            if "address already in use" not in log[logged_before:]:
                break
            self.port, self.smpp_port = free_port(), free_port()
        raise RuntimeError(f"smsgate did not start; see {self.log_path}:\n{log}")

    def _start_once(self) -> bool:
        with self.log_path.open("a") as log:
            self.proc = self._spawn(log)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on" in line:
                return True
        self.stop()
        return False

    def _spawn(self, log: IO[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smsgate.cli",
                "serve",
                "--config",
                str(self.config_path),
                "--data-dir",
                str(self.data_dir),
                "--http-port",
                str(self.port),
                "--smpp-port",
                str(self.smpp_port),
                *self.extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._release()

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._release()

    def _release(self) -> None:
        assert self.proc is not None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def init(self) -> None:
        """``smsgate init``: the data directory, before the server first starts."""
        run_cli(self.data_dir, "init")

    def create_account(self, name: str = "test", **options: str) -> Account:
        args = ["accounts", "create", "--name", name]
        options.setdefault("balance", "1000")  # 0.05 a segment by default
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", value]
        created = run_cli(self.data_dir, *args)
        assert isinstance(created, dict)
        return Account(
            str(created["account_id"]),
            str(created["access_key_id"]),
            str(created["access_key_secret"]),
        )

    def cli(self, *args: str) -> dict[str, object] | list[dict[str, object]]:
        return run_cli(self.data_dir, *args)


SIMULATOR_CONFIG = """
[simulator]
delay_ms = 20

[callbacks]
backoff_initial_s = 0.05
"""


def instant_server(factory: pytest.TempPathFactory, name: str) -> ServerProcess:
    """A started server that re-reads policy on every use, so that credentials and settings a
    test adds work at once (the default re-reads at most once a second)."""
    proc = ServerProcess(
        factory.mktemp(name) / "data", SIMULATOR_CONFIG + "\n[server]\nrefresh_s = 0\n"
    )
    proc.start()
    return proc


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("srv") / "data", SIMULATOR_CONFIG)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def account(server: ServerProcess) -> Account:
    return server.create_account()


def v3_client(server: ServerProcess, account: Account, secret: str | None = None) -> V3Client:
    config = openapi_models.Config(
        access_key_id=account.key_id,
        access_key_secret=secret or account.secret,
        endpoint=server.endpoint,
        protocol="http",
    )
    return V3Client(config)


def v1_request(
    server: ServerProcess, action: str, params: dict[str, str], method: str = "POST"
) -> CommonRequest:
    request = CommonRequest()
    request.set_domain(server.endpoint)
    request.set_protocol_type("http")
    request.set_method(method)
    request.set_version("2018-05-01")
    request.set_action_name(action)
    request.set_accept_format("json")
    for key, value in params.items():
        request.add_query_param(key, value)
    return request


def v1_client(account: Account, secret: str | None = None) -> AcsClient:
    return AcsClient(account.key_id, secret or account.secret, "ap-southeast-1")


def v1_call(
    server: ServerProcess,
    account: Account,
    action: str,
    params: dict[str, str],
    method: str = "POST",
) -> dict[str, object]:
    raw = v1_client(account).do_action_with_exception(v1_request(server, action, params, method))
    return json.loads(raw)  # type: ignore[no-any-return]


class PushReceiver:
    """An HTTP server in a thread taking POSTs to ``path`` with :meth:`_handle`; subclasses
    record what was pushed under ``_cond`` and notify it, so tests wait on the push itself."""

    path = "/"

    def __init__(self) -> None:
        self.port = free_port()
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._started = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> None:
        self._thread.start()
        assert self._started.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        raise NotImplementedError


class CallbackReceiver(PushReceiver):
    """Records receipt pushes, answering HTTP 500 to the first ``fail_next`` requests.

    Tests wait on it for the receipts they expect: the push is the event that says a message is
    final, so no test polls or sleeps.
    """

    path = "/receipts"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[list[dict[str, object]]] = []
        self.receipts: dict[str, dict[str, object]] = {}
        self.fail_next = 0  # answer HTTP 500 to this many requests first

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._cond:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.requests.append([])
                self._cond.notify_all()
                return web.Response(status=500)
            self.requests.append(body)
            for item in body:
                self.receipts[str(item["MessageId"])] = item
            self._cond.notify_all()
        return web.json_response({"code": 0, "msg": "ok"})

    def wait_for(self, message_ids: list[str], timeout_s: float = 20.0) -> list[dict[str, object]]:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: all(m in self.receipts for m in message_ids), timeout_s
            )
            missing = [m for m in message_ids if m not in self.receipts]
            assert ok, f"no receipt push for {len(missing)} messages, e.g. {missing[:3]}"
            return [self.receipts[m] for m in message_ids]

    def wait_requests(self, count: int, timeout_s: float = 20.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.requests) >= count, timeout_s)


@pytest.fixture
def cleanups() -> Iterator[list[Callable[[], object]]]:
    """How to end what a test starts (processes, clients), run in reverse order at its end
    whatever happens."""
    ends: list[Callable[[], object]] = []
    yield ends
    for end in reversed(ends):
        end()


@pytest.fixture(scope="session")
def receiver() -> Iterator[CallbackReceiver]:
    r = CallbackReceiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def pushed_account(server: ServerProcess, receiver: CallbackReceiver) -> Account:
    """An account whose receipts are pushed to the test's receiver."""
    return server.create_account(callback_url=receiver.url)
