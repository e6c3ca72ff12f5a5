"""An initiative's texts, one per language: written freely while it is a draft, and once
collecting has begun corrected only on the record.

A correction is an ``Amendment`` that keeps the previous texts and hash and records the
new one, so every signature's ``text_hash`` still names the text it was given.  Functions
flush, never commit.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from . import audit, clock
from .extensions import db
from .lifecycle import TransitionError, lock, require
from .models import DEFAULT_LOCALE, Initiative, InitiativeText, UTCDateTime

HASH_RE = re.compile(r"^[0-9a-f]{64}\Z")


class TextRefused(TransitionError):
    """A text that cannot be saved as it was sent (no reason, nothing changed, a part
    publishing requires left out): bad input, which the form answers with 400.  A plain
    ``TransitionError`` is a state that moved on since the page was opened: 409."""


class Amendment(db.Model):
    """A correction of a published text: what it was, what it became, who and why."""

    __tablename__ = "initiative_amendments"
    __table_args__ = (sa.Index("ix_initiative_amendments_initiative", "initiative_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(sa.ForeignKey("initiatives.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    actor: Mapped[str] = mapped_column(sa.String(254))
    locale: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.Text)
    previous_hash: Mapped[str] = mapped_column(sa.String(64))
    new_hash: Mapped[str] = mapped_column(sa.String(64))
    previous_text: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


_LINE_END = re.compile(r"[ \t]*(?:\r\n|\r|\n)")


def normalise(value: str) -> str:
    """A text as it is stored and hashed: Unicode NFC, LF line breaks, no spaces at the
    end of a line or the whole.  What differs only in these does not show on the page
    (a browser sends CRLF, a Mac may paste "ö" decomposed), so it is one text, with one
    SHA-256."""
    return _LINE_END.sub("\n", unicodedata.normalize("NFC", value)).strip()


def _fields(title: str, summary: str, body: str) -> dict[str, str]:
    return {"title": normalise(title), "summary": normalise(summary), "body": normalise(body)}


def _text(initiative: Initiative, locale: str) -> InitiativeText | None:
    return next((t for t in initiative.texts if t.locale == locale), None)


def _put_text(
    initiative: Initiative, locale: str, *, title: str, summary: str, body: str
) -> InitiativeText:
    """Replace one language's text, or add it (normalised), and flush."""
    title, summary, body = _fields(title, summary, body).values()
    text = _text(initiative, locale)
    if text is None:
        text = InitiativeText(locale=locale, title=title, summary=summary, body=body)
        initiative.texts.append(text)
    else:
        text.title, text.summary, text.body = title, summary, body
    db.session.flush()
    return text


def set_text(
    initiative: Initiative, actor: str, locale: str, *, title: str, summary: str, body: str
) -> InitiativeText:
    """Write one language's text of a draft.  Published texts change only by ``amend``."""
    lock(initiative)
    require(
        initiative,
        "edit_texts",
        _l("Texten är låst sedan insamlingen började. Gör en rättelse i stället."),
    )
    text = _put_text(initiative, locale, title=title, summary=summary, body=body)
    audit.record("initiative.text_saved", actor=actor, initiative=initiative, locale=locale)
    return text


def remove_text(initiative: Initiative, actor: str, locale: str) -> None:
    lock(initiative)
    require(initiative, "edit_texts", _l("Texten är låst sedan insamlingen började."))
    if locale == DEFAULT_LOCALE:
        raise TextRefused(str(_l("Den svenska texten behövs alltid.")))
    initiative.texts[:] = [t for t in initiative.texts if t.locale != locale]
    db.session.flush()
    audit.record("initiative.text_removed", actor=actor, initiative=initiative, locale=locale)


def amend(
    initiative: Initiative,
    actor: str,
    locale: str,
    *,
    title: str,
    summary: str,
    body: str,
    note: str,
) -> Amendment:
    """Correct a published text, on the record: the old text and hash are kept."""
    lock(initiative)
    require(initiative, "amend", _l("Rättelser går bara att göra under insamlingen."))
    if not note.strip():
        raise TextRefused(str(_l("Skriv vad som rättas och varför.")))
    text = _text(initiative, locale)
    previous = {"title": text.title, "summary": text.summary, "body": text.body} if text else {}
    # Compared as stored from now on: a text saved before texts were normalised is not
    # "corrected" by the same text sent again.
    if previous and _fields(**previous) == _fields(title, summary, body):
        raise TextRefused(str(_l("Texten är oförändrad; det finns inget att rätta.")))
    # As when publishing: every language's page needs the proposal itself.
    if not normalise(title) or not normalise(body):
        raise TextRefused(str(_l("En rättad text behöver rubrik och förslag.")))
    # The Swedish text keeps what publishing required of it: the list of initiatives,
    # the pack's cover and every language without a text of its own show its summary.
    if locale == DEFAULT_LOCALE and not normalise(summary):
        raise TextRefused(str(_l("Den svenska texten behöver en sammanfattning.")))
    previous_hash = initiative.text_hash or initiative.compute_text_hash()
    _put_text(initiative, locale, title=title, summary=summary, body=body)
    initiative.text_hash = initiative.compute_text_hash()
    amendment = Amendment(
        initiative_id=initiative.id,
        actor=actor,
        locale=locale,
        note=note.strip(),
        previous_hash=previous_hash,
        new_hash=initiative.text_hash,
        previous_text=previous,
    )
    db.session.add(amendment)
    db.session.flush()
    audit.record(
        "initiative.amended",
        actor=actor,
        initiative=initiative,
        locale=locale,
        previous_hash=previous_hash,
        new_hash=initiative.text_hash,
    )
    return amendment


def version_shown(initiative: Initiative, value: str | None) -> str | None:
    """``value`` if it names a text this initiative had while collecting (the current one
    or one replaced by an amendment), else None: the caller records the current text."""
    if not value or value == initiative.text_hash or not HASH_RE.match(value):
        return None
    replaced = db.session.scalar(
        sa.select(Amendment.id)
        .where(Amendment.initiative_id == initiative.id, Amendment.previous_hash == value)
        .limit(1)
    )
    return value if replaced is not None else None


def amendments(initiative: Initiative) -> list[Amendment]:
    return list(
        db.session.scalars(
            sa.select(Amendment)
            .where(Amendment.initiative_id == initiative.id)
            .order_by(Amendment.at, Amendment.id)
        )
    )
