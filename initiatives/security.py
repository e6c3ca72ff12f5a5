"""Security headers on every response, and caching rules.

The Content-Security-Policy allows only this origin: no inline script or style, no
third-party origins, no framing.  Pages default to ``no-store`` (they carry forms, tokens
or a language choice); views that serve public, cacheable data set their own
Cache-Control.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)


# Set on every response unless a view set its own (in this order).
_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # Confirmation and withdrawal URLs carry tokens: never leak a URL to another site.
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
_HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
_NAMES = frozenset(name.lower() for name, _value in (*_HEADERS, _HSTS, ("Cache-Control", "")))


def set_security_headers(response: Response) -> Response:
    """Add the headers a view did not set itself, in one pass over the response's.

    (Eight ``setdefault`` calls each scanned the header list and checked the values.)
    """
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()} & _NAMES
    missing = [(name, value) for name, value in _HEADERS if name.lower() not in present]
    if request.is_secure and "strict-transport-security" not in present:
        missing.append(_HSTS)
    if "cache-control" not in present and request.endpoint != "static":
        missing.append(("Cache-Control", "no-store"))
    headers.extend(missing)
    return response


class UndecodableForm(BadRequest):
    """The form body is not valid UTF-8 (or not the ASCII a browser sends)."""


def reject_undecodable_forms() -> None:
    """Refuse JSON bodies, and URL-encoded bodies that do not decode strictly as UTF-8.

    Werkzeug silently drops or re-quotes undecodable values, which would show the signer
    a misleading message (or store ``%FF`` as a name); we say what is wrong instead.
    The body is cached here and parsed from the cache afterwards.

    Every form here, the tablet's queue included, posts form data.  Flask-WTF would
    read a JSON body as the form instead (with the CSRF token in a header), and JSON
    can carry what no form field can: numbers, lists, a bare string, lone surrogates.
    """
    if request.is_json and request.method not in ("GET", "HEAD", "OPTIONS"):
        raise UnsupportedMediaType()
    if request.mimetype != "application/x-www-form-urlencoded":
        return
    raw = request.get_data(cache=True)
    try:
        parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise UndecodableForm() from exc


# Requests under it never read or write the session (see ``open_session``).
SESSIONLESS_PREFIX = "/api/"


class PublicAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, which leaves responses meant for everyone alone.

    A response marked ``Cache-Control: public`` (the JSON counts, QR codes, posters) is
    the same for every visitor, so it neither sets the session cookie nor says
    ``Vary: Cookie``.  Flask adds that header as soon as anything has looked at the
    session (Flask-Login does on every request), and a CDN or proxy then keeps one copy
    per visitor's cookie, or none: the readers of a counter in a surge would all reach
    the app.  A view that changed the session still gets the usual handling.
    """

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        # Flask builds a new serializer for every request (its check that the serializer
        # makes text encodes a JSON object each time); one per set of keys is enough.
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializers.get(keys)
        if cached is None:
            cached = self._serializers[keys] = super().get_signing_serializer(app)
        return cached

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        # The public JSON (``api``) never uses the session, yet the counter widget's polls
        # carry the page's session cookie: checking its signature was about a sixth of
        # such a request's CPU.  An empty session, unmodified, leaves the cookie alone.
        if request.path.startswith(SESSIONLESS_PREFIX):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if response.cache_control.public and not session.modified:
            return
        super().save_session(app, session, response)


def configure_security(app: Flask) -> None:
    app.session_interface = PublicAwareSessionInterface()
    app.after_request(set_security_headers)
