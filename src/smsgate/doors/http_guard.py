"""Connection limits for the HTTP port: what keeps idle, slow and greedy clients from taking it.

aiohttp closes a connection that has been idle for ``keepalive_timeout`` seconds *only* while it
waits for a request, and that clock starts when the connection opens: set low, it also ends a
client that trickles its request headers (nothing is parsed until they are complete), so one
setting bounds both idle keep-alive connections and slow headers. What aiohttp has no setting for
is the *number* of connections: with the default open-file limit of 1,024, 1,100 idle connections
left no descriptor for legitimate clients. :class:`ConnectionGate` wraps aiohttp's protocol
factory and refuses a connection beyond the configured total or per-peer cap at once, with a short
``503 ServiceUnavailable`` in Alibaba's error shape, before any of its bytes are parsed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

from smsgate import errors
from smsgate.doors.aliyun import render
from smsgate.logs import log_event

__all__ = ["ConnectionGate", "GatedTCPSite", "raise_open_file_limit"]

log = logging.getLogger(__name__)

#: Descriptors kept free for the store, the SMPP door and outgoing callbacks.
_RESERVED_DESCRIPTORS = 256


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one (what servers do), and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # a container may refuse; keep what we have
            pass
    return int(soft)


def _refusal(host: str) -> bytes:
    code = errors.SERVICE_UNAVAILABLE
    message = f"{code.message} Too many connections; retry later."
    body = json.dumps(render.error_body(render.new_request_id(), host, code, message)).encode()
    head = (
        f"HTTP/1.1 {code.http_status} Service Unavailable\r\n"
        "Content-Type: application/json;charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


class ConnectionGate:
    """Counts open connections in all and per peer address, and refuses those over the caps."""

    def __init__(
        self, inner: Callable[[], asyncio.Protocol], max_total: int, max_per_peer: int
    ) -> None:
        self._inner = inner
        self.max_total = max_total
        self.max_per_peer = max_per_peer
        self.open = 0
        self._per_peer: dict[str, int] = {}
        self.refused = 0

    def __call__(self) -> asyncio.Protocol:
        return _GatedProtocol(self, self._inner())

    def admit(self, peer: str) -> bool:
        held = self._per_peer.get(peer, 0)
        if self.open >= self.max_total or held >= self.max_per_peer:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log_event(
                    log,
                    logging.WARNING,
                    "http.connection_refused",
                    peer=peer,
                    open=self.open,
                    peer_open=held,
                    refused_so_far=self.refused,
                )
            return False
        self.open += 1
        self._per_peer[peer] = held + 1
        return True

    def release(self, peer: str) -> None:
        self.open -= 1
        held = self._per_peer[peer] - 1
        if held:
            self._per_peer[peer] = held
        else:
            del self._per_peer[peer]


class _GatedProtocol(asyncio.Protocol):
    """Hands every event to aiohttp's protocol once the gate has admitted the connection."""

    __slots__ = ("_admitted", "_gate", "_inner", "_peer")

    def __init__(self, gate: ConnectionGate, inner: asyncio.Protocol) -> None:
        self._gate = gate
        self._inner = inner
        self._peer = ""
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peername: Any = transport.get_extra_info("peername")
        self._peer = str(peername[0]) if isinstance(peername, tuple) and peername else "?"
        if not self._gate.admit(self._peer):
            writer = cast(asyncio.Transport, transport)  # uvloop's is no asyncio subclass
            sockname: Any = transport.get_extra_info("sockname")
            host = str(sockname[0]) if isinstance(sockname, tuple) and sockname else ""
            writer.write(_refusal(host))
            writer.close()
            return
        self._admitted = True
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self._gate.release(self._peer)
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._admitted:
            return self._inner.eof_received()
        return None

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


class GatedTCPSite(web.TCPSite):
    """aiohttp's TCP site with a :class:`ConnectionGate` in front of its protocol factory."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        max_connections_per_peer: int,
        shutdown_timeout: float,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, host, port, shutdown_timeout=shutdown_timeout, backlog=1024)
        self._limits = (max_connections, max_connections_per_peer)
        self._share_port = reuse_port  # several processes behind one port (serve --workers)
        self.gate: ConnectionGate | None = None

    async def start(self) -> None:
        # BaseSite.start registers the site with its runner; TCPSite.start would then open the
        # listener with aiohttp's bare factory, so the listener is opened here instead.
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        max_total, max_per_peer = self._limits
        self.gate = ConnectionGate(server, max_total, max_per_peer)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.gate,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_port=self._share_port or None,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
