"""Campaign tags in the admin: add and remove them, with each tag's QR code and print
material, and confirmed signatures per tag (the rules are in ``initiatives.campaign``)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from .. import campaign
from ..extensions import db
from ..forms import ButtonForm
from ..models import Initiative, InitiativeState
from ..qr import printable
from . import actor, bp
from .forms import TagForm
from .initiatives import initiative_or_404


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
        public=initiative.state != InitiativeState.DRAFT and initiative.opens_at is not None,
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
