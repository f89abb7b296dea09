"""Several server processes on one machine: started, watched, restarted and stopped together.

One smsgate process is bound to one core by the GIL. ``smsgate serve --workers N`` runs N of them
behind the same HTTP and SMPP ports: every child opens its own listening sockets with
``SO_REUSEPORT``, and the kernel spreads new connections over them (one accept queue per
process, so no process wakes for a connection another takes). The supervisor itself serves
nothing; it keeps the children running:

- **Ports.** A port given as 0 ("any free port") is chosen once, here, by binding a
  ``SO_REUSEPORT`` socket that the supervisor keeps open without listening: every child then
  binds that same port, and no other program can take it while a child restarts.
- **Identity.** Child ``i`` gets ``node_id + i``: message ids carry the node id, and processes
  sharing one store must never issue the same id.
- **Failures.** A child that exits while the supervisor is not stopping is started again, after
  a pause that doubles from 0.5 s to 30 s while it keeps failing within a minute of its start,
  so that a child that cannot start does not spin.
- **Stopping.** SIGTERM or SIGINT to the supervisor goes to every child; each stops politely
  (doors first, work in flight finished). A child still running after ``stop_timeout_s`` is
  killed.

Nothing here knows what a child does: it is handed the command line of each, so that the same
code runs tests with small stand-in programs and production with ``smsgate serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["ChildSpec", "Supervisor", "reserve_port"]

log = logging.getLogger(__name__)

#: Restart pauses: the first, the longest, and how long a child must have run for its next
#: failure to start over from the first pause.
_FIRST_PAUSE_S = 0.5
_LONGEST_PAUSE_S = 30.0
_STABLE_S = 60.0


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """A bound, not listening, ``SO_REUSEPORT`` socket on ``host:port`` and its port number.

    Kept open by the supervisor for as long as it runs: children bind the same port with
    ``SO_REUSEPORT`` (the kernel lets processes of one user share it), and with port 0 this is
    how one free port is chosen for all of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reserved = socket.socket(family, socket.SOCK_STREAM)
    try:
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind((host, port))
    except OSError:
        reserved.close()
        raise
    return reserved, reserved.getsockname()[1]


@dataclass(slots=True)
class ChildSpec:
    """One child: its place (0..N-1) and how to start it."""

    index: int
    argv: Sequence[str]
    restarts: int = 0
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)


class Supervisor:
    """Runs ``count`` children made by ``command(index)`` until :meth:`stop`.

    ``on_line(index, line)`` sees every line a child writes to its standard output (the
    supervisor shows the first child's start-up lines); standard error is passed through.
    """

    def __init__(
        self,
        command: Callable[[int], Sequence[str]],
        count: int,
        *,
        on_line: Callable[[int, str], None] | None = None,
        stop_timeout_s: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a supervisor needs at least one child")
        self._children = [ChildSpec(i, list(command(i))) for i in range(count)]
        self._on_line = on_line
        self._stop_timeout_s = stop_timeout_s
        self._env = env
        self._stopping = asyncio.Event()
        self._watchers: list[asyncio.Task[None]] = []

    @property
    def children(self) -> list[ChildSpec]:
        return self._children

    async def run(self) -> None:
        """Start every child and keep them running until :meth:`stop`; returns once all exited."""
        self._watchers = [
            asyncio.create_task(self._keep_running(child), name=f"child-{child.index}")
            for child in self._children
        ]
        try:
            await self._stopping.wait()
        finally:
            await self._stop_children()
            for watcher in self._watchers:
                watcher.cancel()
            await asyncio.gather(*self._watchers, return_exceptions=True)

    def stop(self) -> None:
        """Ask every child to stop (SIGTERM) and :meth:`run` to return once they have."""
        self._stopping.set()

    async def _keep_running(self, child: ChildSpec) -> None:
        pause = _FIRST_PAUSE_S
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            started = loop.time()
            try:
                code = await self._run_once(child)
            except OSError as exc:  # the program cannot be started at all
                log.error("cannot start child %d: %s", child.index, exc)
                code = None
            if self._stopping.is_set():
                return
            if loop.time() - started >= _STABLE_S:
                pause = _FIRST_PAUSE_S
            log.error(
                "child %d exited (%s); starting it again in %.1f s",
                child.index,
                _describe(code),
                pause,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._stopping.wait()
            pause = min(pause * 2, _LONGEST_PAUSE_S)
            child.restarts += 1

    async def _run_once(self, child: ChildSpec) -> int:
        process = await asyncio.create_subprocess_exec(
            *child.argv,
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=self._env,
        )
        child.process = process
        assert process.stdout is not None
        async for raw in process.stdout:
            if self._on_line is not None:
                self._on_line(child.index, raw.decode(errors="replace").rstrip("\n"))
        return await process.wait()

    async def _stop_children(self) -> None:
        running = [
            c.process
            for c in self._children
            if c.process is not None and c.process.returncode is None
        ]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        waits = [asyncio.create_task(p.wait()) for p in running]
        if not waits:
            return
        _done, late = await asyncio.wait(waits, timeout=self._stop_timeout_s)
        for process in running:
            if _alive(process):
                log.error("child pid %d did not stop in time; killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        if late:
            await asyncio.gather(*late, return_exceptions=True)


def _alive(process: asyncio.subprocess.Process | None) -> bool:
    return process is not None and process.returncode is None


def _describe(code: int | None) -> str:
    if code is None:
        return "not started"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"status {code}"
