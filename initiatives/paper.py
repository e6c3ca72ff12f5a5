"""Paper sheets: signatures collected on paper and typed in by an organiser.

A row becomes a ``Signature`` with channel ``paper``, confirmed (a handwritten signature
is its own confirmation) through ``signature_states.move`` so the count stays exact, with the
name and postcode encrypted like every other signer's.  Its ``confirmed_at`` is the day
it was signed, so lists and charts place it on that day.  A row whose name and postcode
match another live signature is flagged for review, never dropped: an organiser decides.

Every paper action takes its locks in one order, so that no two wait for each other: a
row's signature first (as a confirmation, an invalidation on the signature's page and an
abuse review take it), then the initiative's row (``lifecycle.lock``), then paper rows.
A typed row, a rescan and a sheet's correction start at the initiative; a decision on a
row or its correction at its signature (``hold_row``).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import audit, clock, signature_states, signatures
from .crypto import crypto
from .extensions import db
from .lifecycle import TransitionError, local_date, local_noon, lock
from .models import (
    DEFAULT_LOCALE,
    Channel,
    Initiative,
    InitiativeState,
    Signature,
    SignatureState,
    UTCDateTime,
    _enum_check,
)
from .paper_matching import NOT_SECOND_SIGNATURES, Match, find_matches


class Review(enum.StrEnum):
    PENDING = "pending"  # matches another signature: an organiser must look
    KEPT = "kept"  # looked at: not the same person, it counts
    RESOLVED = "resolved"  # looked at: a duplicate, invalidated


class PaperSheet(db.Model):
    __tablename__ = "paper_sheets"
    __table_args__ = (sa.UniqueConstraint("initiative_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(sa.ForeignKey("initiatives.id", ondelete="CASCADE"))
    # As written on the sheet ("12", "B-3").
    number: Mapped[str] = mapped_column(sa.String(32))
    collected_on: Mapped[date] = mapped_column(sa.Date)
    collected_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(254))

    rows: Mapped[list[PaperRow]] = relationship(
        back_populates="sheet", order_by="PaperRow.line", cascade="all, delete-orphan"
    )


class PaperRow(db.Model):
    """Links a paper signature to its sheet and line, and holds its review flag."""

    __tablename__ = "paper_rows"
    __table_args__ = (
        sa.UniqueConstraint("sheet_id", "line"),
        _enum_check("review", "review", Review),
    )

    signature_id: Mapped[int] = mapped_column(
        sa.ForeignKey("signatures.id", ondelete="CASCADE"), primary_key=True
    )
    sheet_id: Mapped[int] = mapped_column(sa.ForeignKey("paper_sheets.id", ondelete="CASCADE"))
    line: Mapped[int]
    review: Mapped[str | None] = mapped_column(sa.String(16))
    # When an organiser last kept the row: signatures made after it were not compared.
    kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the row last changed: typed, its name or postcode corrected, kept or resolved,
    # or counted again after it was taken out (``before_restore``).  A keep of another row
    # after it was an answer about this row as it reads now.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)

    sheet: Mapped[PaperSheet] = relationship(back_populates="rows")
    signature: Mapped[Signature] = relationship(lazy="joined")


class PaperRefused(TransitionError):
    """A sheet or row that cannot be saved as sent (a date outside the collection or in
    the future, a row dated after its sheet was collected, a sheet dated before a row on
    it): bad input, which the admin page answers with 400, as it does
    ``texts.TextRefused``.  A state that moved on, or a sheet number another sheet took,
    stays a ``TransitionError``: 409."""


# The form's message: only a row that did not come through the form meets this one.
BAD_POSTCODE = _l("Skriv postnumret som fem siffror, till exempel 212 14.")

# While sheets may be typed in and corrected: until the hand-in.
PAPER_STATES = (InitiativeState.COLLECTING, InitiativeState.CLOSED)


def open_for_paper(initiative: Initiative) -> None:
    """Refuse unless sheets may be typed in and corrected (``PAPER_STATES``)."""
    if initiative.state not in PAPER_STATES:
        raise TransitionError(
            str(_l("Papperslistor kan bara föras in under insamlingen och innan inlämningen."))
        )


def check_sheet(
    initiative: Initiative, *, number: str, collected_on: date, sheet_id: int | None = None
) -> None:
    """Refuse a sheet's date in the future or before the collection opened, and a number
    another sheet of the initiative has (``sheet_id``: the sheet being corrected)."""
    # Sheets may come in after the collection closed.
    opened = local_date(initiative.opens_at) if initiative.opens_at else None
    if collected_on > local_date(clock.utcnow()) or (opened and collected_on < opened):
        raise PaperRefused(
            str(_l("Datumet kan inte vara i framtiden eller före insamlingens början."))
        )
    query = sa.select(PaperSheet.id).where(
        PaperSheet.initiative_id == initiative.id, PaperSheet.number == number
    )
    if sheet_id is not None:
        query = query.where(PaperSheet.id != sheet_id)
    if db.session.scalar(query) is not None:
        raise TransitionError(str(_l("Det finns redan en lista med nummer %(n)s.", n=number)))


def add_sheet(
    initiative: Initiative, actor: str, *, number: str, collected_on: date, collected_by: str
) -> PaperSheet:
    # A second request for the same number (a double click) waits here, then finds it.
    lock(initiative)
    open_for_paper(initiative)
    # Checked here although a sheet can be corrected (``paper_corrections``): a mistyped
    # year is every row's starting date, and is best refused before any row is typed.
    check_sheet(initiative, number=number, collected_on=collected_on)
    sheet = PaperSheet(
        initiative_id=initiative.id,
        number=number,
        collected_on=collected_on,
        collected_by=collected_by,
        created_by=actor,
    )
    db.session.add(sheet)
    db.session.flush()
    audit.record("paper.sheet_added", actor=actor, initiative=initiative, sheet=number)
    return sheet


def check_signed_on(initiative: Initiative, sheet: PaperSheet, signed_on: date) -> None:
    """Refuse a row's date in the future, before the collection opened or after it
    ended (an early close counts, as in the pack's period), or after its sheet was
    collected: for a typed row and a corrected one alike.

    ``sheet`` is read under the initiative's lock, so that a correction of its date
    committed meanwhile is the one compared with.
    """
    opened = local_date(initiative.opens_at) if initiative.opens_at else None
    end = initiative.collection_ends_at
    last = local_date(end) if end else None
    if signed_on > local_date(clock.utcnow()) or (opened and signed_on < opened):
        raise PaperRefused(str(_l("Datumet måste vara under insamlingen och inte i framtiden.")))
    if last and signed_on > last:
        raise PaperRefused(str(_l("Datumet är efter att insamlingen slutade.")))
    # Nobody signs a sheet once it is collected: such a date is mistyped (the row's, or
    # the sheet's, which can be corrected first).
    if signed_on > sheet.collected_on:
        raise PaperRefused(
            str(
                _l(
                    "Datumet är efter att listan samlades in (%(date)s).",
                    date=sheet.collected_on.isoformat(),
                )
            )
        )


def add_row(
    sheet: PaperSheet,
    actor: str,
    *,
    name: str,
    postcode: str | None,
    signed_on: date,
) -> tuple[PaperRow, list[Match]]:
    """Type one row of a sheet: a confirmed paper signature, flagged if it matches another."""
    initiative = db.session.get(Initiative, sheet.initiative_id)
    assert initiative is not None
    # One row at a time per initiative: a second request for the same sheet (a double
    # click) waits here, then reads the line the first one took.
    lock(initiative)
    open_for_paper(initiative)
    db.session.refresh(sheet)  # its date as it is now (see ``check_signed_on``)
    try:
        postcode = signatures.normalise_postcode(postcode)
    except ValueError:
        raise TransitionError(str(BAD_POSTCODE)) from None
    check_signed_on(initiative, sheet, signed_on)
    matches = find_matches(initiative.id, name, postcode)
    box = crypto()
    signature = Signature(
        initiative_id=initiative.id,
        state=SignatureState.PENDING,
        channel=Channel.PAPER,
        locale=DEFAULT_LOCALE,
        text_hash=initiative.text_hash,
        name_enc=box.encrypt(name.strip()),
        postcode_enc=box.encrypt(postcode),
        postcode_area=postcode[:3] if postcode else None,
    )
    db.session.add(signature)
    db.session.flush()
    # Through ``move``, like every state change, so the cached count stays exact.
    signature_states.move(
        Signature.id == signature.id,
        initiative.id,
        SignatureState.PENDING,
        SignatureState.CONFIRMED,
        confirmed_at=local_noon(signed_on),
    )
    line = (
        db.session.scalar(
            sa.select(sa.func.max(PaperRow.line)).where(PaperRow.sheet_id == sheet.id)
        )
        or 0
    ) + 1
    row = PaperRow(
        signature_id=signature.id,
        sheet_id=sheet.id,
        line=line,
        review=Review.PENDING if matches else None,
    )
    db.session.add(row)
    db.session.flush()
    db.session.refresh(signature)
    audit.record(
        "paper.row_added",
        actor=actor,
        initiative=initiative,
        signature=signature,
        sheet=sheet.number,
        line=line,
        flagged=bool(matches),
    )
    return row, matches


@dataclass
class Rescan:
    """What a rescan did: rows flagged, and flags taken off."""

    flagged: int = 0
    cleared: int = 0


@dataclass
class _Typed:
    """Of a paper row another one matches, what says whether their pair has a flag."""

    waiting: bool  # flagged and counting (when a rescan began, in ``_pair_answered``)
    kept_at: datetime | None


def _typed_rows(initiative_id: int, among: list[int] | None = None) -> dict[int, _Typed]:
    """Every paper row of the initiative (or those of ``among``), taken out or not, by
    its signature's id."""
    query = (
        sa.select(PaperRow.signature_id, PaperRow.review, PaperRow.kept_at, Signature.state)
        .join(Signature, Signature.id == PaperRow.signature_id)
        .where(Signature.initiative_id == initiative_id)
    )
    if among is not None:
        query = query.where(PaperRow.signature_id.in_(among))
    return {
        signature_id: _Typed(
            review == Review.PENDING and state == SignatureState.CONFIRMED, kept_at
        )
        for signature_id, review, kept_at, state in db.session.execute(query)
    }


def _pair_answered(row: PaperRow, other_id: int, other: _Typed) -> bool:
    """Whether ``row`` needs no flag of its own for a paper row it matches, since their
    pair has, or had, an organiser's look through the other: typed after ``row``, the
    other was compared with it then (and flagged, as typing flags the later row, or
    decided on since); waiting for review, its page shows ``row``; kept since ``row``
    last changed (``changed_at``: typed, corrected, restored), it was answered about the two as
    they read now.  Not kept since ``row`` was typed alone: ``row`` may have been
    corrected to its name since."""
    return (
        other_id > row.signature_id
        or other.waiting
        or (other.kept_at is not None and other.kept_at > row.changed_at)
    )


def _carried(row: PaperRow, other_id: int, other: _Typed) -> bool:
    """Whether a paper row that ``row`` matches, typed after it, asks or answered the
    question of the two, so that ``row``, the one that counts, needs no flag for it:
    waiting for review and never kept (its flag then stands while ``row`` matches it,
    and its page shows ``row``), or kept since ``row`` last changed (``changed_at``:
    typed, corrected, kept, restored), so that keep answered about the two as they read now, and
    ``row`` has nothing left to ask about it, flagged or kept.

    Not a later row waiting after a keep before that (it compares only what came after,
    so its flag can go while ``row`` matches), nor one kept before ``row`` was corrected
    to its name.  Stricter than ``_pair_answered``, which raises flags: this one takes
    them off.
    """
    if other_id < row.signature_id:
        return False
    if other.waiting and other.kept_at is None:
        return True
    return other.kept_at is not None and other.kept_at > row.changed_at


def needs_flag(row: PaperRow, matches: list[Match]) -> bool:
    """Whether ``row`` must wait for review for one of ``matches``: a signature made
    online or at a stand (only a paper row is flagged, so the question is its own,
    whenever the other was made), a paper row typed before it (it is the later one of
    the two), or one typed after it that does not carry the question (``_carried``).

    "Before" is typing's order, the signatures' ids, as in ``_pair_answered``.  A kept
    row's ``matches`` are those made since its keep (``unflag_if_stale``).
    """
    if not matches:
        return False
    typed = _typed_rows(row.signature.initiative_id, [m.signature.id for m in matches])
    return any(
        m.signature.id not in typed or not _carried(row, m.signature.id, typed[m.signature.id])
        for m in matches
    )


def rescan(initiative: Initiative, actor: str) -> Rescan:
    """Flag paper rows that now match another signature (signed online later), and
    unflag those still waiting for review that need it no longer (``unflag_if_stale``).

    A row an organiser kept was compared with the signatures there were then; it is
    flagged again only by one made after that.  Of two paper rows that match, the one
    typing flagged is the only one flagged (``_pair_answered``): a rescan flagged the
    earlier row too, asking twice about one pair, or again about one an organiser had
    kept.  A decision (kept, resolved) is never undone here.
    """
    # Before the rows are read: a decision or correction under way is waited for and seen.
    lock(initiative)
    done = Rescan()
    box = crypto()
    # Read before any flag changes, so that the order the rows come in decides nothing.
    typed = _typed_rows(initiative.id)
    rows = db.session.scalars(
        sa.select(PaperRow)
        .join(Signature, Signature.id == PaperRow.signature_id)
        .where(
            Signature.initiative_id == initiative.id,
            Signature.state == SignatureState.CONFIRMED,
            Signature.anonymised_at.is_(None),
        )
    ).all()
    waiting = [row for row in rows if row.review == Review.PENDING]
    for row in rows:
        if row.review not in (None, Review.KEPT):
            continue
        name = box.decrypt(row.signature.name_enc) or ""
        postcode = box.decrypt(row.signature.postcode_enc)
        made_after = row.kept_at if row.review == Review.KEPT else None
        matches = find_matches(
            initiative.id, name, postcode, exclude_id=row.signature_id, made_after=made_after
        )
        if any(
            m.signature.id not in typed
            or not _pair_answered(row, m.signature.id, typed[m.signature.id])
            for m in matches
        ):
            row.review = Review.PENDING
            done.flagged += 1
    db.session.flush()
    # Then the flags there were, the latest row first: whether a row keeps its flag
    # depends on the rows typed after it (``_carried``), flagged just now too, and on
    # nothing else that changes here.
    for row in sorted(waiting, key=lambda row: row.signature_id, reverse=True):
        done.cleared += unflag_if_stale(row)
    db.session.flush()
    audit.record(
        "paper.rescanned",
        actor=actor,
        initiative=initiative,
        flagged=done.flagged,
        cleared=done.cleared,
    )
    return done


def unflag_if_stale(row: PaperRow) -> bool:
    """Take the flag off a row waiting for review that needs it no longer
    (``needs_flag``); whether it did.  What it matched was withdrawn, ran out, was
    taken out as a duplicate or a typing error, or was corrected; or all it matches
    now are rows typed after it that carry the question (its earlier flag was for an
    online signature since withdrawn, say): the earlier row is the one that counts.

    A row an organiser kept is compared, as when it was flagged again, with the
    signatures made since (``kept_at``) only, and goes back to kept: it was answered
    about the older ones.  An anonymised row has no name to compare, and stays.

    Decided for the rows typed after this one first (``rescan``, the corrections), since
    it reads whether they wait for review.
    """
    signature = row.signature
    if row.review != Review.PENDING or signature.anonymised_at is not None:
        return False
    box = crypto()
    name = box.decrypt(signature.name_enc) or ""
    postcode = box.decrypt(signature.postcode_enc)
    matches = find_matches(
        signature.initiative_id, name, postcode, exclude_id=row.signature_id,
        made_after=row.kept_at,
    )  # fmt: skip
    if needs_flag(row, matches):
        return False
    row.review = Review.KEPT if row.kept_at else None
    db.session.flush()  # read by the earlier rows decided next
    return True


def _awaiting(initiative_id: int) -> sa.ColumnElement[bool]:
    """Flagged rows still counting: one taken out on its signature's page (a typing
    error, say) has nothing left to decide, and must not be reported as counted."""
    return sa.and_(
        Signature.initiative_id == initiative_id,
        Signature.state == SignatureState.CONFIRMED,
        PaperRow.review == Review.PENDING,
    )


def to_review(initiative: Initiative) -> list[PaperRow]:
    return list(
        db.session.scalars(
            sa.select(PaperRow)
            .join(Signature, Signature.id == PaperRow.signature_id)
            .where(_awaiting(initiative.id))
            .order_by(PaperRow.sheet_id, PaperRow.line)
        )
    )


def review_count(initiative_id: int) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(PaperRow)
            .join(Signature, Signature.id == PaperRow.signature_id)
            .where(_awaiting(initiative_id))
        )
        or 0
    )


