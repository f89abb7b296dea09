"""The ceiling: a bare aiohttp endpoint that reads the request and answers a fixed OK body.

Run it, then point the load generator at it to see what the HTTP stack alone costs here:

    python bench/http_baseline_server.py 18090 &
    python bench/http_send.py --endpoint 127.0.0.1:18090 --key x --secret y
"""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web

BODY = b'{"RequestId":"X","ResponseCode":"OK","ResponseDescription":"OK","MessageId":"1"}'


async def handle(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/", handle)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
