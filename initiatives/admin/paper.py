"""Paper sheets in the admin: record a sheet, type its rows, review possible duplicates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from .. import clock, names, paper, paper_corrections
from .. import paper_review as review_rules  # ``paper_review`` is the review page's view
from ..crypto import crypto
from ..extensions import db
from ..forms import ButtonForm
from ..lifecycle import TransitionError, local_date
from ..models import Initiative
from . import actor, bp
from .forms import (
    DuplicateForm,
    PaperDecisionForm,
    PaperRowCorrectionForm,
    PaperRowForm,
    SheetCorrectionForm,
    SheetForm,
)
from .initiatives import initiative_or_404


def _sheets_page(
    initiative: Initiative,
    form: SheetForm | None = None,
    status: int = 200,
    problem: str | None = None,
) -> Any:
    form = form or SheetForm(formdata=None, collected_on=local_date(clock.utcnow()))
    return render_template(
        "admin/paper_sheets.html",
        initiative=initiative,
        sheets=paper.sheets(initiative),
        form=form,
        to_review=review_rules.review_count(initiative.id),
        problem=problem,
    ), status


@bp.get("/initiatives/<slug>/paper")
def paper_sheets(slug: str) -> Any:
    return _sheets_page(initiative_or_404(slug))


@bp.post("/initiatives/<slug>/paper")
def paper_sheet_add(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    form = SheetForm()
    if not form.validate_on_submit():
        return _sheets_page(initiative, form, 400)
    try:
        sheet = paper.add_sheet(
            initiative,
            actor(),
            number=form.number.data,
            collected_on=form.collected_on.data,
            collected_by=form.collected_by.data,
        )
    except TransitionError as exc:
        db.session.rollback()
        return _sheets_page(initiative, form, _status(exc), _refused(form, exc))
    db.session.commit()
    return redirect(url_for("admin.paper_sheet", slug=slug, sheet_id=sheet.id))


def _status(exc: TransitionError) -> int:
    """The status of a refusal: 400 for a sheet or row that cannot be saved as sent
    (``paper.PaperRefused``), 409 for the others, as before."""
    return 400 if isinstance(exc, paper.PaperRefused) else 409


def _refused(form: Any, exc: TransitionError) -> str | None:
    """Put a refusal about one field (a date, a sheet's number taken) on that field (the
    inline error, and the error summary that links to it, as for a date the form cannot
    read); return what is left for the page's banner: a refusal about no one field (the
    state moved on)."""
    if isinstance(exc, paper.PaperRefused | paper.NumberTaken) and exc.field in form:
        form[exc.field].errors = [*form[exc.field].errors, str(exc)]
        return None
    return str(exc)


def _shown(name: str | None) -> str | None:
    """A name for the organiser's eyes: without direction controls, also in one stored
    before the form removed them (see names.INVISIBLE)."""
    return names.without_invisible(name) if name is not None else None


def _sheet_or_404(initiative: Initiative, sheet_id: int) -> paper.PaperSheet:
    sheet = db.session.get(paper.PaperSheet, sheet_id)
    if sheet is None or sheet.initiative_id != initiative.id:
        abort(404)
    return sheet


def _sheet_page(
    initiative: Initiative,
    sheet: paper.PaperSheet,
    form: PaperRowForm | None = None,
    status: int = 200,
    problem: str | None = None,
) -> Any:
    box = crypto()
    rows = [
        (row, _shown(box.decrypt(row.signature.name_enc)), box.decrypt(row.signature.postcode_enc))
        for row in sheet.rows
    ]
    form = form or PaperRowForm(formdata=None, signed_on=sheet.collected_on)
    return render_template(
        "admin/paper_sheet.html",
        initiative=initiative,
        sheet=sheet,
        rows=rows,
        form=form,
        open=initiative.state in paper.PAPER_STATES,
        problem=problem,
    ), status


@bp.get("/initiatives/<slug>/paper/<id:sheet_id>")
def paper_sheet(slug: str, sheet_id: int) -> Any:
    initiative = initiative_or_404(slug)
    return _sheet_page(initiative, _sheet_or_404(initiative, sheet_id))


@bp.post("/initiatives/<slug>/paper/<id:sheet_id>")
def paper_row_add(slug: str, sheet_id: int) -> Any:
    initiative = initiative_or_404(slug)
    sheet = _sheet_or_404(initiative, sheet_id)
    form = PaperRowForm()
    if not form.validate_on_submit():
        return _sheet_page(initiative, sheet, form, 400)
    try:
        row, matches = paper.add_row(
            sheet,
            actor(),
            name=form.name.data,
            postcode=form.postcode.data,
            signed_on=form.signed_on.data,
        )
    except TransitionError as exc:
        db.session.rollback()
        return _sheet_page(initiative, sheet, form, _status(exc), _refused(form, exc))
    db.session.commit()
    if matches:
        flash(
            _(
                "Rad %(line)s sparad, men den liknar en annan underskrift och behöver granskas.",
                line=row.line,
            ),
            "warning",
        )
    else:
        flash(_("Rad %(line)s sparad.", line=row.line), "success")
    # Ready for the next row, with the same date.
    return redirect(url_for("admin.paper_sheet", slug=slug, sheet_id=sheet.id) + "#row-form")


# A correction form without the version of the page it came from (or with a forged
# one) cannot be checked against what the organiser saw.
NO_VERSION = _l("Formuläret saknar uppgifter om vad sidan visade. Ladda om sidan och rätta igen.")


def _form_problem(form: Any) -> str | None:
    return str(NO_VERSION) if form.seen.errors else None


def _sheet_edit_page(
    initiative: Initiative,
    sheet: paper.PaperSheet,
    form: SheetCorrectionForm | None = None,
    status: int = 200,
    problem: str | None = None,
) -> Any:
    form = form or SheetCorrectionForm(formdata=None, obj=sheet)
    # The version of what this page shows: sent back, it says what the correction was
    # made from (after a refusal, what is stored now, shown above the form).
    form.seen.data = paper_corrections.sheet_version(sheet)
    return render_template(
        "admin/paper_sheet_edit.html",
        initiative=initiative,
        sheet=sheet,
        form=form,
        open=initiative.state in paper.PAPER_STATES,
        problem=problem,
    ), status


@bp.get("/initiatives/<slug>/paper/<id:sheet_id>/edit")
def paper_sheet_edit(slug: str, sheet_id: int) -> Any:
    initiative = initiative_or_404(slug)
    return _sheet_edit_page(initiative, _sheet_or_404(initiative, sheet_id))


@bp.post("/initiatives/<slug>/paper/<id:sheet_id>/edit")
def paper_sheet_correct(slug: str, sheet_id: int) -> Any:
    initiative = initiative_or_404(slug)
    sheet = _sheet_or_404(initiative, sheet_id)
    form = SheetCorrectionForm()
    if not form.validate_on_submit():
        return _sheet_edit_page(initiative, sheet, form, 400, _form_problem(form))
    try:
        changed = paper_corrections.correct_sheet(
            sheet,
            actor(),
            seen=form.seen.data,
            number=form.number.data,
            collected_on=form.collected_on.data,
            collected_by=form.collected_by.data,
        )
    except TransitionError as exc:
        db.session.rollback()
        return _sheet_edit_page(initiative, sheet, form, _status(exc), _refused(form, exc))
    db.session.commit()
    if changed:
        flash(_("Listans uppgifter är rättade."), "success")
    else:
        flash(_("Inget ändrades: listan har redan de uppgifterna."), "info")
    return redirect(url_for("admin.paper_sheet", slug=slug, sheet_id=sheet.id))


def _sheet_row_or_404(sheet: paper.PaperSheet, signature_id: int) -> paper.PaperRow:
    row = db.session.get(paper.PaperRow, signature_id)
    if row is None or row.sheet_id != sheet.id:
        abort(404)
    return row


def _row_edit_page(
    initiative: Initiative,
    row: paper.PaperRow,
    form: PaperRowCorrectionForm | None = None,
    status: int = 200,
    problem: str | None = None,
) -> Any:
    box = crypto()
    name = _shown(box.decrypt(row.signature.name_enc))
    postcode = box.decrypt(row.signature.postcode_enc)
    form = form or PaperRowCorrectionForm(
        formdata=None,
        name=name,
        postcode=postcode,
        signed_on=paper_corrections.row_signed_on(row),
    )
    form.seen.data = paper_corrections.row_version(row)  # see _sheet_edit_page
    return render_template(
        "admin/paper_row_edit.html",
        initiative=initiative,
        sheet=row.sheet,
        row=row,
        name=name,
        postcode=postcode,
        form=form,
        open=initiative.state in paper.PAPER_STATES,
        problem=problem,
    ), status


@bp.get("/initiatives/<slug>/paper/<id:sheet_id>/rows/<id:signature_id>")
def paper_row_edit(slug: str, sheet_id: int, signature_id: int) -> Any:
    initiative = initiative_or_404(slug)
    row = _sheet_row_or_404(_sheet_or_404(initiative, sheet_id), signature_id)
    return _row_edit_page(initiative, row)


@bp.post("/initiatives/<slug>/paper/<id:sheet_id>/rows/<id:signature_id>")
def paper_row_correct(slug: str, sheet_id: int, signature_id: int) -> Any:
    initiative = initiative_or_404(slug)
    row = _sheet_row_or_404(_sheet_or_404(initiative, sheet_id), signature_id)
    form = PaperRowCorrectionForm()
    if not form.validate_on_submit():
        return _row_edit_page(initiative, row, form, 400, _form_problem(form))
    try:
        done = paper_corrections.correct_row(
            row,
            actor(),
            seen=form.seen.data,
            name=form.name.data,
            postcode=form.postcode.data,
            signed_on=form.signed_on.data,
        )
    except TransitionError as exc:
        db.session.rollback()
        return _row_edit_page(initiative, row, form, _status(exc), _refused(form, exc))
    db.session.commit()
    if not done.changed:
        flash(_("Inget ändrades: raden har redan de uppgifterna."), "info")
    elif done.waiting and done.matches:
        flash(
            _(
                "Rad %(line)s är rättad, men den liknar en annan underskrift och behöver granskas.",
                line=row.line,
            ),
            "warning",
        )
    elif done.waiting:
        # A new date leaves its flag: the organiser should not think it went with it.
        flash(
            _("Rad %(line)s är rättad och väntar fortfarande på granskning.", line=row.line), "info"
        )
    elif done.matches:
        # It matches only rows typed after it that wait for review: they ask about it.
        flash(
            _(
                "Rad %(line)s är rättad. Den liknar bara rader inskrivna senare, som väntar på "
                "granskning.",
                line=row.line,
            ),
            "info",
        )
    else:
        flash(_("Rad %(line)s är rättad.", line=row.line), "success")
    if done.cleared:
        flash(
            ngettext(
                "%(num)s annan rad behöver inte längre granskas: den liknade bara det som "
                "stod förut, eller liknar nu bara rader inskrivna senare, som själva "
                "granskas eller har granskats.",
                "%(num)s andra rader behöver inte längre granskas: de liknade bara det som "
                "stod förut, eller liknar nu bara rader inskrivna senare, som själva "
                "granskas eller har granskats.",
                done.cleared,
            ),
            "info",
        )
    return redirect(url_for("admin.paper_sheet", slug=slug, sheet_id=sheet_id))


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
        name = _shown(box.decrypt(row.signature.name_enc)) or ""
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


def sheet_count(initiative: Initiative) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count(paper.PaperSheet.id)).where(
                paper.PaperSheet.initiative_id == initiative.id
            )
        )
        or 0
    )