def hold_row(row: PaperRow) -> Initiative:
    """Lock a row for a decision or a correction, in the module's order (its signature,
    the initiative, the row), and read it afresh: what another organiser committed while
    this request was on its way is what this one sees.  The row's initiative."""
    db.session.execute(
        sa.select(Signature.id).where(Signature.id == row.signature_id).with_for_update()
    )
    initiative = db.session.get(Initiative, row.signature.initiative_id)
    assert initiative is not None
    lock(initiative)
    db.session.execute(
        sa.select(PaperRow.signature_id)
        .where(PaperRow.signature_id == row.signature_id)
        .with_for_update()
    )
    db.session.refresh(row)
    db.session.refresh(row.signature)
    return initiative


# A decision sent from a review page that showed the row, or what it matches, otherwise
# than they are now (``review_version``).
CHANGED_ON_PAGE = _l("Raden har ändrats sedan sidan öppnades: titta på den igen.")


class PageChanged(TransitionError):
    """A decision about a row from a page that showed it otherwise: nothing was done."""


def review_matches(row: PaperRow) -> list[Match]:
    """What the review page shows a flagged row matches: every live signature with its
    name and postcode (not only those made since a keep: the organiser compares all)."""
    box = crypto()
    signature = row.signature
    name = box.decrypt(signature.name_enc) or ""
    postcode = box.decrypt(signature.postcode_enc)
    return find_matches(signature.initiative_id, name, postcode, exclude_id=row.signature_id)


