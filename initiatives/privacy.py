"""Self-service for signers: ask what we store about you (the report comes by email).

The privacy notice itself is ``pages.privacy`` (``/privacy``); withdrawal is the link in
the signer's email (``signing.withdraw``).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale

from . import subject_access
from .extensions import db, limiter
from .forms import DataRequestForm
from .i18n import DEFAULT

bp = Blueprint("privacy", __name__, url_prefix="/privacy")


def _request_limit() -> str:
    return current_app.config["DATA_REQUEST_RATE_LIMIT"]


@bp.route("/request", methods=["GET", "POST"])
@limiter.limit(_request_limit, methods=["POST"])
def request_data() -> Response | tuple[str, int]:
    """The form; a valid POST queues the report and shows the same page in every case."""
    form = DataRequestForm()
    if form.validate_on_submit():
        # The honeypot looks like success and does nothing.
        if not form.website.data:
            subject_access.request_report(form.email.data, str(get_locale() or DEFAULT))
            db.session.commit()
        return redirect(url_for(".request_sent"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("privacy/request.html", form=form), status


@bp.get("/request/sent")
def request_sent() -> str:
    return render_template("privacy/sent.html")
