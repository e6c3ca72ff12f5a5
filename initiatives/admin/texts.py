"""An initiative's texts in the admin: written freely in a draft, corrected on the record
(an amendment) while collecting, read only after."""

from __future__ import annotations

from typing import Any

from babel import Locale
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import lifecycle, texts
from ..extensions import db
from ..i18n import available_locales
from ..models import Initiative
from . import actor, bp
from .forms import AmendForm, TextForm, TextRemoveForm
from .initiatives import initiative_or_404, state_label


def language_in_swedish(code: str) -> str:
    """The language's Swedish name, as a Swedish sentence writes it: "Text på arabiska"
    (its own name, "العربية", inside a Swedish sentence reads as a typing error)."""
    return Locale.parse(code).get_display_name("sv") or code


def _locale_or_404(locale: str) -> str:
    if locale not in available_locales():
        abort(404)
    return locale


# A form without the version of the text its page showed (or with a forged one) cannot
# be checked against what the organiser saw.
NO_VERSION = _l(
    "Formuläret saknar uppgifter om vilken text sidan visade. Den som är sparad nu visas "
    "ovanför formuläret: jämför och spara igen."
)

# The draft's page asked for no reason; a published text changes only with one.
PUBLISHED_SINCE = _l(
    "Initiativet har publicerats sedan du öppnade sidan, så texten sparades inte. En "
    "publicerad text ändras bara med en rättelse där du anger skälet. Den text som är "
    "sparad nu visas ovanför formuläret och det du skrev finns kvar i det: skriv vad som "
    "rättas och varför och spara rättelsen om ändringen fortfarande behövs."
)

# Closed, handed in or withdrawn since the page was opened: no form can change the text
# now, but what was typed is worth keeping (copied into a note, or a later initiative).
MOVED_ON = _l(
    "Initiativet har bytt läge sedan du öppnade sidan och är nu %(state)s, så texten kan "
    "inte längre ändras och det du skrev sparades inte. Den text som är sparad visas "
    "ovanför formuläret och det du skrev finns kvar i det, så att du kan kopiera det."
)

REMOVE_MOVED_ON = _l(
    "Initiativet har bytt läge sedan du öppnade sidan och är nu %(state)s, så texten kan "
    "inte tas bort. Den är kvar och lyder så här."
)

REMOVE_NO_VERSION = _l(
    "Formuläret saknar uppgifter om vilken text sidan visade, och texten är inte borttagen. "
    "Så här lyder den nu: ta bort den igen om den ska bort."
)


def _text_page(
    initiative: Initiative,
    locale: str,
    form: TextForm,
    status: int = 200,
    problem: str | None = None,
    *,
    compare: bool = True,
) -> Any:
    """The text page.  ``compare``: the form holds what the organiser sent (not the
    stored text), so a refusal shows the stored text beside it."""
    amending = lifecycle.can(initiative, "amend")
    # What is stored now, shown above the form when what the organiser sent was made
    # from another text (or from no known one): she merges by hand.
    show_stored = compare and (status == 409 or bool(form.seen.errors))
    if show_stored or not form.seen.data:
        # Sent back, the version says the next save was made from what is shown now.
        # After a form error it stays the one the organiser's page was opened with.
        form.seen.data = texts.text_version(initiative, locale)
    # The form shown, not the state: a page refused after the collection closed still
    # shows the correction's reason that was typed.
    form.opened_as.data = "amendment" if isinstance(form, AmendForm) else "draft"
    return render_template(
        "admin/text_form.html",
        initiative=initiative,
        form=form,
        locale=locale,
        language=language_in_swedish(locale),
        amending=amending,
        editable=lifecycle.can(initiative, "edit_texts") or amending,
        amendments=texts.amendments(initiative),
        problem=problem,
        stored=texts.stored_text(initiative, locale) if show_stored else None,
        show_stored=show_stored,
        remove_form=TextRemoveForm(formdata=None, seen=form.seen.data),
    ), status


def _texts_open(initiative: Initiative) -> bool:
    """Whether a text page can change the text now (a draft's edit or a correction)."""
    return lifecycle.can(initiative, "edit_texts") or lifecycle.can(initiative, "amend")


def _moved_on_page(initiative: Initiative, locale: str) -> Any:
    """409: the initiative left the states its text can change in since the page was
    opened.  What was typed comes back in the form the page showed (a correction's with
    its reason), the stored text above it."""
    sent_as = AmendForm if request.form.get("opened_as") == "amendment" else TextForm
    problem = MOVED_ON % {"state": state_label(initiative.state)}
    return _text_page(initiative, locale, sent_as(), 409, problem)


