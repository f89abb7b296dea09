"""Verification of the two request signatures the official Alibaba Cloud SDKs send.

smsgate must accept requests from the Alibaba SDKs *unchanged*, so "correct" here means "byte for
byte what the SDK computed", not "what a tidy reading of the documentation says". Where the two
differ this module follows the SDK and says so:

* **V1** (``aliyun-python-sdk-core``, the legacy RPC signature): every parameter, from the query and
  from a form body, goes into the signature; ``Signature`` is
  ``base64(HMAC-SHA1(secret + "&", StringToSign))`` with
  ``StringToSign = METHOD & pct("/") & pct(sorted pct(k)=pct(v) joined by "&")``. Pairs are sorted
  by their *decoded* key, then percent-encoded (``'{'`` sorts after ``'Z'``, ``'%7B'`` before it).
* **V3** (``alibabacloud_tea_openapi``, ``ACS3-HMAC-SHA256``): only the *query* is canonicalised;
  a body is covered through ``x-acs-content-sha256``. The SDK quotes query **values** with
  ``quote(v, safe="~")`` but writes query **keys raw** (the documentation says keys are encoded
  too; for the ASCII names every Alibaba API uses, the two agree). The canonical URI is the path as
  sent, ``/`` for RPC actions. Every header the SDK had set when signing (``accept``,
  ``user-agent`` and ``content-type`` included) is listed in ``SignedHeaders``; we canonicalise
  exactly the listed ones.

The module is pure: no I/O, no clock (``now`` is passed in), no logging. Secrets and signatures
never reach exception messages or ``repr``. Intended use at the door::

    req = parse_signed_request(method, raw_path, query, headers, body)  # GatewayError if malformed
    check_timestamp(req, now)
    secret = lookup(req.access_key_id)                                  # unknown key -> 404 code
    verify_signature(req, secret)
    await nonce_guard.check_and_remember(req.access_key_id, req.nonce, req.timestamp, now)

``raw_path`` should be the path as sent (aiohttp's ``request.raw_path``; anything from ``?`` on is
ignored): V3 signs the still-encoded path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import parse_qsl, unquote, unquote_to_bytes

from smsgate.errors import (
    INCOMPLETE_SIGNATURE,
    INVALID_PARAMETER,
    INVALID_TIMESTAMP_EXPIRED,
    INVALID_TIMESTAMP_FORMAT,
    MISSING_COMMON_PARAMETER,
    SIGNATURE_DOES_NOT_MATCH,
    UNSUPPORTED_SIGNATURE_METHOD,
    GatewayError,
    missing_parameter,
)

__all__ = [
    "DEFAULT_SKEW",
    "V1_SIGNATURE_METHOD",
    "V1_SIGNATURE_VERSION",
    "V3_ALGORITHM",
    "SignedRequest",
    "check_timestamp",
    "parse_signed_request",
    "verify_signature",
]

V1_SIGNATURE_METHOD = "HMAC-SHA1"
V1_SIGNATURE_VERSION = "1.0"
V3_ALGORITHM = "ACS3-HMAC-SHA256"
#: Alibaba accepts a request whose timestamp is at most 15 minutes off the server clock.
DEFAULT_SKEW = timedelta(minutes=15)

_FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
#: ``Timestamp`` / ``x-acs-date``: ``yyyy-MM-ddTHH:mm:ssZ``, UTC, nothing else (ASCII digits only).
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)
#: An HTTP authentication scheme name (``Bearer``, ``ACS3-HMAC-SHA256``), short.
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,39}", re.ASCII)

# --- RFC 3986 percent-encoding -------------------------------------------------------------------
#
# ``quote(s, safe="~")`` is exactly what both SDKs produce (space -> %20, * -> %2A, ~ kept, UTF-8),
# but it loops over every byte in Python, and it runs on every parameter of every request. The
# cases below keep the work in C: a safe string comes back as it is; an ASCII one gets one
# ``str.replace`` per *distinct* reserved character (a few, even in a long English message); any
# other string is encoded a run of reserved characters at a time (a CJK sentence is one run).

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_PCT_ASCII = {ch: f"%{ord(ch):02X}" for ch in map(chr, range(128)) if ch not in _UNRESERVED}
_ALL_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
_RESERVED_RUN = re.compile(r"[^A-Za-z0-9_.~-]+")


def _pct(text: str) -> str:
    """RFC 3986 percent-encoding of ``text`` as UTF-8: ``quote(text, safe="~")``, faster."""
    if _ALL_UNRESERVED(text):
        return text
    if not text.isascii():
        return _RESERVED_RUN.sub(_pct_run, text)
    reserved = set(text).difference(_UNRESERVED)
    if "%" in reserved:  # first, so that the escapes added below are not escaped again
        text = text.replace("%", "%25")
        reserved.discard("%")
    for char in reserved:
        text = text.replace(char, _PCT_ASCII[char])
    return text


def _pct_run(match: re.Match[str]) -> str:
    return "%" + match[0].encode("utf-8").hex("%").upper()


#: ``_pct_twice``: deleting these from a query's bytes leaves the reserved ones (a C loop);
#: ``%``, ``&`` and ``=`` are replaced first; the others by their escape, escaped again.
_UNRESERVED_BYTES = "".join(sorted(_UNRESERVED)).encode("ascii")
_PERCENT, _DONE_FIRST = ord("%"), (ord("%"), ord("&"), ord("="))
_ASCII_CHAR = {code: chr(code) for code in range(128)}
_PCT_TWICE_ASCII = {code: f"%25{code:02X}" for code in range(128)}


def _pct_canonical(query: str) -> str:
    """Percent-encode an already canonical query (only unreserved chars, ``%``, ``=``, ``&``)."""
    return query.replace("%", "%25").replace("=", "%3D").replace("&", "%26")


# --- The parsed request --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request taken apart and canonicalised, ready for :func:`verify_signature`.

    ``params`` are the business parameters (query and form body merged, the body winning on a
    clash as it does in the V1 SDK), without the V1 signing parameters (``Signature``,
    ``SignatureMethod``, ``SignatureVersion``, ``SignatureNonce``, ``SignatureType``,
    ``AccessKeyId``, ``Timestamp``) but with ``Action``, ``Version``, ``Format``, ``RegionId``...

    Nothing here is trustworthy until :func:`verify_signature` returned.
    """

    style: Literal["v1", "v3"]
    access_key_id: str
    nonce: str
    timestamp: datetime
    action: str | None
    version: str | None
    params: dict[str, str]
    _string_to_sign: str = field(repr=False, compare=False)
    _signature: str = field(repr=False, compare=False)


