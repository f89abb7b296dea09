"""Encryption at rest for AccessKey secrets.

Alibaba-style signatures are HMACs, so the server needs the plain secret to check them: it cannot
keep only a hash, as it would for a password. The next best thing is to keep secrets encrypted with
a key that lives outside the database (``master.key`` in the data directory, mode 0600), so that a
copied database file or backup does not give away working credentials.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SecretBox"]

_PREFIX = "v1:"


class SecretBox:
    """AES-256-GCM sealing of short strings; the output is ASCII, safe to keep in a text column."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_key_file(cls, path: Path) -> SecretBox:
        """Load the master key, creating it (readable by the owner only) on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        return cls(path.read_bytes())

    def seal(self, plaintext: str) -> str:
        nonce = secrets.token_bytes(12)
        return _PREFIX + (nonce + self._aead.encrypt(nonce, plaintext.encode(), None)).hex()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise ValueError("not a sealed secret")
        raw = bytes.fromhex(sealed[len(_PREFIX) :])
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()
