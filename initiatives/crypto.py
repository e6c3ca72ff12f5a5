"""Encryption of personal data at rest, and keyed hashes that find without revealing.

``DATA_KEY`` holds one or more Fernet keys, the current one first.  Values are encrypted
with the first key and decrypted with any of them, so a new key can be rolled out
before ``rotate-data-key`` re-encrypts the old rows: no downtime.  The blind index of an
email is an HMAC under a key derived from each DATA_KEY; lookups try the index under
every configured key, new rows get the current one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _derive(raw_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(raw_key)


def canonical_email(email: str) -> str:
    """Trimmed and case-folded: the form under which one address signs once."""
    return email.strip().casefold()


class DataCrypto:
    """Encrypts, decrypts and blind-indexes signers' personal data."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("at least one data key is needed")
        self.keys = keys
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        raw = [base64.urlsafe_b64decode(k) for k in keys]
        self._index_keys = [_derive(r, b"initiatives/blind-index/v1") for r in raw]
        self._client_key = _derive(raw[0], b"initiatives/client-address/v1")

    def encrypt(self, value: str | None) -> bytes | None:
        if value is None:
            return None
        return self._fernet.encrypt(value.encode("utf-8"))

    def decrypt(self, token: bytes | None) -> str | None:
        if token is None:
            return None
        return self._fernet.decrypt(bytes(token)).decode("utf-8")

    def rotate(self, token: bytes | None) -> bytes | None:
        """The same value encrypted under the current key."""
        return None if token is None else self._fernet.rotate(bytes(token))

    def email_index(self, email: str) -> str:
        """The blind index under the current key (stored on new rows)."""
        return self._index(self._index_keys[0], canonical_email(email))

    def email_indexes(self, email: str) -> list[str]:
        """The blind index under every configured key (for lookups during rotation)."""
        canon = canonical_email(email)
        return [self._index(k, canon) for k in self._index_keys]

    def client_hash(self, address: str, day: date) -> str:
        """A keyed hash of a client address with a salt that changes every day."""
        msg = f"{day.isoformat()}|{address}".encode()
        return hmac.new(self._client_key, msg, hashlib.sha256).hexdigest()

    @staticmethod
    def _index(key: bytes, canon: str) -> str:
        return hmac.new(key, canon.encode("utf-8"), hashlib.sha256).hexdigest()


def crypto() -> DataCrypto:
    """The current application's DataCrypto."""
    return current_app.extensions["data_crypto"]


__all__ = ["DataCrypto", "InvalidToken", "canonical_email", "crypto"]
