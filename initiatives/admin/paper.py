"""Paper sheets in the admin: record a sheet, type its rows, correct either (the review
of rows that may be a signature twice is ``paper_review``)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from .. import clock, names, paper, paper_corrections
from .. import paper_review as review_rules
from ..crypto import crypto
from ..extensions import db
from ..lifecycle import TransitionError, local_date
from ..models import Initiative
from ..qr import printable
from . import actor, bp
from .campaign import published
from .forms import (
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
        # The blank sheet to print (admin.campaign): while the collection takes signatures.
        sheet_printable=published(initiative) and printable(initiative),
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


def shown_name(name: str | None) -> str | None:
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
        (
            row,
            shown_name(box.decrypt(row.signature.name_enc)),
            box.decrypt(row.signature.postcode_enc),
        )
        for row in sheet.rows
    ]
    # The next row's date starts as the last row's (a sheet signed over several days is
    # typed in signing order), or the sheet's for its first row.
    last = sheet.rows[-1].signature.confirmed_at if sheet.rows else None
    form = form or PaperRowForm(
        formdata=None, signed_on=local_date(last) if last else sheet.collected_on
    )
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
    name = shown_name(box.decrypt(row.signature.name_enc))
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
