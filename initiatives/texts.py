"""An initiative's texts, one per language: written freely while it is a draft, and once
collecting has begun corrected only on the record.

A correction is an ``Amendment`` that keeps the previous texts and hash and records the
new one, so every signature's ``text_hash`` still names the text it was given.  Functions
flush, never commit.

Two organisers may open one language's page at once.  The page carries a version of the
text it showed (``text_version``), so that a save made from it after someone else's
cannot overwrite that one unseen, and an amendment never records as its "previous text"
one its author did not see.  The same form sent twice (a double click) finds its text
already stored: nothing is recorded the second time, and nothing is refused.
"""

from __future__ import annotations

import hashlib
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
CHANGED_SINCE = _l(
    "Texten har ändrats sedan du öppnade sidan. Den som är sparad nu visas ovanför "
    "formuläret och det du skrev finns kvar i det: jämför, för över det som ska med och "
    "spara igen om din ändring fortfarande behövs."
)
REMOVE_CHANGED = _l(
    "Texten har ändrats sedan du öppnade sidan och är inte borttagen. Så här lyder den nu: "
    "ta bort den igen om den fortfarande ska bort."
)


class TextRefused(TransitionError):
    """A text that cannot be saved as it was sent (no reason, nothing changed, a part
    publishing requires left out): bad input, which the form answers with 400.  A plain
    ``TransitionError`` is a state that moved on since the page was opened: 409."""


class TextChanged(TransitionError):
    """The language's text is no longer the one the page showed (``text_version``)."""


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


def stored_text(initiative: Initiative, locale: str) -> InitiativeText | None:
    """The language's own text (``Initiative.text`` falls back to the Swedish one)."""
    return next((t for t in initiative.texts if t.locale == locale), None)


def text_version(initiative: Initiative, locale: str) -> str:
    """What a text page shows of the language's stored text, as 64 hex digits: a digest
    of its title, summary and body, or of its absence (two organisers adding the same
    language are two edits of one text)."""
    text = stored_text(initiative, locale)
    parts = (
        ["absent", locale]
        if text is None
        else ["text", locale, text.title, text.summary, text.body]
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _unchanged(text: InitiativeText | None, title: str, summary: str, body: str) -> bool:
    """Whether the language's text already says what was sent (compared as stored from
    now on: a text saved before texts were normalised is the same text sent again)."""
    if text is None:
        return False
    return _fields(text.title, text.summary, text.body) == _fields(title, summary, body)


def _check_seen(
    initiative: Initiative, locale: str, seen: str | None, message: Any = CHANGED_SINCE
) -> None:
    """Refuse (409) a change made from a page that showed another text than the one
    stored now.  ``seen`` None: not made from a page (a script, a test).

    Called under ``lock``, which read the texts afresh: one another organiser saved
    while this request waited for the lock is compared with, not the one it loaded.
    """
    if seen is not None and seen != text_version(initiative, locale):
        raise TextChanged(str(message))


def _put_text(
    initiative: Initiative, locale: str, *, title: str, summary: str, body: str
) -> InitiativeText:
    """Replace one language's text, or add it (normalised), and flush."""
    title, summary, body = _fields(title, summary, body).values()
    text = stored_text(initiative, locale)
    if text is None:
        text = InitiativeText(locale=locale, title=title, summary=summary, body=body)
        initiative.texts.append(text)
    else:
        text.title, text.summary, text.body = title, summary, body
    db.session.flush()
    return text


def set_text(
    initiative: Initiative,
    actor: str,
    locale: str,
    *,
    title: str,
    summary: str,
    body: str,
    seen: str | None = None,
) -> bool:
    """Write one language's text of a draft; whether it changed (not when it already
    said this: sent twice).  Published texts change only by ``amend``."""
    lock(initiative)
    require(
        initiative,
        "edit_texts",
        _l("Texten är låst sedan insamlingen började. Gör en rättelse i stället."),
    )
    if _unchanged(stored_text(initiative, locale), title, summary, body):
        return False
    _check_seen(initiative, locale, seen)
    _put_text(initiative, locale, title=title, summary=summary, body=body)
    audit.record("initiative.text_saved", actor=actor, initiative=initiative, locale=locale)
    return True


def remove_text(
    initiative: Initiative, actor: str, locale: str, *, seen: str | None = None
) -> bool:
    """Remove a language's text from a draft; whether there was one (not when it is
    already gone: sent twice)."""
    lock(initiative)
    require(initiative, "edit_texts", _l("Texten är låst sedan insamlingen började."))
    if locale == DEFAULT_LOCALE:
        raise TextRefused(str(_l("Den svenska texten behövs alltid.")))
    if stored_text(initiative, locale) is None:
        return False
    # A text changed since the page was opened is not what its remover decided on.
    _check_seen(initiative, locale, seen, REMOVE_CHANGED)
    initiative.texts[:] = [t for t in initiative.texts if t.locale != locale]
    db.session.flush()
    audit.record("initiative.text_removed", actor=actor, initiative=initiative, locale=locale)
    return True


def amend(
    initiative: Initiative,
    actor: str,
    locale: str,
    *,
    title: str,
    summary: str,
    body: str,
    note: str,
    seen: str | None = None,
) -> Amendment | None:
    """Correct a published text, on the record: the old text and hash are kept.

    None when the text already says this since the page ``seen`` was opened (the same
    correction sent twice, or made by another organiser meanwhile): nothing to record.
    """
    lock(initiative)
    require(initiative, "amend", _l("Rättelser går bara att göra under insamlingen."))
    if not note.strip():
        raise TextRefused(str(_l("Skriv vad som rättas och varför.")))
    text = stored_text(initiative, locale)
    previous = {"title": text.title, "summary": text.summary, "body": text.body} if text else {}
    if _unchanged(text, title, summary, body):
        if seen is not None and seen != text_version(initiative, locale):
            return None
        # The text the page showed, sent back as it was.
        raise TextRefused(str(_l("Texten är oförändrad; det finns inget att rätta.")))
    _check_seen(initiative, locale, seen)
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
