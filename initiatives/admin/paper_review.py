"""Paper rows that may be a signature twice, in the admin: the review page, each row's
decision (the same person, or different people) and a rescan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from .. import paper
from .. import paper_review as review_rules  # ``paper_review`` is this module's view
from ..crypto import crypto
from ..extensions import db
from ..forms import ButtonForm
from ..lifecycle import TransitionError
from ..models import Initiative
from . import actor, bp
from .forms import DuplicateForm, PaperDecisionForm
from .initiatives import initiative_or_404
from .paper import shown_name


@bp.get("/initiatives/<slug>/paper/review")
def paper_review(slug: str) -> Any:
    return _review_page(initiative_or_404(slug))


def _review_page(
    initiative: Initiative,
    status: int = 200,
    problem: str | None = None,
    notes: dict[int, str] | None = None,
) -> Any:
    """The rows waiting for review, each with what it matches and the version of the two
    (``paper_review.review_version``) its forms send back: after a refusal, as they are now,
    with the note an organiser typed for a refused "same person" (``notes``, by row)."""
    box = crypto()
    items = []
    for row in review_rules.to_review(initiative):
        name = shown_name(box.decrypt(row.signature.name_enc)) or ""
        postcode = box.decrypt(row.signature.postcode_enc)
        matches = review_rules.review_matches(row)
        items.append((row, name, postcode, matches, review_rules.review_version(row, matches)))
    return render_template(
        "admin/paper_review.html",
        initiative=initiative,
        items=items,
        problem=problem,
        notes=notes or {},
    ), status


# A decision from a review page loaded before its forms sent what it showed (open across
# the deploy): answered like a page that showed something else, never taken.
NO_REVIEW_VERSION = _l("Formuläret saknar uppgifter om vad sidan visade: titta på raden igen.")


def _decide(
    initiative: Initiative,
    row: paper.PaperRow,
    form: PaperDecisionForm,
    decision: Callable[[str], None],
    notes: dict[int, str] | None = None,
) -> Any:
    """Take ``decision`` about ``row`` if the page showed it as it is now; otherwise (or
    refused: the row decided meanwhile, the list handed in) show the review page again
    with a 409 and nothing changed.  None once taken (the caller commits)."""
    try:
        decision(form.seen.data or "")
    except review_rules.PageChanged as exc:
        db.session.rollback()
        problem = str(exc if form.seen.data else NO_REVIEW_VERSION)
        return _review_page(initiative, 409, problem, notes)
    except TransitionError as exc:
        db.session.rollback()
        return _review_page(initiative, 409, str(exc), notes)
    return None


def _row_or_404(initiative: Initiative, signature_id: int) -> paper.PaperRow:
    row = db.session.get(paper.PaperRow, signature_id)
    if row is None or row.signature.initiative_id != initiative.id:
        abort(404)
    return row


@bp.post("/initiatives/<slug>/paper/review/<id:signature_id>/keep")
def paper_keep(slug: str, signature_id: int) -> Any:
    initiative = initiative_or_404(slug)
    row = _row_or_404(initiative, signature_id)
    form = PaperDecisionForm()
    if not form.validate_on_submit():
        abort(400)
    refused = _decide(
        initiative, row, form, lambda seen: review_rules.keep(row, actor(), seen=seen)
    )
    if refused is not None:
        return refused
    db.session.commit()
    flash(_("Raden räknas: det är olika personer."), "success")
    return redirect(url_for("admin.paper_review", slug=slug))


@bp.post("/initiatives/<slug>/paper/review/<id:signature_id>/duplicate")
def paper_duplicate(slug: str, signature_id: int) -> Any:
    initiative = initiative_or_404(slug)
    row = _row_or_404(initiative, signature_id)
    form = DuplicateForm()
    if not form.validate_on_submit():
        problem = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _review_page(initiative, 400, problem, {row.signature_id: form.note.data or ""})
    note = form.note.data or ""
    refused = _decide(
        initiative,
        row,
        form,
        lambda seen: review_rules.resolve_duplicate(row, actor(), note, seen=seen),
        {row.signature_id: note},
    )
    if refused is not None:
        return refused
    db.session.commit()
    flash(_("Raden är markerad som dubblett och räknas inte."), "success")
    return redirect(url_for("admin.paper_review", slug=slug))


@bp.post("/initiatives/<slug>/paper/review/rescan")
def paper_rescan(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    if not ButtonForm().validate_on_submit():
        abort(400)
    done = review_rules.rescan(initiative, actor())
    db.session.commit()
    # A row unflagged may still match a later row, which asks about the two instead.
    cleared = ngettext(
        "%(num)s rad behöver inte längre granskas: den liknar ingen annan underskrift "
        "längre, eller bara rader inskrivna senare, som själva granskas eller har granskats.",
        "%(num)s rader behöver inte längre granskas: de liknar ingen annan underskrift "
        "längre, eller bara rader inskrivna senare, som själva granskas eller har granskats.",
        done.cleared,
    )
    flash(f"{_('%(n)s nya rader att granska.', n=done.flagged)} {cleared}", "success")
    return redirect(url_for("admin.paper_review", slug=slug))
