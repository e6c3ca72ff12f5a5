"""An initiative's life: draft → collecting → closed → submitted → answered (or withdrawn).

Every transition checks its preconditions, raises ``TransitionError`` with a message for
the organiser when they do not hold, and writes an audit event with who and when.  Once
collecting starts the texts are frozen and their SHA-256 recorded (writing and correcting
the texts is in ``texts.py``).  Functions flush, never commit.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from . import audit, clock
from .clock import LOCAL_TZ
from .extensions import db
from .models import (
    DEFAULT_LOCALE,
    Initiative,
    InitiativeState,
    Signature,
    SignatureState,
    UTCDateTime,
)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,78}[a-z0-9])$")
PDF_MAGIC = b"%PDF-"
S = InitiativeState


class AnswerDocument(db.Model):
    """The committee's answer as the PDF the city sent."""

    __tablename__ = "answer_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(
        sa.ForeignKey("initiatives.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    uploaded_by: Mapped[str] = mapped_column(sa.String(254))


class TransitionError(Exception):
    """The initiative cannot do this now; ``str(exc)`` tells the organiser why."""


class NamesGone(TransitionError):
    """Retention removed names from a list not yet handed in, and the organiser has not
    said to go on: the committee would get only counts for those signers."""

    def __init__(self, removed: int, total: int):
        self.removed, self.total = removed, total
        super().__init__(
            str(
                _l(
                    "Namnen har redan tagits bort (enligt gallringsreglerna eller på "
                    "underskrivarens begäran) för %(num)s av %(total)s bekräftade "
                    "underskrifter. Nämnden får bara antalet för dem: "
                    "i listan står ”(anonymiserad)” där namnen var, och de underskrifterna "
                    "kan inte kontrolleras. Kryssa i rutan om du ändå vill fortsätta.",
                    num=removed,
                    total=total,
                )
            )
        )


# The states in which a list has not been handed in and still can be (a collecting one
# once it is closed).
NOT_HANDED_IN = (InitiativeState.COLLECTING, InitiativeState.CLOSED)


def names_removed(initiative: Initiative) -> int:
    """Confirmed (listed) signatures whose names retention has removed."""
    return (
        db.session.scalar(
            sa.select(sa.func.count(Signature.id)).where(
                Signature.initiative_id == initiative.id,
                Signature.state == SignatureState.CONFIRMED,
                Signature.name_enc.is_(None),
            )
        )
        or 0
    )


def require_names_or_consent(
    initiative: Initiative, removed: int, total: int, *, without_names: bool
) -> dict[str, Any]:
    """Refuse (``NamesGone``) to hand in or pack a list not yet handed in whose names
    retention removed (``removed`` of ``total``), unless the organiser confirmed
    ``without_names``; returns what the audit event records of that confirmation."""
    if not removed or initiative.state not in NOT_HANDED_IN:
        return {}
    if not without_names:
        raise NamesGone(removed, total)
    return {"confirmed_without_names": True}


def local_noon(day: date) -> datetime:
    """A calendar date in Malmö as an instant (noon, clear of any DST edge)."""
    return datetime.combine(day, time(12), tzinfo=LOCAL_TZ).astimezone(ZoneInfo("UTC"))


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


# The states each organiser action is open in: the checks below and the admin page's
# buttons both read this table.
ACTIONS: dict[str, tuple[InitiativeState, ...]] = {
    "edit_settings": (S.DRAFT,),
    "edit_texts": (S.DRAFT,),
    "publish": (S.DRAFT,),
    "amend": (S.COLLECTING,),
    "close": (S.COLLECTING,),
    "submit": (S.CLOSED,),
    "answer": (S.SUBMITTED,),
    "withdraw": (S.DRAFT, S.COLLECTING, S.CLOSED),
}


def can(initiative: Initiative, action: str) -> bool:
    """Whether the action is open in the initiative's state (the page shows only these)."""
    return initiative.state in ACTIONS[action]


def below_threshold(initiative: Initiative) -> bool:
    """Fewer confirmed signatures than the threshold: the list cannot be handed in yet
    (``submit`` refuses), and the lifecycle page warns before closing such a collection."""
    return initiative.confirmed_count < initiative.threshold


def lock(initiative: Initiative) -> None:
    """Hold the initiative's row until this transaction ends, and read it afresh.

    Every organiser action on an initiative starts here, before it changes anything:
    two at once (a withdrawal and the hand-in, publishing and a text edit) then run one
    after the other, and the second checks the state the first left.  On SQLite every
    writing request already runs alone (BEGIN IMMEDIATE).
    """
    db.session.execute(
        sa.select(Initiative.id).where(Initiative.id == initiative.id).with_for_update()
    )
    db.session.refresh(initiative)


def require(initiative: Initiative, action: str, message: Any) -> None:
    """Raise ``TransitionError(message)`` unless the action is open in this state."""
    if not can(initiative, action):
        raise TransitionError(str(message))


def _enter(
    initiative: Initiative, state: InitiativeState, actor: str, action: str, **details: Any
) -> None:
    """Move the initiative to ``state`` and put the transition on the record."""
    initiative.state = state
    db.session.flush()
    audit.record(action, actor=actor, initiative=initiative, **details)


def _check_day(day: date, since: datetime | None, message: Any) -> None:
    """Refuse a day in the future or before the (Malmö) day of ``since``."""
    if day > local_date(clock.utcnow()) or (since is not None and day < local_date(since)):
        raise TransitionError(str(message))


# --- drafts --------------------------------------------------------------------------------

SETTINGS = ("threshold", "period_months", "target_body", "official_url", "organiser_contact")
# Settings that do not change what people signed, so they stay editable after publishing.
ALWAYS_EDITABLE = ("official_url", "organiser_contact")


SLUG_TAKEN = _l("Adressen används redan av ett annat initiativ.")


def _check_slug(slug: str, initiative_id: int | None = None) -> None:
    if not SLUG_RE.match(slug):
        raise TransitionError(str(_l("Adressen får bara ha små bokstäver, siffror och -.")))
    taken = db.session.scalar(
        sa.select(Initiative.id).where(Initiative.slug == slug, Initiative.id != initiative_id)
    )
    if taken is not None:
        raise TransitionError(str(SLUG_TAKEN))


def _claim_slug(initiative: Initiative, changes: dict[str, Any]) -> None:
    """Add ``initiative`` (a new draft) or make ``changes`` to it, telling an organiser
    whose address another took since ``_check_slug`` (two at the same moment) that it is
    taken, instead of a database error.

    Both happen inside the savepoint: ``begin_nested`` flushes what is pending before it
    begins, so a refused row added before it would fail the whole transaction (and the
    refusal's page with it), and after a refusal nothing of the change is left in the
    session to be flushed again by the next query.
    """
    try:
        with db.session.begin_nested():
            if sa.inspect(initiative).transient:
                db.session.add(initiative)
            for key, value in changes.items():
                setattr(initiative, key, value)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise TransitionError(str(SLUG_TAKEN)) from None


def create_draft(actor: str, *, slug: str, **settings: Any) -> Initiative:
    """A new draft; texts are added with ``set_text``."""
    _check_slug(slug)
    initiative = Initiative(slug=slug, state=S.DRAFT)
    for key in SETTINGS:
        if key in settings:
            setattr(
                initiative, key, settings[key] or None if key in ALWAYS_EDITABLE else settings[key]
            )
    _claim_slug(initiative, {})
    audit.record("initiative.created", actor=actor, initiative=initiative, slug=slug)
    return initiative


def update_settings(initiative: Initiative, actor: str, *, slug: str, **settings: Any) -> None:
    """Drafts change freely; after publishing only the link and the contact may change."""
    lock(initiative)
    changes: dict[str, Any] = {}
    if slug != initiative.slug:
        require(initiative, "edit_settings", _l("Adressen kan inte ändras efter publicering."))
        _check_slug(slug, initiative.id)
        changes["slug"] = slug
    for key in SETTINGS:
        if key not in settings:
            continue
        value = settings[key] or None if key in ALWAYS_EDITABLE else settings[key]
        if getattr(initiative, key) == value:
            continue
        if key not in ALWAYS_EDITABLE:
            require(
                initiative,
                "edit_settings",
                _l("Antal, insamlingstid och mottagare kan inte ändras efter publicering."),
            )
        changes[key] = value
    changed = list(changes)
    if changed:
        _claim_slug(initiative, changes)
        audit.record(
            "initiative.settings_changed", actor=actor, initiative=initiative, fields=changed
        )


# --- transitions ---------------------------------------------------------------------------


def publish(initiative: Initiative, actor: str, now: datetime | None = None) -> None:
    """Start collecting: freeze the texts, record their hash, set the period."""
    lock(initiative)
    require(initiative, "publish", _l("Bara ett utkast kan publiceras."))
    swedish = next((t for t in initiative.texts if t.locale == DEFAULT_LOCALE), None)
    if swedish is None or not (swedish.title and swedish.summary and swedish.body):
        raise TransitionError(
            str(_l("Skriv rubrik, sammanfattning och förslag på svenska innan du publicerar."))
        )
    incomplete = [t.locale for t in initiative.texts if not (t.title and t.body)]
    if incomplete:
        raise TransitionError(
            str(_l("Texten på %(langs)s saknar rubrik eller förslag.", langs=", ".join(incomplete)))
        )
    now = (now or clock.utcnow()).replace(microsecond=0)
    initiative.opens_at = now
    initiative.closes_at = clock.add_months(now, initiative.period_months)
    initiative.text_hash = initiative.compute_text_hash()
    _enter(
        initiative,
        S.COLLECTING,
        actor,
        "initiative.published",
        text_hash=initiative.text_hash,
        opens_at=initiative.opens_at.isoformat(),
        closes_at=initiative.closes_at.isoformat(),
    )


def close(initiative: Initiative, actor: str) -> None:
    """Stop collecting (early, or after the period ended).  Pending links still confirm."""
    lock(initiative)
    require(initiative, "close", _l("Bara ett initiativ under insamling kan stängas."))
    initiative.closed_at = clock.utcnow()
    _enter(initiative, S.CLOSED, actor, "initiative.closed", confirmed=initiative.confirmed_count)


def submit(
    initiative: Initiative,
    actor: str,
    *,
    submitted_on: date,
    reference: str,
    without_names: bool = False,
) -> None:
    """Record that the list was handed to the city, with the date and its reference number.

    A list whose names retention removed is handed in only ``without_names`` (the
    organiser confirmed that the committee gets counts only for those signers).
    """
    # The count as it stands once confirmations in flight have committed; after this
    # transaction none can change it (signature_sql.adjust_count).
    lock(initiative)
    require(initiative, "submit", _l("Stäng insamlingen innan du markerar den inlämnad."))
    if below_threshold(initiative):
        raise TransitionError(
            str(
                _l(
                    "Initiativet har %(count)s av %(threshold)s underskrifter som behövs.",
                    count=initiative.confirmed_count,
                    threshold=initiative.threshold,
                )
            )
        )
    if not reference.strip():
        raise TransitionError(str(_l("Skriv stadens diarienummer.")))
    # Handed in after the collection closed: a list cannot leave before its last signature.
    # That is when the period ended, if the organiser pressed "close" only later (as the
    # pack says too).
    closed = initiative.collection_ends_at or initiative.opens_at
    _check_day(
        submitted_on,
        closed,
        _l("Datumet kan inte vara i framtiden eller före den dag insamlingen stängdes."),
    )
    removed = names_removed(initiative)
    consent = require_names_or_consent(
        initiative, removed, initiative.confirmed_count, without_names=without_names
    )
    initiative.submitted_at = local_noon(submitted_on)
    initiative.city_reference = reference.strip()
    _enter(
        initiative,
        S.SUBMITTED,
        actor,
        "initiative.submitted",
        submitted_on=submitted_on.isoformat(),
        reference=initiative.city_reference,
        confirmed=initiative.confirmed_count,
        anonymised=removed,
        **consent,
    )


def answer(
    initiative: Initiative,
    actor: str,
    *,
    answered_on: date,
    text: str,
    document: bytes | None = None,
    filename: str | None = None,
    max_bytes: int = 10 * 1024 * 1024,
) -> None:
    """Record the committee's answer (and its PDF) and mark the initiative answered."""
    lock(initiative)
    require(initiative, "answer", _l("Bara ett inlämnat initiativ kan få svar."))
    if not text.strip():
        raise TransitionError(str(_l("Skriv svaret eller en sammanfattning av det.")))
    _check_day(
        answered_on,
        initiative.submitted_at,
        _l("Svarsdatumet kan inte vara i framtiden eller före inlämningen."),
    )
    digest: str | None = None
    if document is not None:
        # An empty file is a download that failed, not "no PDF": the answer is recorded
        # once, so it must not go on the record without the document the organiser chose.
        if not document:
            raise TransitionError(str(_l("Filen är tom. Ladda ner PDF-filen igen och välj den.")))
        if not document.startswith(PDF_MAGIC):
            raise TransitionError(str(_l("Filen är inte en PDF.")))
        if len(document) > max_bytes:
            raise TransitionError(str(_l("PDF-filen är för stor.")))
        digest = hashlib.sha256(document).hexdigest()
        db.session.add(
            AnswerDocument(
                initiative_id=initiative.id,
                filename=_safe_filename(filename or "svar.pdf"),
                content=document,
                sha256=digest,
                uploaded_by=actor,
            )
        )
    initiative.answered_at = local_noon(answered_on)
    initiative.answer_text = text.strip()
    _enter(
        initiative,
        S.ANSWERED,
        actor,
        "initiative.answered",
        answered_on=answered_on.isoformat(),
        document_sha256=digest,
    )


def withdraw(initiative: Initiative, actor: str, *, reason: str) -> None:
    """Withdraw the initiative, from any state before it is submitted."""
    lock(initiative)
    require(initiative, "withdraw", _l("Ett inlämnat initiativ kan inte dras tillbaka."))
    if not reason.strip():
        raise TransitionError(str(_l("Skriv varför initiativet dras tillbaka.")))
    initiative.withdrawn_at = clock.utcnow()
    _enter(
        initiative,
        S.WITHDRAWN,
        actor,
        "initiative.withdrawn",
        previous_state=initiative.state,
        reason=reason.strip(),
    )


MAX_FILENAME = 200  # AnswerDocument.filename


def _safe_filename(name: str) -> str:
    """The answer PDF's name to store and offer for download: no folders, no odd
    characters, at most MAX_FILENAME long and ending in ".pdf" (the file is checked to be
    a PDF).  A long name is cut in its stem, so it still opens as a PDF once saved."""
    cleaned = re.sub(r"[^\w.\- ]", "_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    extension = cleaned[-4:] if cleaned.lower().endswith(".pdf") else ".pdf"
    stem = cleaned.removesuffix(extension)[: MAX_FILENAME - len(extension)].rstrip(" .")
    return (stem or "svar") + extension


def answer_document(initiative: Initiative) -> AnswerDocument | None:
    return db.session.scalars(
        sa.select(AnswerDocument).where(AnswerDocument.initiative_id == initiative.id)
    ).one_or_none()