def parse_signed_request(
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
) -> SignedRequest:
    """Take a request apart into a :class:`SignedRequest`, or raise :class:`GatewayError`.

    ``query`` is the percent-*decoded* query in wire order, ``headers`` a case-insensitive mapping
    (a ``CIMultiDictProxy``; repeated headers are read with ``getall`` when it has one), ``body``
    the raw body. A request is V3 when it carries ``Authorization: ACS3-...``, V1 otherwise (an
    ``Authorization`` of another scheme without a V1 ``Signature`` is an unsupported method).

    The string to sign is built here, so the caller can look the key up and verify afterwards;
    no secret is needed yet.
    """
    authorization = headers.get("Authorization")
    if authorization is not None and authorization.startswith("ACS3-"):
        return _parse_v3(method, raw_path, query, headers, body, authorization=authorization)
    return _parse_v1(method, query, headers, body)


def verify_signature(req: SignedRequest, secret: str) -> None:
    """Raise ``SignatureDoesNotMatch`` unless ``req`` was signed with ``secret``.

    The comparison is constant-time and on bytes, so a non-ASCII forged signature cannot make
    ``hmac.compare_digest`` raise ``TypeError``.

    ``hmac.new(...).digest()`` rather than the one-shot ``hmac.digest``: the one-shot lets go of
    the GIL around its few microseconds of OpenSSL, and on the event loop every such release
    lets the store's writer thread take the GIL, a thread switch each way per request.
    """
    message = req._string_to_sign.encode("utf-8")
    if req.style == "v1":
        digest = hmac.new((secret + "&").encode("utf-8"), message, "sha1").digest()
        expected = base64.b64encode(digest)
    else:
        expected = hmac.new(secret.encode("utf-8"), message, "sha256").hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, req._signature.encode("utf-8", "surrogatepass")):
        # Alibaba appends the string it signed, and the V1 SDK relies on it: when it equals the
        # SDK's own, the SDK reports InvalidAccessKeySecret (wrong secret) rather than a signing
        # mismatch. The string to sign is derived from the request alone; it holds no secret.
        # It holds the message text, so it is a wire message only, never a logged detail.
        raise GatewayError(
            SIGNATURE_DOES_NOT_MATCH,
            message=f"{SIGNATURE_DOES_NOT_MATCH.message} server string to sign is:"
            f"{req._string_to_sign}",
        )


