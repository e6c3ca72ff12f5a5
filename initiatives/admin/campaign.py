"""Campaign tags in the admin: add and remove them, with each tag's QR code and print
material, and confirmed signatures per tag (the rules are in ``initiatives.campaign``);
and the blank paper signature sheet, for organisers only (``initiatives.paper_sheet``)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from .. import campaign, paper_sheet
from ..errors import error_response
from ..extensions import db
from ..forms import ButtonForm
from ..models import Initiative, InitiativeState
from ..qr import Refused, chosen_tag, printable
from . import actor, bp
from .forms import TagForm
from .initiatives import initiative_or_404


def published(initiative: Initiative) -> bool:
    """Whether its public page exists: not a draft, nor one withdrawn as a draft."""
    return initiative.state != InitiativeState.DRAFT and initiative.opens_at is not None


def _page(initiative: Initiative, form: TagForm | None = None, status: int = 200) -> Any:
    numbers = campaign.stats(initiative)
    return render_template(
        "admin/campaign.html",
        initiative=initiative,
        form=form or TagForm(formdata=None),
        by_tag=numbers.by_tag,
        own=campaign.tags(initiative),
        screen_tag=campaign.SCREEN_TAG,
        # The QR codes and material are public URLs: there is nothing to link to while
        # the initiative is a draft (or was withdrawn as one), and nothing to print once
        # collection has ended.
        public=published(initiative),
        printable=printable(initiative),
        links={tag: campaign.sign_url(initiative, tag) for tag in campaign.tags(initiative)},
    ), status


@bp.get("/initiatives/<slug>/campaign")
def campaign_page(slug: str) -> Any:
    return _page(initiative_or_404(slug))


@bp.post("/initiatives/<slug>/campaign/tags")
def campaign_tag_add(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    form = TagForm()
    if not form.validate_on_submit():
        return _page(initiative, form, 400)
    try:
        tag = campaign.add_tag(initiative, form.tag.data, actor=actor())
    except campaign.TagError as exc:
        db.session.rollback()
        form.tag.errors = [str(exc)]
        return _page(initiative, form, 400)
    db.session.commit()
    flash(_("Taggen %(tag)s finns nu, med egen QR-kod.", tag=tag), "success")
    return redirect(url_for("admin.campaign_page", slug=initiative.slug))


@bp.post("/initiatives/<slug>/campaign/tags/<tag>/remove")
def campaign_tag_remove(slug: str, tag: str) -> Any:
    initiative = initiative_or_404(slug)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        campaign.remove_tag(initiative, tag[:64], actor=actor())
    except campaign.TagError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.campaign_page", slug=initiative.slug))
    db.session.commit()
    flash(
        _(
            "Taggen %(tag)s är borttagen. Underskrifter som redan räknats under den behåller den.",
            tag=tag,
        ),
        "success",
    )
    return redirect(url_for("admin.campaign_page", slug=initiative.slug))


@bp.get("/initiatives/<slug>/campaign/paper-sheet.pdf")
def campaign_paper_sheet(slug: str) -> Any:
    """The blank A4 sheet to collect signatures on, with a QR code for ``?src=`` (the
    screen tag by default).  As the posters: none for a draft (404), none once the
    collection has ended (409).  Admin responses are never stored (``no_cache``), so
    the drawing's own cache is what spares a second click."""
    initiative = initiative_or_404(slug)
    if not published(initiative):
        abort(404)
    try:
        tag = chosen_tag(initiative, campaign.SCREEN_TAG)
    except Refused as exc:
        return error_response(exc.code, exc.message)
    if not printable(initiative):
        return error_response(409, _("Insamlingen är avslutad, så det finns inget att skriva ut."))
    response = Response(
        paper_sheet.render(paper_sheet.content(initiative, tag)), mimetype="application/pdf"
    )
    response.headers.set(
        "Content-Disposition", "inline", filename=paper_sheet.file_name(initiative, tag)
    )
    return response
