"""``GET /health``: 200 ``{"status": "ok"}`` while the server can serve, else 503 ``{"status":
"not ready", "problems": [...]}`` naming each problem (a full disk, ...), so that a load balancer
stops sending traffic and an operator sees why without reading the log."""

from __future__ import annotations

from aiohttp import web

from smsgate.service.health import Readiness

__all__ = ["register"]


def register(app: web.Application, readiness: Readiness) -> None:
    async def health(_request: web.Request) -> web.Response:
        return web.json_response(readiness.view(), status=200 if readiness.ready else 503)

    app.router.add_get("/health", health)
