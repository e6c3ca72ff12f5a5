"""Public pages that are not signing: home, privacy, accessibility, language, health."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
)
from markupsafe import Markup, escape

from . import keycheck, source
from .extensions import db
from .i18n import available_locales, remember_language
from .models import Initiative, InitiativeState

bp = Blueprint("pages", __name__)


def paragraphs(text: str | None) -> Markup:
    """Plain text with blank lines between paragraphs → escaped ``<p>`` elements."""
    blocks = [b.strip() for b in (text or "").replace("\r\n", "\n").split("\n\n") if b.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>").join(escape(line) for line in b.split("\n")))
        for b in blocks
    )


@bp.get("/")
def home() -> str:
    collecting = db.session.scalars(
        sa.select(Initiative)
        .where(Initiative.state == InitiativeState.COLLECTING)
        .order_by(Initiative.closes_at.asc(), Initiative.id)
    ).all()
    open_now = [i for i in collecting if i.accepts_signatures()]
    return render_template("pages/home.html", initiatives=open_now)


@bp.get("/privacy")
def privacy() -> str:
    return render_template("pages/privacy.html")


@bp.get("/accessibility")
def accessibility() -> str:
    return render_template("pages/accessibility.html")


@bp.get("/source")
def source_code() -> Response:
    """The source of the code this site runs (AGPL-3.0 §13): its repository, where the
    operator named one, else an archive of the running code itself."""
    if current_app.config["SOURCE_URL"]:
        return redirect(current_app.config["SOURCE_URL"], code=302)
    data, etag = source.archive()
    response = Response(data, mimetype="application/gzip")
    response.headers["Content-Disposition"] = f'attachment; filename="{source.ARCHIVE_NAME}.tar.gz"'
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    response.set_etag(etag)
    return response.make_conditional(request)


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host): never an open redirect.

    Otherwise the site's start page, under the path the site is mounted at, if any.
    """
    home = f"{request.script_root}/"
    if not target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return home
    if "\\" in target or any(ord(c) < 32 for c in target):
        return home
    return target


@bp.get("/lang/<code>")
def set_language(code: str) -> Response:
    if code not in available_locales():
        abort(404)
    response = redirect(safe_next(request.args.get("next")), code=303)
    remember_language(response, code)
    return response


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        db.session.execute(sa.text("SELECT 1"))
        # A database next to the wrong DATA_KEY is no healthy instance: the duplicate
        # check would miss earlier signatures (see keycheck).
        key_ok = keycheck.cached(current_app._get_current_object()).ok  # type: ignore[attr-defined]
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    if not key_ok:
        return jsonify(status="error", database="ok", data_key="unreadable"), 503
    return jsonify(status="ok", database="ok", data_key="ok"), 200
