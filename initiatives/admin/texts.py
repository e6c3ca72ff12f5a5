"""An initiative's texts in the admin: written freely in a draft, corrected on the record
(an amendment) while collecting, read only after."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import lifecycle, texts
from ..extensions import db
from ..forms import ButtonForm
from ..i18n import available_locales, native_name
from . import actor, bp
from .forms import AmendForm, TextForm
from .initiatives import initiative_or_404


def _locale_or_404(locale: str) -> str:
    if locale not in available_locales():
        abort(404)
    return locale


@bp.route("/initiatives/<slug>/text/<locale>", methods=["GET", "POST"])
def text_edit(slug: str, locale: str) -> Any:
    """Drafts: write the text.  Collecting: an amendment, on the record.  Else: read only."""
    initiative = initiative_or_404(slug)
    _locale_or_404(locale)
    text = next((t for t in initiative.texts if t.locale == locale), None)
    amending = lifecycle.can(initiative, "amend")
    form_class = AmendForm if amending else TextForm
    form = form_class(obj=text)
    problem, conflict = None, False
    editable = lifecycle.can(initiative, "edit_texts") or amending
    if request.method == "POST":
        if not editable:
            abort(409)
        if form.validate_on_submit():
            fields = {
                "title": form.title.data,
                "summary": form.summary.data or "",
                "body": form.body.data or "",
            }
            try:
                if amending:
                    texts.amend(initiative, actor(), locale, note=form.note.data, **fields)
                else:
                    texts.set_text(initiative, actor(), locale, **fields)
            except lifecycle.TransitionError as exc:
                db.session.rollback()
                problem = str(exc)
                # A text that cannot be saved as sent is bad input; a state that moved
                # on since the page was opened (published, closed) is a conflict.
                conflict = not isinstance(exc, texts.TextRefused)
            else:
                db.session.commit()
                flash(_("Texten är sparad."), "success")
                return redirect(url_for("admin.dashboard", slug=initiative.slug))
    status = 409 if conflict else 400 if problem or form.errors else 200
    return render_template(
        "admin/text_form.html",
        initiative=initiative,
        form=form,
        locale=locale,
        language=native_name(locale),
        amending=amending,
        editable=editable,
        amendments=texts.amendments(initiative),
        problem=problem,
        remove_form=ButtonForm(),
    ), status


@bp.post("/initiatives/<slug>/text/<locale>/remove")
def text_remove(slug: str, locale: str) -> Any:
    initiative = initiative_or_404(slug)
    _locale_or_404(locale)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        texts.remove_text(initiative, actor(), locale)
    except lifecycle.TransitionError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.text_edit", slug=slug, locale=locale))
    db.session.commit()
    flash(_("Texten på %(lang)s är borttagen.", lang=native_name(locale)), "success")
    return redirect(url_for("admin.dashboard", slug=slug))
