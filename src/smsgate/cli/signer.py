"""The client side of a V1 (HMAC-SHA1) request, as ``aliyun-python-sdk-core`` signs it.

``smsgate send`` and ``smsgate sign`` go through the same signed HTTP API as any SDK, so that what
they print is what a client sees. The server's side (``doors/aliyun/signature.py``) verifies; this
module signs, written from the SDK's rules rather than shared with the verifier, so that the two
check each other. Pure: the time and the nonce are passed in.
"""

from __future__ import annotations

import base64
import hmac
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

__all__ = ["DEFAULT_VERSION", "curl_command", "query_string", "sign_v1"]

#: The international API's version; ``QuerySendDetails`` is ``2017-05-25``.
DEFAULT_VERSION = "2018-05-01"


def _pct(text: str) -> str:
    """RFC 3986 percent-encoding of UTF-8, as the SDK does (space is %20, ``~`` is kept)."""
    return quote(text, safe="~")


def query_string(params: Mapping[str, str]) -> str:
    """``k=v&...`` percent-encoded, sorted by key: the V1 canonical form, and a valid query."""
    return "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(params.items()))


def sign_v1(
    method: str,
    params: Mapping[str, str],
    access_key_id: str,
    secret: str,
    *,
    now: datetime,
    nonce: str,
) -> dict[str, str]:
    """``params`` (``Action``, ``Version`` and the action's own) with the V1 signing parameters
    and ``Signature`` added: ready to send as a query or a form body with ``method``."""
    signed = {
        "Format": "JSON",
        **params,
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce,
        "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    string_to_sign = f"{method.upper()}&{_pct('/')}&{_pct(query_string(signed))}"
    digest = hmac.digest((secret + "&").encode(), string_to_sign.encode(), "sha1")
    signed["Signature"] = base64.b64encode(digest).decode("ascii")
    return signed


def curl_command(url: str) -> str:
    """A shell command that sends ``url`` as a GET."""
    return f"curl -sS {shlex.quote(url)}"  # no progress meter in front of the answer
