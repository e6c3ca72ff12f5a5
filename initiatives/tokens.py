"""Signed, expiring tokens for email links: one itsdangerous salt per purpose.

A token only names a signature; whether it may still act is decided by the signature's
state (single use through state).
"""

from __future__ import annotations

import enum
import re

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(enum.StrEnum):
    CONFIRM = "confirm"
    WITHDRAW = "withdraw"


# What a token is made of: URL-safe base64 and the dots between its parts.  Checked
# first, since base64 decoding skips other characters: a token with ">>>>" glued on
# would name its signature, and the page (which shows the token escaped) could not be
# told apart from the token in the per-worker cache.
TOKEN_RE = re.compile(r"[A-Za-z0-9_.-]+")


class TokenError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "expired" or "invalid"


def signing_keys() -> list[str]:
    """SECRET_KEY last (it signs), after SECRET_KEY_FALLBACKS (they still verify).

    Rotating SECRET_KEY through the fallbacks then keeps every link already in signers'
    mail working (and enrolled tablets enrolled), as it keeps sessions.
    """
    fallbacks = current_app.config.get("SECRET_KEY_FALLBACKS") or []
    return [*fallbacks, current_app.config["SECRET_KEY"]]


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_keys(), salt=f"initiatives.token.{purpose.value}")


def max_age(purpose: Purpose) -> int | None:
    """Seconds a link is valid.  A confirmation link: ``CONFIRM_DAYS``, as long as its
    signature waits.  A withdrawal link has no age limit: withdrawing is possible until
    the list is handed in, however long after the signature that is (a 12-month
    collection handed in months after it closed), and what decides it is the
    signature's and the initiative's state, not the mail's age."""
    if purpose is Purpose.CONFIRM:
        return int(current_app.config["CONFIRM_DAYS"] * 86400)
    return None


def make_token(purpose: Purpose, public_id: str, version: int = 0) -> str:
    """A link's token naming a signature, and for a confirmation link the version of
    the signature's details it was made for (``Signature.details_version``).

    Version 0 is the public id alone, as every link was before versions: links already
    in mailboxes read as version 0, and so do new ones of a signature never corrected.
    """
    if version:
        return _serializer(purpose).dumps([public_id, version])
    return _serializer(purpose).dumps(public_id)


def read_token(purpose: Purpose, token: str) -> str:
    """The signature's public id, or TokenError("expired" | "invalid")."""
    return read_versioned_token(purpose, token)[0]


def read_versioned_token(purpose: Purpose, token: str) -> tuple[str, int]:
    """The signature's public id and the details version the link was made for, or
    TokenError("expired" | "invalid")."""
    if len(token) > 200 or not TOKEN_RE.fullmatch(token):
        raise TokenError("invalid")
    try:
        value = _serializer(purpose).loads(token, max_age=max_age(purpose))
    except SignatureExpired as exc:
        raise TokenError("expired") from exc
    except BadSignature as exc:
        raise TokenError("invalid") from exc
    version = 0
    if isinstance(value, list) and len(value) == 2:
        value, version = value
        if type(version) is not int or version < 1:  # bool is an int too: not a version
            raise TokenError("invalid")
    if not isinstance(value, str) or len(value) != 32:
        raise TokenError("invalid")
    return value, version
