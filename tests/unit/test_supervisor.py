"""The supervisor of ``serve --workers``: real child processes started, restarted and stopped."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable, Sequence

import pytest

from smsgate.supervisor import Supervisor, reserve_port

WAIT_S = 20.0


def python(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


class Lines:
    """What the children print, and a way to wait for a line."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, index: int, line: str) -> None:
        self.seen.append((index, line))
        self._changed.set()

    async def wait_for(self, test: Callable[[list[tuple[int, str]]], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not test(self.seen):
                self._changed.clear()
                await self._changed.wait()


async def run_until(
    supervisor: Supervisor, lines: Lines, test: Callable[[list[tuple[int, str]]], bool]
) -> None:
    """Run ``supervisor`` until its children printed what ``test`` waits for, then stop it."""
    running = asyncio.create_task(supervisor.run())
    try:
        await lines.wait_for(test)
    finally:
        supervisor.stop()
        async with asyncio.timeout(WAIT_S):
            await running


def started(count: int) -> Callable[[list[tuple[int, str]]], bool]:
    return lambda seen: len({i for i, line in seen if line.startswith("pid ")}) >= count


def pids(seen: Sequence[tuple[int, str]]) -> list[int]:
    return [int(line.split()[1]) for _, line in seen if line.startswith("pid ")]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


SERVES = "import os, signal, time; print('pid', os.getpid(), flush=True); time.sleep(600)"


async def test_every_child_runs_and_all_stop_with_the_supervisor() -> None:
    lines = Lines()
    supervisor = Supervisor(lambda i: python(SERVES + f"  # child {i}"), 3, on_line=lines)

    await run_until(supervisor, lines, started(3))

    assert sorted(i for i, _ in lines.seen) == [0, 1, 2]
    assert all(gone(pid) for pid in pids(lines.seen))  # SIGTERM ended each one
    assert [c.restarts for c in supervisor.children] == [0, 0, 0]


async def test_a_child_that_exits_is_started_again() -> None:
    lines = Lines()
    # Each start prints its pid, then the first of them exits at once with status 3.
    code = "import os, sys, time; print('pid', os.getpid(), flush=True); sys.exit(3)"
    supervisor = Supervisor(lambda i: python(code), 1, on_line=lines)

    await run_until(supervisor, lines, lambda seen: len(pids(seen)) >= 2)

    first, second = pids(lines.seen)[:2]
    assert first != second
    assert supervisor.children[0].restarts >= 1


async def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    lines = Lines()
    code = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('pid', os.getpid(), flush=True); time.sleep(600)"
    )
    supervisor = Supervisor(lambda i: python(code), 1, on_line=lines, stop_timeout_s=0.3)

    await run_until(supervisor, lines, started(1))

    (pid,) = pids(lines.seen)
    assert gone(pid)


async def test_a_program_that_cannot_be_started_does_not_stop_the_supervisor() -> None:
    lines = Lines()
    commands = {0: ["/nonexistent/smsgate-child"], 1: python(SERVES)}
    supervisor = Supervisor(lambda i: commands[i], 2, on_line=lines)

    await run_until(supervisor, lines, started(1))

    assert [i for i, _ in lines.seen] == [1]


def test_a_reserved_port_is_shared_by_every_listener_and_taken_from_others() -> None:
    reserved, port = reserve_port("127.0.0.1", 0)
    listeners = []
    try:
        for _ in range(2):  # as two children do
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen()
            listeners.append(listener)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # one of them accepts
        stranger = socket.socket()  # a program that does not share the port
        with stranger, pytest.raises(OSError, match="in use"):
            stranger.bind(("127.0.0.1", port))
    finally:
        for listener in listeners:
            listener.close()
        reserved.close()


def test_a_supervisor_needs_a_child() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Supervisor(lambda i: python(SERVES), 0)