@bp.route("/initiatives/<slug>/text/<locale>", methods=["GET", "POST"])
def text_edit(slug: str, locale: str) -> Any:
    """Drafts: write the text.  Collecting: an amendment, on the record.  Else: read only."""
    initiative = initiative_or_404(slug)
    _locale_or_404(locale)
    amending = lifecycle.can(initiative, "amend")
    form_class = AmendForm if amending else TextForm
    form = form_class(obj=texts.stored_text(initiative, locale))
    if request.method == "GET":
        return _text_page(initiative, locale, form)
    if not _texts_open(initiative):
        return _moved_on_page(initiative, locale)
    if amending and form.opened_as.data == "draft":
        # Sent from a draft's page, published since: without a reason field it could
        # not be a correction.  What was typed comes back, now with the reason field.
        return _text_page(initiative, locale, form, 409, str(PUBLISHED_SINCE))
    if not form.validate_on_submit():
        problem = str(NO_VERSION) if form.seen.errors else None
        return _text_page(initiative, locale, form, 400, problem)
    fields = {
        "title": form.title.data,
        "summary": form.summary.data or "",
        "body": form.body.data or "",
        "seen": form.seen.data,
    }
    try:
        if amending:
            done = texts.amend(initiative, actor(), locale, note=form.note.data, **fields)
            changed = done is not None
        else:
            changed = texts.set_text(initiative, actor(), locale, **fields)
    except lifecycle.TransitionError as exc:
        db.session.rollback()
        if not amending and lifecycle.can(initiative, "amend"):
            # Published while this save waited for the initiative's lock: as above, and
            # the page needs the correction's form (with its reason field).
            return _text_page(initiative, locale, AmendForm(), 409, str(PUBLISHED_SINCE))
        if not _texts_open(initiative):
            # Closed or withdrawn while this save waited for the initiative's lock.
            return _moved_on_page(initiative, locale)
        # A text that cannot be saved as sent is bad input; a text changed since the
        # page was opened is a conflict.
        status = 400 if isinstance(exc, texts.TextRefused) else 409
        return _text_page(initiative, locale, form, status, str(exc))
    db.session.commit()
    if changed:
        flash(_("Texten är sparad."), "success")
    elif amending:
        flash(_("Inget ändrades: texten lyder redan så, rättelsen är redan sparad."), "info")
    else:
        flash(_("Inget ändrades: texten lyder redan så."), "info")
    return redirect(url_for("admin.dashboard", slug=initiative.slug))


@bp.post("/initiatives/<slug>/text/<locale>/remove")
def text_remove(slug: str, locale: str) -> Any:
    initiative = initiative_or_404(slug)
    _locale_or_404(locale)
    form = TextRemoveForm()

    def page(status: int, problem: str) -> Any:
        # The text page of the state the initiative is in now (a correction's, with its
        # reason field, once published), with the text as it is stored now in its form.
        shown_as = AmendForm if lifecycle.can(initiative, "amend") else TextForm
        shown = shown_as(formdata=None, obj=texts.stored_text(initiative, locale))
        return _text_page(initiative, locale, shown, status, problem, compare=False)

    def moved_on() -> Any:
        # Published, closed or withdrawn since the page with the button was opened.
        return page(409, REMOVE_MOVED_ON % {"state": state_label(initiative.state)})

    if not lifecycle.can(initiative, "edit_texts"):
        return moved_on()
    if not form.validate_on_submit():
        return page(400, str(REMOVE_NO_VERSION))
    try:
        removed = texts.remove_text(initiative, actor(), locale, seen=form.seen.data)
    except texts.TextChanged as exc:
        db.session.rollback()
        return page(409, str(exc))
    except lifecycle.TransitionError as exc:
        db.session.rollback()
        if not lifecycle.can(initiative, "edit_texts"):
            # The same, while this removal waited for the initiative's lock.
            return moved_on()
        # The Swedish text, which every initiative needs (its page has no such button,
        # so only a forged form asks): bad input, the text as it stays.
        return page(400, str(exc))
    db.session.commit()
    language = language_in_swedish(locale)
    if removed:
        flash(_("Texten på %(lang)s är borttagen.", lang=language), "success")
    else:
        flash(_("Texten på %(lang)s var redan borttagen.", lang=language), "info")
    return redirect(url_for("admin.dashboard", slug=slug))
