"""Campaign material: the tags that say where a signer came from, links, and counts.

Every QR code, poster and flyer links to ``BASE_URL/i/<slug>?src=<tag>``.  Only the
initiative's own tags are recorded on a signature, so the counts per tag stay meaningful
(no typos, no made-up values) and organisers can see which material works.  Counts are
aggregates: nothing here reads personal data.

These functions flush, never commit; the caller (CLI command or admin view) commits once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from . import audit
from .extensions import db
from .lifecycle import lock
from .models import Channel, Initiative, Signature, SignatureState

TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
MAX_TAGS = 50
# The tag of the code shown on screens (the initiative page, a slide); also what a QR URL
# without ``?src=`` encodes.  It cannot be removed, so that default always works.
SCREEN_TAG = "qr"


class TagError(ValueError):
    """A tag that cannot be added or removed; the message says why, for the organiser."""


def normalise_tag(value: str) -> str:
    """A tag as stored: trimmed and lower-case; ``TagError`` if it is not well-formed."""
    tag = (value or "").strip().lower()
    if not TAG_RE.match(tag):
        raise TagError(
            _l(
                "En tagg är 1–32 tecken: små bokstäver a–z, siffror och bindestreck, "
                "och börjar med en bokstav eller siffra."
            )
        )
    return tag


def tags(initiative: Initiative) -> list[str]:
    """The initiative's tags, in the order they were added."""
    return list(initiative.campaign_tags or [])


def known_tag(initiative: Initiative, value: str | None) -> str | None:
    """``value`` as one of the initiative's tags, or None if it is not one of them."""
    if not value:
        return None
    tag = value.strip().lower()
    return tag if tag in tags(initiative) else None


def add_tag(initiative: Initiative, value: str, *, actor: str | None = None) -> str:
    """Add a tag (normalised, returned); adding one that exists changes nothing.

    With an ``actor`` the change is written to the audit log.
    """
    tag = normalise_tag(value)
    lock(initiative)  # another organiser's change to the list is kept, not written over
    current = tags(initiative)
    if tag in current:
        return tag
    if len(current) >= MAX_TAGS:
        raise TagError(_l("Ett initiativ kan ha högst %(max)d taggar.", max=MAX_TAGS))
    # A new list, not an in-place append: the JSON column only notices assignment.
    initiative.campaign_tags = [*current, tag]
    if actor is not None:
        audit.record("campaign.tag_added", actor=actor, initiative=initiative, tag=tag)
    db.session.flush()
    return tag


def remove_tag(initiative: Initiative, value: str, *, actor: str | None = None) -> str:
    """Remove a tag.  Signatures already counted under it keep it; new visits with
    ``?src=<tag>`` still open the page but are no longer counted under the tag.

    With an ``actor`` the change is written to the audit log.
    """
    tag = (value or "").strip().lower()
    if tag == SCREEN_TAG:
        raise TagError(
            _l("Taggen %(tag)s används av QR-koden på webbplatsen och kan inte tas bort.", tag=tag)
        )
    lock(initiative)
    current = tags(initiative)
    if tag not in current:
        raise TagError(_l("Initiativet har ingen tagg som heter %(tag)s.", tag=tag))
    initiative.campaign_tags = [t for t in current if t != tag]
    if actor is not None:
        audit.record("campaign.tag_removed", actor=actor, initiative=initiative, tag=tag)
    db.session.flush()
    return tag


def by_slug(slug: str) -> Initiative | None:
    return db.session.scalars(sa.select(Initiative).where(Initiative.slug == slug)).one_or_none()


# --- links -----------------------------------------------------------------------------------


def _base_url() -> str:
    return str(current_app.config["BASE_URL"]).rstrip("/")


def page_url(initiative: Initiative) -> str:
    """The initiative's public page, without a tag (for links people pass on)."""
    return f"{_base_url()}/i/{quote(initiative.slug)}"


def sign_url(initiative: Initiative, tag: str) -> str:
    """What a QR code for ``tag`` encodes: the page, with ``?src=<tag>``."""
    return f"{page_url(initiative)}?src={quote(tag)}"


def printed(url: str) -> str:
    """``url`` as printed for people who type it: without ``https://``.

    Browsers assume https for a typed address, so the scheme is only printed when the
    site does not use it (a development machine).
    """
    return url.removeprefix("https://") if urlsplit(url).scheme == "https" else url


def short_url(initiative: Initiative) -> str:
    """The page's address as printed for people who type it: no scheme, no tag."""
    return printed(page_url(initiative))


def privacy_url() -> str:
    """The privacy notice, for printed material that points to it."""
    return f"{_base_url()}/privacy"


# --- counts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceStats:
    """Confirmed signatures of one initiative, per tag and per channel."""

    confirmed: int
    # The initiative's tags first (zeros included, so an unused flyer shows), then tags
    # removed since but still on signatures, then None: signed on the web without a tag
    # (a link passed on, typed).
    by_tag: list[tuple[str | None, int]]
    by_channel: list[tuple[str, int]]


def stats(initiative: Initiative) -> SourceStats:
    """Aggregate counts of confirmed signatures; reads no personal data."""
    confirmed = (
        Signature.initiative_id == initiative.id,
        Signature.state == SignatureState.CONFIRMED,
    )
    # "No tag" means a link passed on or typed: only on the web.  Untagged signatures
    # from the stand tablet and paper sheets are counted per channel below instead.
    per_tag = dict(
        db.session.execute(
            sa.select(Signature.source_tag, sa.func.count())
            .where(
                *confirmed,
                sa.or_(Signature.channel == Channel.WEB, Signature.source_tag.is_not(None)),
            )
            .group_by(Signature.source_tag)
        ).all()
    )
    per_channel = dict(
        db.session.execute(
            sa.select(Signature.channel, sa.func.count())
            .where(*confirmed)
            .group_by(Signature.channel)
        ).all()
    )
    own = tags(initiative)
    removed = sorted(t for t in per_tag if t is not None and t not in own)
    by_tag: list[tuple[str | None, int]] = [(t, per_tag.get(t, 0)) for t in own + removed]
    by_tag.append((None, per_tag.get(None, 0)))
    return SourceStats(
        confirmed=sum(per_channel.values()),
        by_tag=by_tag,
        by_channel=[(c.value, per_channel.get(c.value, 0)) for c in Channel],
    )
