"""The stand tablet's offline queue, sealed so that only the server can open it.

A signature the tablet cannot send at once waits in the browser's IndexedDB.  Anyone
holding the tablet could read it there, so the tablet seals its personal fields
(static/js/kiosk-queue.js, WebCrypto only): a fresh AES-GCM 256 key per entry encrypts
them, with the kiosk, the entry's UUID, its initiative and its signing time as associated
data, and that key is wrapped with RSA-OAEP (SHA-256) under the public key of the
kiosk's current binding.  The private key never leaves the server; it is stored with the
app's field encryption (``queue_keys_enc``, re-encrypted by ``rotate-data-key``).

Each enrolment makes a key pair.  Unbinding or revoking a kiosk deletes its keys: what a
lost tablet still holds can then be opened by nobody (crypto-shredding).  Enrolling the
kiosk again (a new code for the same stand) keeps the previous private key, retired,
for ``KIOSK_QUEUE_MAX_DAYS``: the same tablet bound again keeps its queue
(``kiosk_signatures.signed_in_time``), and the residents in it were told their signature
was saved.  After that long every entry sealed to it is refused as too old anyway, so the
retired key goes (at the next enrolment or purge, and it is not used after its time).

These functions flush, never commit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from . import clock
from .crypto import InvalidToken, crypto
from .extensions import db

if TYPE_CHECKING:
    from .kiosks import Kiosk

KEY_BITS = 2048
SEAL_VERSION = 1
# What the associated data begins with: a sealed entry means nothing anywhere else.
AAD_PURPOSE = "initiatives.kiosk.queue/v1"
# A sealed entry is a few hundred bytes plus the fields (a name is at most 200
# characters): anything far longer is not one of ours.
MAX_SEALED_CHARS = 16_000
# The submission's own fields: never taken from inside a sealed payload (they travel
# beside it, and the associated data binds the ones that matter).
PLAIN_FIELDS = frozenset(
    {"client_uuid", "signed_at", "lang", "initiative", "text_version", "sealed", "queued"}
)
OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


class Unreadable(Exception):
    """A sealed entry this kiosk cannot open: damaged, forged, or sealed to a key that
    is gone (the kiosk was unbound, or the entry came from another kiosk).  Never will."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Exception):
    """The stored keys do not decrypt under DATA_KEY: the server's fault (a key missing
    from its configuration), not the entry's; the tablet keeps it and tries again."""


@dataclass
class QueueKey:
    id: str
    private_der: bytes
    retired_at: datetime | None


def key_id(public_der: bytes) -> str:
    """A short name of a public key, which a sealed entry carries to say which key."""
    return hashlib.sha256(public_der).hexdigest()[:16]


def public_key_id(kiosk: Kiosk) -> str | None:
    """The name of the current public key (``queue_public_key``: SPKI DER, base64)."""
    key = kiosk.queue_public_key
    return key_id(base64.b64decode(key)) if key else None


def _max_age() -> timedelta:
    return timedelta(days=current_app.config["KIOSK_QUEUE_MAX_DAYS"])


def _read(kiosk: Kiosk) -> list[QueueKey]:
    if kiosk.queue_keys_enc is None:
        return []
    try:
        stored = json.loads(crypto().decrypt(kiosk.queue_keys_enc) or "[]")
    except InvalidToken as exc:
        raise KeysUnavailable from exc
    return [
        QueueKey(
            id=item["id"],
            private_der=base64.b64decode(item["key"]),
            retired_at=datetime.fromisoformat(item["retired"]) if item.get("retired") else None,
        )
        for item in stored
    ]


def _write(kiosk: Kiosk, keys: list[QueueKey]) -> None:
    stored = [
        {
            "id": k.id,
            "key": base64.b64encode(k.private_der).decode(),
            "retired": k.retired_at.isoformat() if k.retired_at else None,
        }
        for k in keys
    ]
    kiosk.queue_keys_enc = crypto().encrypt(json.dumps(stored)) if stored else None


def _usable(key: QueueKey, now: datetime) -> bool:
    return key.retired_at is None or now - key.retired_at < _max_age()