def check_timestamp(req: SignedRequest, now: datetime, skew: timedelta = DEFAULT_SKEW) -> None:
    """Raise ``InvalidTimeStamp.Expired`` if the request time is more than ``skew`` from ``now``.

    Both directions count: a timestamp far in the future would otherwise stay replayable until
    the nonce store forgot it. ``now`` must be timezone-aware.
    """
    if abs(now - req.timestamp) > skew:
        raise GatewayError(
            INVALID_TIMESTAMP_EXPIRED,
            f"The request time must be within {int(skew.total_seconds())} seconds of the server "
            "time (UTC).",
        )


# --- V1 ------------------------------------------------------------------------------------------


def _parse_v1(
    method: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
) -> SignedRequest:
    """Parse a V1 request: all parameters are signed, the string to sign is built here."""
    params = _unique(query)
    if body and _is_form(headers):
        form = _unique(_decode_form(body))
        if "Signature" in form and "Signature" in params:
            raise _repeated("Signature")
        params.update(form)
    signature = params.pop("Signature", None)
    authorization = headers.get("Authorization")
    if not signature and authorization is not None:
        # Name the scheme only when the header has the "scheme credentials" shape: a bare token
        # may be a credential, and details are logged.
        scheme, space, _ = authorization.partition(" ")
        shown = repr(scheme) if space and _SCHEME_RE.fullmatch(scheme) else "of this header"
        raise GatewayError(
            UNSUPPORTED_SIGNATURE_METHOD,
            f"Authorization scheme {shown}: use {V3_ALGORITHM} or a V1 Signature parameter.",
        )
    signature = _required_v1(signature, "Signature")
    signing = _pop_v1_signing_params(params)
    return SignedRequest(
        style="v1",
        access_key_id=signing["AccessKeyId"],
        nonce=signing["SignatureNonce"],
        timestamp=_parse_timestamp(signing["Timestamp"], "Timestamp"),
        action=params.get("Action"),
        version=params.get("Version"),
        params=params,
        _string_to_sign=_v1_string_to_sign(method, params, signing),
        _signature=signature,
    )


_V1_REQUIRED = ("AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp")


def _pop_v1_signing_params(params: dict[str, str]) -> dict[str, str]:
    """Move the signing parameters out of ``params``; all but ``SignatureType`` are required."""
    signing = {name: _required_v1(params.pop(name, None), name) for name in _V1_REQUIRED}
    signature_type = params.pop("SignatureType", None)
    if signature_type is not None:  # the SDK sends it empty, and signs it
        signing["SignatureType"] = signature_type
    _require_v1_value(signing, "SignatureMethod", V1_SIGNATURE_METHOD)
    _require_v1_value(signing, "SignatureVersion", V1_SIGNATURE_VERSION)
    return signing


def _required_v1(value: str | None, name: str) -> str:
    """A V1 common parameter; Alibaba reports each one missing under its own code."""
    if not value:
        raise GatewayError(MISSING_COMMON_PARAMETER[name])
    return value


