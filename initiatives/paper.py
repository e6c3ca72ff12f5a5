"""Paper sheets: signatures collected on paper and typed in by an organiser.

This module holds the sheets and their rows, typing them in, the checks a correction
shares with typing (``paper_corrections``), the lock a decision or a correction takes
(``hold_row``) and the list of sheets.  Which rows wait for an organiser's review, and
the decisions about them, are ``paper_review``'s.

A row becomes a ``Signature`` with channel ``paper``, confirmed (a handwritten signature
is its own confirmation) through ``signature_states.move`` so the count stays exact, with the
name and postcode encrypted like every other signer's.  Its ``confirmed_at`` is the day
it was signed, so lists and charts place it on that day.  A row whose name and postcode
match another live signature is flagged for review, never dropped: an organiser decides.

Every paper action (here, in ``paper_review`` and in ``paper_corrections``) takes its
locks in one order, so that no two wait for each other: a row's signature first (as a
confirmation, an invalidation on the signature's page and an abuse review take it), then
the initiative's row (``lifecycle.lock``), then paper rows.  A typed row, a rescan and a
sheet's correction start at the initiative; a decision on a row or its correction at its
signature (``hold_row``).
"""

from __future__ import annotations

import enum
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
from .paper_matching import Match, find_matches


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
    ``texts.TextRefused``.  A state that moved on stays a ``TransitionError``, and a
    sheet number another sheet took is a ``NumberTaken``: 409.

    ``field`` names the form field the refusal is about (``collected_on`` of a sheet,
    ``signed_on`` of a row), so that the page says it at that field, with the error
    summary linking to it, as it does a date it cannot read.
    """

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


class NumberTaken(TransitionError):
    """Another sheet of the initiative has this number: a conflict (409), as it may be
    one that another organiser's sheet took a moment ago, said at the number field."""

    field = "number"


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
            str(_l("Datumet kan inte vara i framtiden eller före insamlingens början.")),
            field="collected_on",
        )
    query = sa.select(PaperSheet.id).where(
        PaperSheet.initiative_id == initiative.id, PaperSheet.number == number
    )
    if sheet_id is not None:
        query = query.where(PaperSheet.id != sheet_id)
    if db.session.scalar(query) is not None:
        raise NumberTaken(str(_l("Det finns redan en lista med nummer %(n)s.", n=number)))


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
        raise PaperRefused(
            str(_l("Datumet måste vara under insamlingen och inte i framtiden.")),
            field="signed_on",
        )
    if last and signed_on > last:
        raise PaperRefused(str(_l("Datumet är efter att insamlingen slutade.")), field="signed_on")
    # Nobody signs a sheet once it is collected: such a date is mistyped (the row's, or
    # the sheet's, which can be corrected first).
    if signed_on > sheet.collected_on:
        raise PaperRefused(
            str(
                _l(
                    "Datumet är efter att listan samlades in (%(date)s).",
                    date=sheet.collected_on.isoformat(),
                )
            ),
            field="signed_on",
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
