"""The stand tablet's identity: a signed, HttpOnly, SameSite=Strict cookie under /kiosk.

The cookie holds the kiosk's id and the device secret; the database holds only the
secret's hash.  Each request to /kiosk re-checks it against the database, so a revoked
(or re-enrolled) kiosk locks its old tablet out on the very next request.
"""

from __future__ import annotations

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from . import kiosks
from .extensions import hashed_client_address
from .tokens import signing_keys

COOKIE = "kiosk_device"
COOKIE_PATH = "/kiosk"
# Browsers cap cookie lifetimes at 400 days; a tablet stays enrolled for a campaign.
COOKIE_MAX_AGE = 400 * 86400


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_keys(), salt="initiatives.kiosk.device-cookie")


def _read_cookie() -> tuple[int, str] | None:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 500:
        return None
    try:
        data = _serializer().loads(raw, max_age=COOKIE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    kiosk_id, secret = data.get("k"), data.get("d")
    if not isinstance(kiosk_id, int) or not isinstance(secret, str):
        return None
    return kiosk_id, secret


def device_key() -> str:
    """Rate-limit key: the enrolled device, not the address (a stand shares one NAT).

    A browser without a tablet's cookie is counted by its address, hashed as every
    other limit's key is (``hashed_client_address``): the key is stored in Redis and
    written to the log when the limit is hit, and an address is personal data.
    """
    found = _read_cookie()
    if found is None:
        return f"kiosk-addr:{hashed_client_address()}"
    return f"kiosk-device:{found[0]}:{kiosks.device_hash(found[1])[:24]}"


def set_device_cookie(response: BaseResponse, kiosk: kiosks.Kiosk, secret: str) -> None:
    """Bind this browser to ``kiosk``: Secure when the site runs on https."""
    # A stale cookie this request came with is replaced, not deleted after the new one
    # (the browser would apply the deletion last and be unbound at once).
    g.drop_cookie = False
    response.set_cookie(
        COOKIE,
        _serializer().dumps({"k": kiosk.id, "d": secret}),
        max_age=COOKIE_MAX_AGE,
        path=COOKIE_PATH,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Strict",
    )


def load_device() -> None:
    """Before each kiosk request: ``g.kiosk`` is the enrolled kiosk, or None."""
    g.kiosk = None
    g.device_secret = None
    found = _read_cookie()
    if found is None:
        g.drop_cookie = COOKIE in request.cookies
        return
    kiosk = kiosks.by_device(*found)
    if kiosk is None:
        g.drop_cookie = True  # revoked, left, or re-enrolled on another tablet
        return
    g.kiosk = kiosk
    g.device_secret = found[1]


def forget_stale_cookie(response: Response) -> Response:
    """After each kiosk request: a cookie that no longer unlocks anything is deleted.

    Kiosk pages also send the Referer to this site (never to others): behind https,
    Flask-WTF refuses a form POST without one, and "no-referrer" would drop it.
    """
    if g.get("drop_cookie"):
        forget_device_cookie(response)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def forget_device_cookie(response: BaseResponse) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict")
