"""The organisers' admin at /admin: accounts, initiatives, signatures, paper, exports.

Everything here is behind a login (Flask-Login) except the login pages themselves.  A
session ends after ``ADMIN_IDLE_MINUTES`` without a request; and every session of an
account, in every browser, ends when she logs out, when its password, two-factor or role
changes, or when it is deactivated (see ``accounts.end_sessions``).  Views are
thin: the rules live in ``accounts``, ``lifecycle``, ``moderation``, ``paper`` and
``pack``.

The other issues' admin pages are modules of this package too: ``kiosks`` (stand
tablets: create with an enrolment code, list, new code, revoke), ``review`` (abuse
review: bursts, preview, invalidate, restore) and ``campaign`` (campaign tags and their
material), on the rules of ``kiosks``, ``abuse`` and ``campaign``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Request,
    abort,
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, logout_user
from werkzeug.routing import IntegerConverter

from .. import accounts

bp = Blueprint("admin", __name__, url_prefix="/admin")
login_manager = LoginManager()

# Reachable without a session: the two login steps and nothing else.
OPEN_ENDPOINTS = {"admin.login", "admin.login_code"}
SEEN_KEY = "admin_seen"


class AdminRequest(Request):
    """Allows one larger body: the committee's answer as PDF (everything else stays small).

    The limit must be known before the CSRF check reads the form, which runs before any
    blueprint hook, hence here.
    """

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        limit = super().max_content_length
        if self.path.startswith("/admin/") and self.path.endswith("/answer"):
            return max(limit or 0, current_app.config["ADMIN_UPLOAD_MAX_BYTES"])
        return limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


class RowIdConverter(IntegerConverter):
    """``<id:...>`` in a route: a row's id, at most nine digits.

    A longer, forged number would overflow the query (OverflowError on SQLite, out of
    range for PostgreSQL's integer) and answer 500; as a pattern it is simply no page
    (404), before any method check.  Nine digits is far beyond any id made here.
    """

    regex = r"\d{1,9}"


def actor() -> str:
    """The name the audit log gives the organiser doing this request."""
    return current_user.label


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only the ``admin`` role (account management)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.before_request
def require_login() -> Any:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    now = int(time.time())
    seen = session.get(SEEN_KEY)
    idle = current_app.config["ADMIN_IDLE_MINUTES"] * 60
    if not isinstance(seen, int) or now - seen > idle:
        logout_user()
        session.clear()
        flash(_l("Du var inaktiv för länge och har loggats ut. Logga in igen."), "info")
        return redirect(url_for("admin.login"))
    session[SEEN_KEY] = now
    return None


@bp.context_processor
def user_context() -> dict[str, Any]:
    """``current_user`` for admin templates only (see ``configure_admin``)."""
    return {"current_user": current_user}


@bp.after_request
def no_cache(response: Any) -> Any:
    # Admin pages hold personal data: never stored by a browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


def configure_admin(app: Flask) -> None:
    """Register the admin blueprint, the session handling and the larger-upload rule."""
    # Flask-Login's context processor would load the user on every template render, and
    # its session protection then writes into every visitor's session.  Public pages must
    # leave an anonymous session alone (and stay cacheable): only admin templates get
    # ``current_user``.
    login_manager.init_app(app, add_context_processor=False)
    login_manager.login_view = "admin.login"
    login_manager.login_message = _l("Logga in för att fortsätta.")
    login_manager.login_message_category = "info"
    login_manager.user_loader(accounts.load_session_user)
    app.request_class = AdminRequest
    app.url_map.converters["id"] = RowIdConverter

    from . import auth, campaign, exports, initiatives, kiosks, paper, review, signatures  # noqa: F401  (routes)

    app.register_blueprint(bp)