def _require_v1_value(signing: dict[str, str], name: str, supported: str) -> None:
    if signing[name] != supported:
        raise GatewayError(
            UNSUPPORTED_SIGNATURE_METHOD, f"{name} {signing[name][:40]!r}: use {supported}."
        )


def _v1_string_to_sign(method: str, params: dict[str, str], signing: dict[str, str]) -> str:
    """``METHOD&%2F&pct(canonical query)``, the canonical query sorted by decoded key."""
    pairs = [*params.items(), *signing.items()]
    pairs.sort()  # keys are unique, so values never take part in the ordering
    plain = "&".join([f"{key}={value}" for key, value in pairs])
    if plain.isascii() and plain.count("=") == len(pairs) and plain.count("&") == len(pairs) - 1:
        return f"{method}&%2F&{_pct_twice(plain)}"
    try:
        canonical = "&".join([f"{_pct(key)}={_pct(value)}" for key, value in pairs])
    except UnicodeEncodeError as exc:
        raise _not_unicode() from exc
    return f"{method}&%2F&{_pct_canonical(canonical)}"


def _pct_twice(plain: str) -> str:
    """``_pct_canonical`` of the canonical query, from ``plain``: the same pairs joined unencoded.

    Only for ASCII pairs none of whose keys and values holds ``&`` or ``=``: then the only ``&``
    and ``=`` in ``plain`` are the separators, which end up as ``%26`` and ``%3D``, and every
    other reserved character ``c`` as ``%25`` and its code (``pct`` gives ``%XX``, the second
    encoding turns its ``%`` into ``%25``). One pass per distinct character over the whole query
    costs about half of encoding each key and value on its own (a dozen per request).
    """
    reserved = set(plain.encode("ascii").translate(None, _UNRESERVED_BYTES))
    text = plain.replace("%", "%2525") if _PERCENT in reserved else plain
    text = text.replace("&", "%26").replace("=", "%3D")
    reserved.difference_update(_DONE_FIRST)
    for code in reserved:
        text = text.replace(_ASCII_CHAR[code], _PCT_TWICE_ASCII[code])
    return text


# --- V3 ------------------------------------------------------------------------------------------


def _parse_v3(
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    *,
    authorization: str,
) -> SignedRequest:
    """Parse a V3 request: check the header set and body hash, build the string to sign."""
    access_key_id, signed_headers, signature = _parse_authorization(authorization)
    date = _required_header(headers, "x-acs-date")
    nonce = _required_header(headers, "x-acs-signature-nonce")
    content_sha256 = _required_header(headers, "x-acs-content-sha256")
    _check_body_hash(content_sha256, body)
    timestamp = _parse_timestamp(date, "x-acs-date")
    names = signed_headers.split(";")
    _check_signed_header_set(names, headers)
    query_params = _unique(query)
    string_to_sign = _v3_string_to_sign(
        method,
        raw_path,
        query_params,
        canonical_headers=_canonical_headers(names, headers),
        signed_headers=signed_headers,
        content_sha256=content_sha256,
    )
    return SignedRequest(
        style="v3",
        access_key_id=access_key_id,
        nonce=nonce,
        timestamp=timestamp,
        action=headers.get("x-acs-action"),
        version=headers.get("x-acs-version"),
        params=_v3_params(query_params, names, headers, body),
        _string_to_sign=string_to_sign,
        _signature=signature,
    )


def _check_body_hash(content_sha256: str, body: bytes) -> None:
    """The body is signed only through its hash, so the hash must be the body's."""
    if content_sha256.lower() != hashlib.sha256(body).hexdigest():
        raise GatewayError(
            SIGNATURE_DOES_NOT_MATCH,
            "The x-acs-content-sha256 header does not match the SHA-256 of the request body.",
        )


def _v3_params(
    query: dict[str, str], signed_names: list[str], headers: Mapping[str, str], body: bytes
) -> dict[str, str]:
    """Query parameters, plus a form body's; reading a body as a form needs a signed type."""
    if not (body and _is_form(headers)):
        return query
    if "content-type" not in signed_names:
        raise GatewayError(
            INCOMPLETE_SIGNATURE, "SignedHeaders must include content-type when the body is a form."
        )
    params = dict(query)
    params.update(_unique(_decode_form(body)))
    return params


