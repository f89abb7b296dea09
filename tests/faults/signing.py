"""Requests signed by the legacy Alibaba SDK's own V1 signer, sent with aiohttp.

The SDK's clients send one request at a time from a thread; the fault tests need many at once
(a burst right after a start) or the very same bytes twice (a replay), so they sign with the
SDK's signer and send the signed URLs themselves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import yarl
from aliyunsdkcore.auth.composer import rpc_signature_composer


def signed_url(
    action: str, params: Mapping[str, str], key_id: str, secret: str, method: str = "GET"
) -> str:
    """``/?query``, signed now with a fresh SignatureNonce, as ``aliyunsdkcore`` signs."""
    full = {"Version": "2018-05-01", "RegionId": "ap-southeast-1", "Action": action, **params}
    url, _ = rpc_signature_composer.get_signed_url(full, key_id, secret, "JSON", method, {})
    assert isinstance(url, str)
    return url


async def get_all(endpoint: str, urls: Sequence[str]) -> list[tuple[int, dict[str, Any]]]:
    """GET every URL at once (one connection each); (HTTP status, JSON body) in order."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> tuple[int, dict[str, Any]]:
            # encoded=True: the bytes the SDK signed go out as they are, not re-quoted.
            async with session.get(yarl.URL(f"http://{endpoint}{url}", encoded=True)) as response:
                return response.status, json.loads(await response.text())

        return list(await asyncio.gather(*(get(url) for url in urls)))
