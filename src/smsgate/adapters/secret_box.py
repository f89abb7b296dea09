"""Encryption at rest for AccessKey secrets.

Alibaba-style signatures are HMACs, so the server needs the plain secret to check them: it cannot
keep only a hash, as it would for a password. The next best thing is to keep secrets encrypted with
a key that lives outside the database (``master.key`` in the data directory, mode 0600), so that a
copied database file or backup does not give away working credentials. The key file is written
once, durably, and never replaced (:mod:`smsgate.adapters.secret_files`): back it up apart from
the database.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smsgate.adapters.secret_files import SecretFileError, create_once

__all__ = ["KEY_BYTES", "SecretBox"]

_PREFIX = "v1:"
KEY_BYTES: Final = 32
_RESTORE: Final = (
    "restore it from your backup; without it the stored AccessKey secrets cannot be decrypted"
)


class SecretBox:
    """AES-256-GCM sealing of short strings; the output is ASCII, safe to keep in a text column."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_key_file(cls, path: Path, *, create: bool = True) -> SecretBox:
        """Load the master key, creating it (readable by the owner only, written durably) when
        it does not exist and ``create`` allows.

        Raises :class:`SecretFileError` naming the file and how to restore it when the key is
        missing where it must exist (``create=False``: a database already holds secrets sealed
        with it) or is not 32 bytes (cut short by a power cut, or replaced).
        """
        if not path.exists():
            if not create:
                raise SecretFileError(
                    f"{path.name} is missing in {path.parent}, but the database there was made "
                    f"with one: {_RESTORE}"
                )
            create_once(path, secrets.token_bytes(KEY_BYTES))
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise SecretFileError(
                f"{path.name} in {path.parent} is {len(key)} bytes, not {KEY_BYTES}: {_RESTORE}"
            )
        return cls(key)

    def seal(self, plaintext: str) -> str:
        nonce = secrets.token_bytes(12)
        return _PREFIX + (nonce + self._aead.encrypt(nonce, plaintext.encode(), None)).hex()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise ValueError("not a sealed secret")
        raw = bytes.fromhex(sealed[len(_PREFIX) :])
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()
