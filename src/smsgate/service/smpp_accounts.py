"""SMPP credentials: system_id -> (account, password hash), kept in the policy document ``smpp``.

The document is a JSON object ``{system_id: {"account_id": ..., "password_hash": ...,
"status_codes": ...}}``; ``status_codes`` (optional) is the credential's status profile,
``seed`` or ``smpp34`` (:data:`smsgate.errors.SMPP_STATUS_PROFILES`), and without it the server's
``[smpp] status_codes`` applies. Password hashes are ``scrypt$n$r$p$salt_hex$hash_hex`` with a
random salt per entry; they are compared in constant time. The SMPP door looks credentials up
through :class:`PolicyCache`, so credentials added or removed with ``smsgate smpp`` take effect
within ``refresh_s`` (a profile on the next bind).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from smsgate.errors import SMPP_STATUS_PROFILES, SmppStatusProfile

if TYPE_CHECKING:
    from smsgate.service.policy import PolicyCache

__all__ = [
    "DOCUMENT",
    "MAX_PASSWORD",
    "MAX_SYSTEM_ID",
    "SmppCredential",
    "SmppCredentials",
    "check_status_codes",
    "hash_password",
    "parse_smpp_document",
    "verify_password",
]

DOCUMENT: Final = "smpp"
#: SMPP 3.4 §4.1.1: system_id is a C-Octet String of at most 16 octets, password of at most 9.
MAX_SYSTEM_ID: Final = 15
MAX_PASSWORD: Final = 8

_N, _R, _P = 2**14, 8, 1
_DKLEN: Final = 32


_REQUIRED: Final = frozenset({"account_id", "password_hash"})
_OPTIONAL: Final = frozenset({"status_codes"})


@dataclass(frozen=True, slots=True)
class SmppCredential:
    system_id: str
    account_id: str
    password_hash: str
    status_codes: SmppStatusProfile | None = None  # None: the server's [smpp] status_codes


def check_system_id(system_id: str) -> None:
    if not 1 <= len(system_id) <= MAX_SYSTEM_ID or not system_id.isascii():
        raise ValueError(f"system_id must be 1 to {MAX_SYSTEM_ID} ASCII characters")
    if not system_id.isprintable():
        raise ValueError("system_id must be printable characters")


def check_password(password: str) -> None:
    if not 1 <= len(password) <= MAX_PASSWORD or not password.isascii():
        raise ValueError(f"password must be 1 to {MAX_PASSWORD} ASCII characters")
    if not password.isprintable():
        raise ValueError("password must be printable characters")


def check_status_codes(value: object) -> SmppStatusProfile:
    """``value`` as a status profile name, or ValueError naming the choices."""
    for profile in SMPP_STATUS_PROFILES:
        if value == profile:
            return profile
    raise ValueError(f"status_codes must be one of {', '.join(SMPP_STATUS_PROFILES)}")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN, maxmem=64 * 1024 * 1024
    )
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("password_hash must be scrypt$n$r$p$salt_hex$hash_hex")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        raise ValueError("password_hash must be scrypt$n$r$p$salt_hex$hash_hex") from None
    if n < 2 or n & (n - 1) or not 0 < r <= 64 or not 0 < p <= 16 or n > 2**20:
        raise ValueError("password_hash has unusable scrypt parameters")
    if not salt or not digest:
        raise ValueError("password_hash has an empty salt or hash")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False also for a malformed hash."""
    try:
        n, r, p, salt, digest = _parse_hash(stored)
    except ValueError:
        return False
    candidate = hashlib.scrypt(
        password.encode("latin-1", "replace"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=len(digest),
        maxmem=256 * 1024 * 1024,
    )
    return hmac.compare_digest(candidate, digest)


def parse_smpp_document(doc: Any) -> dict[str, SmppCredential]:
    """The ``smpp`` policy document's parser (registered in ``policy.DOCUMENT_PARSERS``)."""
    if not isinstance(doc, dict):
        raise ValueError("smpp must be a JSON object of system_id -> credentials")
    parsed: dict[str, SmppCredential] = {}
    for system_id, entry in doc.items():
        check_system_id(system_id)
        if not isinstance(entry, dict) or not _REQUIRED <= set(entry) <= _REQUIRED | _OPTIONAL:
            raise ValueError(
                f"smpp[{system_id!r}] must have account_id and password_hash, "
                "and may have status_codes"
            )
        account_id, password_hash = entry["account_id"], entry["password_hash"]
        if not isinstance(account_id, str) or not account_id:
            raise ValueError(f"smpp[{system_id!r}].account_id must be a non-empty string")
        if not isinstance(password_hash, str):
            raise ValueError(f"smpp[{system_id!r}].password_hash must be a string")
        _parse_hash(password_hash)
        status_codes = None
        if "status_codes" in entry:
            try:
                status_codes = check_status_codes(entry["status_codes"])
            except ValueError as exc:
                raise ValueError(f"smpp[{system_id!r}].{exc}") from None
        parsed[system_id] = SmppCredential(system_id, account_id, password_hash, status_codes)
    return parsed


class SmppCredentials:
    """Looks system_ids up in the current ``smpp`` document."""

    def __init__(self, policy: PolicyCache) -> None:
        self._policy = policy

    async def lookup(self, system_id: str) -> SmppCredential | None:
        doc: Mapping[str, SmppCredential] = await self._policy.document(DOCUMENT, {})
        return doc.get(system_id)
