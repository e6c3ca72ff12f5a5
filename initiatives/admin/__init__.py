"""The organisers' admin at /admin: accounts, initiatives, signatures, paper, exports.

Everything here is behind a login (Flask-Login) except the login pages themselves.  A
session ends after ``ADMIN_IDLE_MINUTES`` without a request, and ``ADMIN_SESSION_HOURS``
after its login however busy; and every session of an
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
from urllib.parse import urlsplit

from babel.numbers import format_decimal
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
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, RequestRedirect
from werkzeug.wrappers import Response

from .. import accounts
from ..errors import CSRF_MESSAGE, error_response

bp = Blueprint("admin", __name__, url_prefix="/admin")
login_manager = LoginManager()

# Reachable without a session: the two login steps and nothing else.
OPEN_ENDPOINTS = {"admin.login", "admin.login_code"}
SEEN_KEY = "admin_seen"
SINCE_KEY = "admin_since"  # when this session logged in (ADMIN_SESSION_HOURS)

# Actions (POST only) whose form is not on the page above them in the path: where a
# login that interrupted one of them leads (see ``page_for``).
FORM_PAGES = {
    "admin.publish": "admin.lifecycle_page",
    "admin.close": "admin.lifecycle_page",
    "admin.submit": "admin.lifecycle_page",
    "admin.answer": "admin.lifecycle_page",
    "admin.withdraw": "admin.lifecycle_page",
    "admin.totp_start": "admin.account",
    "admin.totp_disable": "admin.account",
}
# Actions whose form is on a page that needs its query (the review's preview shows a
# selection): that page, and the fields of the posted form that are its parameters.
FORM_QUERIES = {
    "admin.review_invalidate": (
        "admin.review_preview",
        ("client", "domain", "kiosk", "since", "until"),
    ),
}
# Longer than any value such a page takes (an address's domain, a time): no query at all.
QUERY_VALUE_MAX = 300
# Where Flask-Login keeps the id of the user a session logged in (until she logs out).
LOGIN_SESSION_KEY = "_user_id"
NOT_SAVED = _l("Det du skickade sparades inte. Logga in och gör det igen.")


class AdminRequest(Request):
    """Allows one larger body: the committee's answer as PDF (everything else stays small).

    The limit must be known before the CSRF check reads the form, which runs before any
    blueprint hook, hence here.  And only for a session an organiser logged in to: else
    anyone could make the server read and spool a large body, which the CSRF check reads
    before the login check refuses it.  The session is enough (no query): one whose
    login has since ended (idle, logged out elsewhere) still gets the larger limit, so
    that the login check tells her that her answer was not saved, rather than a 413.
    """

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        limit = super().max_content_length
        if (
            self.path.startswith("/admin/")
            and self.path.endswith("/answer")
            and session.get(LOGIN_SESSION_KEY) is not None
        ):
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


def _matches(adapter: Any, path: str, method: str) -> tuple[str, dict[str, Any]] | None:
    try:
        return adapter.match(path, method=method)
    except (HTTPException, RequestRedirect):  # no such page, not by this method, a redirect
        return None


def page_for(target: str) -> str:
    """Where a login for ``target`` (an admin URL) leads: itself if it is a page.

    An action that only takes POST is no page: opened after the login it would answer
    405.  Its form's page instead (``FORM_PAGES``), else the nearest page above it in
    the path (``.../accounts/3/role`` → ``.../accounts``), else the admin start page.
    """
    home = url_for("admin.index")
    root = request.script_root
    parts = urlsplit(target)
    if not parts.path.startswith(f"{root}{bp.url_prefix}/"):
        return home
    adapter = current_app.create_url_adapter(request)
    path = parts.path[len(root) :]
    if _matches(adapter, path, "GET"):
        return target
    action = _matches(adapter, path, "POST")
    if action and action[0] in FORM_PAGES:
        return adapter.build(FORM_PAGES[action[0]], action[1])
    while path.count("/") > 2:  # not above /admin/...
        path = path.rsplit("/", 1)[0]
        page = _matches(adapter, path, "GET")
        if page and page[0] not in OPEN_ENDPOINTS:
            return root + path
    return home


def _form_page() -> str:
    """The page a form sent to this request came from: ``page_for`` its action, or for
    one in ``FORM_QUERIES`` its page with the parameters taken back from the form sent.

    Only that page's own parameters, as its query (built by ``url_for``, so the page
    stays the one named, inside the admin); the page checks them as ever.  Without
    them, or with one longer than any it takes: ``page_for``'s page.
    """
    found = FORM_QUERIES.get(request.endpoint or "")
    if found is None:
        return page_for(request.path)
    endpoint, fields = found
    query = {name: request.form.get(name, "") for name in fields}
    query = {name: value for name, value in query.items() if value}
    if not query or any(len(value) > QUERY_VALUE_MAX for value in query.values()):
        return page_for(request.path)
    return url_for(endpoint, **(request.view_args or {}), **query)


def _not_saved(why: object) -> Response:
    """A form sent after the session ended: to the login page, saying that it was not
    carried out, and after the login to the page it came from (``_form_page``)."""
    flash(f"{why} {NOT_SAVED}", "info")
    return redirect(url_for("admin.login", next=_form_page()))


@bp.before_request
def require_login() -> Any:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if request.endpoint == "admin.logout" and not current_user.is_authenticated:
        # Already logged out (elsewhere, or idle in another tab): that is what she wanted.
        flash(_l("Du är utloggad."), "info")
        return redirect(url_for("admin.login"))
    if not current_user.is_authenticated:
        if request.method in ("GET", "HEAD"):
            return login_manager.unauthorized()
        return _not_saved(_l("Du hade loggats ut."))
    now = int(time.time())
    seen = session.get(SEEN_KEY)
    idle = current_app.config["ADMIN_IDLE_MINUTES"] * 60
    if request.endpoint != "admin.logout" and (not isinstance(seen, int) or now - seen > idle):
        return _end_session(
            _l("Du var inaktiv för länge och har loggats ut. Logga in igen."),
            _l("Du var inaktiv för länge och har loggats ut."),
        )
    # However busy: a session (or a copy of its cookie, which the idle rule alone would keep
    # alive as long as it is used) ends ADMIN_SESSION_HOURS after the login.  A session from
    # before this rule has no login time: it counts from now.
    since = session.setdefault(SINCE_KEY, now)
    longest = current_app.config["ADMIN_SESSION_HOURS"] * 3600
    if request.endpoint != "admin.logout" and (not isinstance(since, int) or now - since > longest):
        return _end_session(
            _l("Du har varit inloggad länge och har loggats ut. Logga in igen."),
            _l("Du har varit inloggad länge och har loggats ut."),
        )
    session[SEEN_KEY] = now
    return None


def _end_session(page_message: Any, form_message: Any) -> Response:
    """Log out this browser: to the login page with ``page_message`` and after the login
    back to the page she asked for, or with ``form_message`` and "not saved" (a form she
    sent)."""
    logout_user()
    session.clear()
    if request.method in ("GET", "HEAD"):
        flash(page_message, "info")
        query = request.query_string.decode("utf-8", "replace")
        back = page_for(request.path) + (f"?{query}" if query else "")
        return redirect(url_for("admin.login", next=back))
    return _not_saved(form_message)


@bp.errorhandler(CSRFError)
def form_without_session(exc: CSRFError) -> Any:
    """A form's token was refused.  With no one logged in the session is gone (the
    browser was closed, or the cookie cleared): the login, saying it was not saved, as
    for a session that ended (``require_login``, which CSRF runs before).  Logged in, a
    stale or forged token: the usual 400."""
    if request.endpoint not in OPEN_ENDPOINTS and not current_user.is_authenticated:
        return _not_saved(_l("Du hade loggats ut."))
    return error_response(400, str(CSRF_MESSAGE))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> Any:
    """A body over its limit, refused by its length before anything read it.  With no
    one logged in, the answer's larger limit did not apply (``AdminRequest``): she may
    be an organiser whose browser lost its session cookie, so the login, saying it was
    not saved, as for any form sent after the session ended.  Logged in: the answer's
    file is beyond ADMIN_UPLOAD_MAX_BYTES, which the page names; any other form, the
    usual 413."""
    if request.endpoint not in OPEN_ENDPOINTS and not current_user.is_authenticated:
        return _not_saved(_l("Du hade loggats ut."))
    if request.endpoint == "admin.answer":
        megabytes = current_app.config["ADMIN_UPLOAD_MAX_BYTES"] / (1024 * 1024)
        largest = format_decimal(megabytes, format="#,##0.#", locale="sv_SE")
        return error_response(
            413, f"Filen är för stor: svaret som PDF får vara högst {largest} MB. Inget sparades."
        )
    return error_response(413)


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

    from . import (  # noqa: F401  (routes)
        auth,
        campaign,
        exports,
        initiatives,
        kiosks,
        paper,
        paper_review,
        review,
        signatures,
        texts,
    )

    app.register_blueprint(bp)
