"""The submission pack from the admin: choose full or shortened names, download the ZIP."""

from __future__ import annotations

import io
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template, send_file

from .. import pack, paper_review, retention
from ..extensions import db
from ..lifecycle import NOT_HANDED_IN, NamesGone, TransitionError
from ..models import AuditEvent, Initiative
from . import actor, bp
from .forms import PackForm
from .initiatives import initiative_or_404

PACKS_SHOWN = 10


def _packs_made(initiative: Initiative) -> list[AuditEvent]:
    """The packs made of this initiative, newest first (the last ``PACKS_SHOWN``), each
    with its manifest's SHA-256 (the audit log keeps it): the sum the organisers send
    the committee apart from the ZIP, which anchors every other sum in it."""
    query = (
        sa.select(AuditEvent)
        .where(AuditEvent.initiative_id == initiative.id, AuditEvent.action == "pack.generated")
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(PACKS_SHOWN)
    )
    return list(db.session.scalars(query))


def _page(initiative: Any, form: PackForm, status: int = 200, problem: str | None = None) -> Any:
    names = retention.names_deadline(initiative)
    return render_template(
        "admin/pack.html",
        initiative=initiative,
        form=form,
        to_review=paper_review.review_count(initiative.id),
        names=names,
        # The confirmation pack.build asks for when names have gone before the hand-in.
        ask_without_names=bool(names.removed) and initiative.state in NOT_HANDED_IN,
        problem=problem,
        packs=_packs_made(initiative),
    ), status


@bp.get("/initiatives/<slug>/pack")
def pack_page(slug: str) -> Any:
    return _page(initiative_or_404(slug), PackForm(formdata=None))


@bp.post("/initiatives/<slug>/pack")
def pack_download(slug: str) -> Any:
    """Build the pack, record it in the audit log, and send it (a download, so no redirect)."""
    initiative = initiative_or_404(slug)
    form = PackForm()
    if not form.validate_on_submit():
        return _page(initiative, form, 400)
    with TemporaryDirectory(prefix="pack-out-") as tmp:
        try:
            result = pack.build(
                initiative,
                Path(tmp),
                names=form.names.data,
                generated_by=actor(),
                organisation=current_app.config["ORGANISATION_NAME"],
                contact=current_app.config["ORGANISATION_EMAIL"],
                without_names=form.without_names.data,
            )
        except NamesGone as exc:
            # Not confirmed: the form is incomplete (400), the box says what it means.
            db.session.rollback()
            form.without_names.errors = [str(exc)]
            return _page(initiative, form, 400)
        except TransitionError as exc:
            db.session.rollback()
            return _page(initiative, form, 409, str(exc))
        db.session.commit()
        # Read into memory before the directory goes: a few megabytes at most.
        data = result.path.read_bytes()
        name = result.path.name
    response = send_file(
        io.BytesIO(data),
        mimetype="application/zip",
        as_attachment=True,
        download_name=name,
    )
    response.headers["X-Pack-Signatures"] = str(result.total)
    return response