def review_version(row: PaperRow, matches: list[Match]) -> str:
    """What the review page showed of a flagged row and the signatures it matches
    (``review_matches``), as 64 hex digits: sent back with a decision, it says what the
    decision was about.

    The row's last change (``changed_at``: typed, corrected, kept, restored), its review
    and state; each match's id, state and, for a paper row, its sheet and last change.
    A row typed or corrected to match, one corrected that still matches, a signature
    gone, withdrawn or confirmed since all give another version.  No name, nor a digest
    of one, is put on the page.
    """
    ids = sorted(m.signature.id for m in matches)
    changed: dict[int, datetime] = {}
    if ids:
        changed = dict(
            db.session.execute(
                sa.select(PaperRow.signature_id, PaperRow.changed_at).where(
                    PaperRow.signature_id.in_(ids)
                )
            ).all()
        )
    signature = row.signature

    def at(moment: datetime | None) -> str:
        return moment.isoformat() if moment else ""

    parts = [
        str(row.signature_id),
        at(row.changed_at),
        row.review or "",
        at(row.kept_at),
        signature.state,
        "anonymised" if signature.anonymised_at else "",
    ]
    for match in sorted(matches, key=lambda m: m.signature.id):
        other = match.signature
        parts += [
            str(other.id),
            other.state,
            other.invalidation_reason or "",
            match.sheet_number or "",
            at(changed.get(other.id)),
        ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _awaiting_review(row: PaperRow, seen: str) -> None:
    """A decision is taken once, and about what its page showed: sent again from an old
    page, it would undo the first; sent from a page that showed the row or what it
    matches otherwise (``seen``, the page's ``review_version``), it would answer about
    rows nobody looked at (a keep after a row was typed answers about the two,
    ``_pair_answered``).  A page that sent no version is refused alike: nothing says
    what it showed.

    Checked under ``hold_row``: another organiser's decision, a row typed, or a
    correction committed while this one was on its way, is the one this sees.
    """
    # A list handed in is final: its flags stay as the committee received them.
    open_for_paper(hold_row(row))
    if row.review != Review.PENDING or row.signature.state != SignatureState.CONFIRMED:
        raise TransitionError(str(_l("Raden väntar inte längre på granskning.")))
    if seen != review_version(row, review_matches(row)):
        raise PageChanged(str(CHANGED_ON_PAGE))


def keep(row: PaperRow, actor: str, *, seen: str) -> None:
    """Reviewed: a different person after all; the row keeps counting.  ``seen``: what
    the page showed (``review_version``)."""
    _awaiting_review(row, seen)
    row.review = Review.KEPT
    row.kept_at = row.changed_at = clock.utcnow()
    db.session.flush()
    audit.record(
        "paper.review_kept",
        actor=actor,
        initiative=row.signature.initiative,
        signature=row.signature,
    )


def resolve_duplicate(row: PaperRow, actor: str, note: str, *, seen: str) -> None:
    """Reviewed: the same person signed twice; this paper row stops counting.  ``seen``:
    what the page showed (``review_version``)."""
    from . import moderation

    _awaiting_review(row, seen)
    moderation.invalidate(row.signature, actor, reason="duplicate", note=note)
    row.review = Review.RESOLVED
    row.changed_at = clock.utcnow()
    db.session.flush()


def before_restore(signatures: sa.ColumnElement[bool]) -> None:
    """Called as an invalidation of ``signatures`` is undone, before it is: the paper
    rows among them taken out as a duplicate or a typing error matched nothing
    (``find_matches``), so a keep of another row meanwhile answered nothing about them.
    Counted again, they change (``changed_at``) as a corrected row does."""
    taken_out = sa.select(Signature.id).where(
        signatures,
        Signature.state == SignatureState.INVALIDATED,
        Signature.invalidation_reason.in_(NOT_SECOND_SIGNATURES),
    )
    db.session.execute(
        sa.update(PaperRow)
        .where(PaperRow.signature_id.in_(taken_out))
        .values(changed_at=clock.utcnow())
    )


def sheets(initiative: Initiative) -> list[tuple[PaperSheet, int, int]]:
    """Every sheet with its number of rows and of rows still counting."""
    counted = sa.func.sum(sa.case((Signature.state == SignatureState.CONFIRMED, 1), else_=0))
    query = (
        sa.select(PaperSheet, sa.func.count(PaperRow.signature_id), counted)
        .outerjoin(PaperRow, PaperRow.sheet_id == PaperSheet.id)
        .outerjoin(Signature, Signature.id == PaperRow.signature_id)
        .where(PaperSheet.initiative_id == initiative.id)
        .group_by(PaperSheet.id)
        .order_by(PaperSheet.collected_on, PaperSheet.id)
    )
    return [(sheet, rows, int(ok or 0)) for sheet, rows, ok in db.session.execute(query).all()]