def _parse_authorization(authorization: str) -> tuple[str, str, str]:
    """Split ``ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`` into its parts."""
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != V3_ALGORITHM:
        raise GatewayError(
            UNSUPPORTED_SIGNATURE_METHOD,
            f"Signature algorithm {algorithm[:40]!r}: use {V3_ALGORITHM}.",
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.partition("=")
        if sep:
            parts[name.strip()] = value.strip()
    return (
        _authorization_part(parts, "Credential"),
        _authorization_part(parts, "SignedHeaders"),
        _authorization_part(parts, "Signature"),
    )


def _authorization_part(parts: dict[str, str], name: str) -> str:
    value = parts.get(name)
    if not value:
        raise GatewayError(INCOMPLETE_SIGNATURE, f"The Authorization header has no {name} part.")
    return value


def _required_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise missing_parameter(name)
    return value


def _check_signed_header_set(names: list[str], headers: Mapping[str, str]) -> None:
    """``SignedHeaders`` must name ``host`` and every ``x-acs-*`` header actually sent.

    Otherwise a man in the middle could add or change an unsigned ``x-acs-action`` (or any other
    header we act on) without breaking the signature.
    """
    signed = set(names)
    if "" in signed:
        raise GatewayError(INCOMPLETE_SIGNATURE, "SignedHeaders contains an empty header name.")
    if "host" not in signed:
        raise GatewayError(INCOMPLETE_SIGNATURE, "SignedHeaders must include host.")
    for name in headers:
        lowered = name.lower()
        if lowered.startswith("x-acs-") and lowered not in signed:
            raise GatewayError(
                INCOMPLETE_SIGNATURE, f"SignedHeaders must include the {lowered[:60]} header."
            )


def _canonical_headers(names: list[str], headers: Mapping[str, str]) -> str:
    """``name:value\\n`` per signed header, in the listed order, as the SDK builds them."""
    getall: Callable[..., list[str]] | None = getattr(headers, "getall", None)
    return "".join([f"{name}:{_signed_header_value(name, headers, getall)}\n" for name in names])


def _signed_header_value(
    name: str, headers: Mapping[str, str], getall: Callable[..., list[str]] | None
) -> str:
    """The stripped value; a repeated header is its values sorted and joined with ``,``.

    That is the SDK's rule for a header set under two spellings, and it makes a header injected
    next to a signed one break the signature instead of being silently ignored.
    """
    if getall is None:
        single = headers.get(name)
        values = [] if single is None else [single]
    else:
        values = getall(name, [])
    if len(values) == 1:
        return values[0].strip()
    if not values:
        raise GatewayError(
            INCOMPLETE_SIGNATURE, f"The signed header {name[:60]} is not present in the request."
        )
    return ",".join(sorted(value.strip() for value in values))


def _v3_string_to_sign(
    method: str,
    raw_path: str,
    query: dict[str, str],
    *,
    canonical_headers: str,
    signed_headers: str,
    content_sha256: str,
) -> str:
    """``ACS3-HMAC-SHA256\\nhex(sha256(canonical request))`` as ``Utils.get_authorization``."""
    path = raw_path.partition("?")[0] or "/"
    try:
        canonical_request = (
            f"{method}\n{path}\n{_v3_canonical_query(query)}\n"
            f"{canonical_headers}\n{signed_headers}\n{content_sha256}"
        ).encode()
    except UnicodeEncodeError as exc:
        raise _not_unicode() from exc
    return f"{V3_ALGORITHM}\n{hashlib.sha256(canonical_request).hexdigest()}"


def _v3_canonical_query(query: dict[str, str]) -> str:
    """Sorted ``key=quote(value)`` pairs; keys go in raw, as the tea-openapi SDK writes them.

    A raw key holding ``&`` or ``=`` could make two different queries canonicalise alike (a
    man in the middle could fold ``A=1&B=2`` into the single key ``A=1&B``), so such keys, which
    no Alibaba API has, are refused.
    """
    pairs = []
    for key, value in sorted(query.items()):
        if "&" in key or "=" in key:
            raise GatewayError(
                INCOMPLETE_SIGNATURE,
                "A query parameter name containing '&' or '=' cannot be signed unambiguously.",
            )
        pairs.append(f"{key}={_pct(value)}")
    return "&".join(pairs)


# --- Shared helpers ------------------------------------------------------------------------------


def _unique(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``pairs`` as a dict, refusing a name given twice: the SDKs never repeat one, and which
    copy was signed and which one acted upon must not be left to chance."""
    params = dict(pairs)
    if len(params) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _repeated(name)
            seen.add(name)
    return params


def _repeated(name: str) -> GatewayError:
    return GatewayError(INVALID_PARAMETER, f"The parameter {name[:64]!r} is given more than once.")


def _is_form(headers: Mapping[str, str]) -> bool:
    content_type = headers.get("Content-Type")
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == _FORM_MEDIA_TYPE


#: Every byte but the form separators ``&`` and ``=``.
_NOT_FORM_SEPARATORS = bytes(b for b in range(256) if b not in b"&=")


def _decode_form(body: bytes) -> list[tuple[str, str]]:
    """Decode an ``application/x-www-form-urlencoded`` body; invalid UTF-8 is a client error.

    The pairs are ``parse_qsl(body.decode(), keep_blank_values=True, errors="strict")``'s, at a
    third of its cost: the body is split into names and values as parse_qsl splits it, and they
    are decoded together, in one ``unquote`` of them joined by ``&``, rather than one call each
    (two dozen per request). That is the same decoding as long as no name or value decodes to a
    ``&``, which only ``%26`` gives; a body holding one goes to parse_qsl itself. When every
    pair has exactly one ``=`` (the body's separators alternate ``=&=&...=``, found by deleting
    every other byte, which no UTF-8 sequence can fake), turning each ``=`` into ``&`` is that
    split, without a loop over the pairs.
    """
    try:
        text = body.decode("utf-8")
        if "%26" in text:
            return parse_qsl(text, keep_blank_values=True, errors="strict")
        separators = body.translate(None, _NOT_FORM_SEPARATORS)
        if separators == b"=&" * separators.count(b"&") + b"=":
            joined = text.replace("=", "&")
        else:
            fields: list[str] = []
            for pair in text.split("&"):
                if pair:  # parse_qsl skips empty pairs, takes a pair without "=" as a blank value
                    name, _, value = pair.partition("=")
                    fields += (name, value)
            if not fields:
                return []
            joined = "&".join(fields)
        joined = joined.replace("+", " ")
        if "%" in joined:
            if joined.isascii():  # unquote's own path for text that is one ASCII run
                joined = unquote_to_bytes(joined).decode("utf-8")
            else:
                joined = unquote(joined, errors="strict")
    except UnicodeDecodeError as exc:
        raise GatewayError(
            INVALID_PARAMETER, "The form body is not valid percent-encoded UTF-8."
        ) from exc
    decoded = iter(joined.split("&"))
    return list(zip(decoded, decoded, strict=True))


def _parse_timestamp(text: str, name: str) -> datetime:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ`` into an aware UTC datetime.

    Once the shape is checked, ``fromisoformat`` reads it (in C, a tenth of six ``int`` calls):
    its ``Z`` is :data:`UTC` itself, and an impossible date or time is its ``ValueError`` as it
    is the constructor's. Hour 24, which Python 3.13 reads as the next midnight, is refused
    before.
    """
    if _TIMESTAMP_RE.fullmatch(text) and text[11:13] != "24":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise GatewayError(
        INVALID_TIMESTAMP_FORMAT, f"{name} {text[:40]!r}: use yyyy-MM-ddTHH:mm:ssZ (UTC)."
    )


def _not_unicode() -> GatewayError:
    """Text that cannot be UTF-8 encoded (lone surrogates) cannot have been signed by an SDK."""
    return GatewayError(INVALID_PARAMETER, "A parameter is not valid Unicode text.")