def new_binding_key(kiosk: Kiosk, now: datetime | None = None) -> None:
    """A fresh key pair for a new binding; the previous one is kept, retired (see above).

    Keys that cannot be read under DATA_KEY are dropped rather than blocking enrolment:
    nothing could have opened the entries sealed to them either.
    """
    now = now or clock.utcnow()
    try:
        kept = [k for k in _read(kiosk) if _usable(k, now)]
    except KeysUnavailable:
        # Said in the log: it means DATA_KEY lost a key before rotate-data-key ran.
        current_app.logger.warning("kiosk %s: earlier queue keys unreadable, dropped", kiosk.id)
        kept = []
    for key in kept:
        key.retired_at = key.retired_at or now
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(kiosk, [QueueKey(key_id(public_der), private_der, None), *kept])
    kiosk.queue_public_key = base64.b64encode(public_der).decode()
    db.session.flush()


def forget_keys(kiosk: Kiosk) -> None:
    """Unbound or revoked: every entry sealed for this kiosk becomes unreadable for good."""
    kiosk.queue_keys_enc = None
    kiosk.queue_public_key = None


def prune_retired_keys(now: datetime | None = None) -> int:
    """Drop retired keys past their time on every kiosk (the purge runs it); how many."""
    from .kiosks import Kiosk  # kiosks imports this module

    now = now or clock.utcnow()
    dropped = 0
    kiosks = db.session.scalars(sa.select(Kiosk).where(Kiosk.queue_keys_enc.is_not(None))).all()
    for kiosk in kiosks:
        try:
            keys = _read(kiosk)
        except KeysUnavailable:
            continue  # left for rotate-data-key to report; the keys may come back
        kept = [k for k in keys if _usable(k, now)]
        if len(kept) != len(keys):
            dropped += len(keys) - len(kept)
            _write(kiosk, kept)
    db.session.flush()
    return dropped


def associated_data(kiosk_id: int, client_uuid: str, initiative: str, signed_at: str) -> bytes:
    """What binds a sealed payload to its entry: the same JSON text the tablet builds."""
    fields = [AAD_PURPOSE, str(kiosk_id), client_uuid, initiative, signed_at]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise Unreadable("damaged")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unreadable("damaged") from exc


def _parse(sealed: str) -> dict[str, Any]:
    if len(sealed) > MAX_SEALED_CHARS:
        raise Unreadable("damaged")
    try:
        envelope = json.loads(sealed)
    except (ValueError, RecursionError) as exc:
        raise Unreadable("damaged") from exc
    if not isinstance(envelope, dict) or envelope.get("v") != SEAL_VERSION:
        raise Unreadable("damaged")
    return envelope


def open_sealed(
    kiosk: Kiosk,
    sealed: str,
    *,
    client_uuid: str,
    initiative: str,
    signed_at: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The personal fields inside a sealed entry, or ``Unreadable``.

    Only this kiosk's own keys open it, and only with the associated data the tablet
    sealed it with: moved to another UUID, initiative, time or kiosk, it does not open.
    """
    envelope = _parse(sealed)
    now = now or clock.utcnow()
    wanted = envelope.get("kid")
    key = next((k for k in _read(kiosk) if k.id == wanted and _usable(k, now)), None)
    if key is None:
        raise Unreadable("key")
    wrapped, iv, data = (
        _b64(envelope.get("key")),
        _b64(envelope.get("iv")),
        _b64(envelope.get("data")),
    )
    if len(wrapped) != KEY_BITS // 8 or len(iv) != 12 or len(data) < 16:
        raise Unreadable("damaged")
    private = serialization.load_der_private_key(key.private_der, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)  # noqa: S101 (only RSA keys are made)
    try:
        aes_key = private.decrypt(wrapped, OAEP)
    except ValueError as exc:
        raise Unreadable("damaged") from exc
    if len(aes_key) != 32:
        raise Unreadable("damaged")
    try:
        aad = associated_data(kiosk.id, client_uuid, initiative, signed_at)
        plain = AESGCM(aes_key).decrypt(iv, data, aad)
        fields = json.loads(plain.decode("utf-8"))
    except (InvalidTag, UnicodeError, ValueError, RecursionError) as exc:
        raise Unreadable("damaged") from exc
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    ):
        raise Unreadable("damaged")
    return {k: v for k, v in fields.items() if k not in PLAIN_FIELDS}


def too_old(signed_at: str | None, now: datetime | None = None) -> bool:
    """Whether a queued entry's device time is more than KIOSK_QUEUE_MAX_DAYS ago.

    The tablet drops such entries itself; this is for one that did not (an old script,
    a clock set back and forward).  A time that does not parse is not judged here.
    """
    parsed = clock.parse_utc(signed_at)
    return parsed is not None and parsed < (now or clock.utcnow()) - _max_age()
