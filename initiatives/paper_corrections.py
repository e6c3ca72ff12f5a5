"""Corrections of what an organiser typed from a paper sheet, until the hand-in.

A sheet's number, date and collector can be corrected with the rules of a new sheet (and
its date never to a day before a row on it), a row's name, postcode and signed date with
the rules of a typed row; a row with a new name or postcode is then compared for
duplicates again, and its state (counted, or taken out) stays what it was.  Each
correction is one audit event, and happens once: the same form sent twice (a double
click) finds nothing left to change, and one sent from a page opened before someone
else's correction is refused, so that it cannot undo that one unseen.  The page carries
a version of what it showed (``sheet_version``, ``row_version``) for that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext

from . import audit, clock, signatures
from .crypto import crypto
from .extensions import db
from .lifecycle import TransitionError, local_date, local_noon, lock
from .models import Initiative, Signature, SignatureState
from .paper import (
    BAD_POSTCODE,
    PaperRefused,
    PaperRow,
    PaperSheet,
    Review,
    check_sheet,
    check_signed_on,
    hold_row,
    open_for_paper,
)
from .paper_matching import Match, find_matches
from .paper_review import needs_flag, unflag_if_stale

ERASED = _l("Personuppgifterna på raden är raderade och kan inte rättas.")
CHANGED_SINCE = _l(
    "Uppgifterna har ändrats sedan du öppnade sidan. Kontrollera det som är sparat nu "
    "och skicka igen om din rättelse fortfarande behövs."
)


def _version(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def sheet_version(sheet: PaperSheet) -> str:
    """What a correction page showed of the sheet, as 64 hex digits."""
    return _version(sheet.number, sheet.collected_on.isoformat(), sheet.collected_by)


def correct_sheet(
    sheet: PaperSheet,
    actor: str,
    *,
    seen: str,
    number: str,
    collected_on: date,
    collected_by: str,
) -> bool:
    """Correct a sheet's number, date and collector; whether anything changed.

    The audit event has the old and new number and date; of the collector only that
    the name changed (a volunteer's name is no business of the log).
    """
    initiative = db.session.get(Initiative, sheet.initiative_id)
    assert initiative is not None
    # One organiser action at a time per initiative (the sheet's number is checked
    # against the others as they are once the other action has committed).
    lock(initiative)
    open_for_paper(initiative)
    db.session.refresh(sheet)
    wanted = (number, collected_on, collected_by)
    if (sheet.number, sheet.collected_on, sheet.collected_by) == wanted:
        return False  # sent twice, or nothing changed: nothing to record
    if seen != sheet_version(sheet):
        raise TransitionError(str(CHANGED_SINCE))
    check_sheet(initiative, number=number, collected_on=collected_on, sheet_id=sheet.id)
    if collected_on != sheet.collected_on:
        # Checked when it changes, as a row's date is: a number or a collector corrected
        # on a sheet typed before this rule held is not held up by its rows.
        _check_rows_signed_by(sheet, collected_on)
    changes: dict[str, object] = {}
    if number != sheet.number:
        changes["number"] = {"old": sheet.number, "new": number}
    if collected_on != sheet.collected_on:
        changes["collected_on"] = {
            "old": sheet.collected_on.isoformat(),
            "new": collected_on.isoformat(),
        }
    if collected_by != sheet.collected_by:
        changes["collected_by_changed"] = True
    sheet.number, sheet.collected_on, sheet.collected_by = wanted
    db.session.flush()
    audit.record(
        "paper.sheet_corrected", actor=actor, initiative=initiative, sheet=number, **changes
    )
    return True


def _check_rows_signed_by(sheet: PaperSheet, collected_on: date) -> None:
    """Refuse a sheet's new date if a row on it is dated later: nobody signed it after
    it was collected, so one of the two dates is mistyped.  Every row is counted, one
    taken out too (its date can be corrected), and the message says how many and the
    latest date, so that the organiser can find them on the sheet.  Not an erased row:
    its date can no longer be corrected, so it would hold the sheet's date for good."""
    stored = db.session.scalars(
        sa.select(Signature.confirmed_at)
        .join(PaperRow, PaperRow.signature_id == Signature.id)
        .where(
            PaperRow.sheet_id == sheet.id,
            Signature.confirmed_at.is_not(None),
            Signature.anonymised_at.is_(None),
        )
    )
    later = sorted(day for day in map(local_date, stored) if day > collected_on)
    if later:
        raise PaperRefused(
            str(
                lazy_ngettext(
                    "En rad på listan är daterad senare (%(date)s): ingen kan skriva under "
                    "en lista efter att den samlades in.",
                    "%(num)s rader på listan är daterade senare, den senaste %(date)s: ingen "
                    "kan skriva under en lista efter att den samlades in.",
                    len(later),
                    date=later[-1].isoformat(),
                )
            ),
            field="collected_on",
        )


def row_version(row: PaperRow) -> str:
    """What a correction page showed of the row, as 64 hex digits.

    A digest of the stored ciphertexts, not of the name: they change with every write
    (each encryption has its own random IV), and no digest of a name is put on a page.
    The signed date is in it as it is stored.
    """
    signature = row.signature
    stored = (
        bytes(signature.name_enc or b""),
        bytes(signature.postcode_enc or b""),
        signature.confirmed_at.isoformat().encode() if signature.confirmed_at else b"",
    )
    return hashlib.sha256(b"\x1f".join(stored)).hexdigest()


def row_signed_on(row: PaperRow) -> date | None:
    """The day the row says it was signed (its ``confirmed_at``, noon in Malmö)."""
    confirmed_at = row.signature.confirmed_at
    return local_date(confirmed_at) if confirmed_at else None


@dataclass
class RowCorrection:
    """What a row correction did."""

    changed: bool = False
    # The signatures the row now matches (for a new name or postcode): it is flagged for
    # review if one is its to answer for (``paper_review.needs_flag``), not for a later row
    # alone that waits for review itself.
    matches: list[Match] = field(default_factory=list)
    # Other rows flagged against what the row said before whose flags went: they match
    # nothing now, or only later rows that carry the question.
    cleared: int = 0
    # The row waits for review once corrected.
    waiting: bool = False


def _flagged_against(matches: list[Match]) -> list[PaperRow]:
    """The rows among ``matches`` that wait for review and still count, locked.

    Waited for, not skipped, if another request holds one: a decision on a row takes
    the initiative's lock before the row's (``paper.hold_row``), which this correction
    holds, so a holder never waits for it; skipped, a row would keep a flag with
    nothing behind it.
    """
    ids = [m.signature.id for m in matches]
    if not ids:
        return []
    return list(
        db.session.scalars(
            sa.select(PaperRow)
            .join(Signature, Signature.id == PaperRow.signature_id)
            .where(
                PaperRow.signature_id.in_(ids),
                PaperRow.review == Review.PENDING,
                Signature.state == SignatureState.CONFIRMED,
            )
            .with_for_update(of=PaperRow)
            .execution_options(populate_existing=True)
        )
    )


def _settle_flags(row: PaperRow, matches: list[Match] | None, stale: list[PaperRow]) -> int:
    """Flag the corrected ``row`` if it needs it for its new ``matches`` (``None``: it
    was not compared again), and unflag those of ``stale`` that need it no longer
    (``paper_review.unflag_if_stale``); how many.

    As when a row is typed, a flag stands for a question there is: one raised by what
    the row said before has nothing behind it, and of two paper rows that match, the
    later one asks it (``paper_review.needs_flag``).  The latest row first, as in a rescan:
    whether a row needs its flag depends on the rows typed after it.  A decision an
    organiser took (kept, resolved) on another row is not in ``stale`` and stays.
    """
    cleared = 0
    for other in sorted([*stale, row], key=lambda r: r.signature_id, reverse=True):
        if other is not row:
            cleared += unflag_if_stale(other)
        elif matches is not None:
            row.review = Review.PENDING if needs_flag(row, matches) else None
            db.session.flush()
    return cleared


def correct_row(
    row: PaperRow, actor: str, *, seen: str, name: str, postcode: str | None, signed_on: date
) -> RowCorrection:
    """Correct a row's name, postcode and signed date.

    The date moves the row to another day in the dashboard and the clerk's list, never
    out of the count; it is no part of the duplicate check, so a new date alone leaves
    the row's review, and the others', as they were.  A new name or postcode compares
    the row afresh, and unflags the rows flagged against what it said before that need
    it no longer.  As when a row is typed, a row the corrected one now matches is not
    flagged itself: the corrected row is, and the review page shows both; unless that
    row was typed after it and already waits for review (``paper_review.needs_flag``), which
    then asks about the two, as a rescan would have it.
    """
    # As a typed row: one organiser action at a time per initiative, so the duplicate
    # check below sees a row typed or corrected at the same moment; the row's signature
    # before that, in the paper module's order.
    initiative = hold_row(row)
    open_for_paper(initiative)
    db.session.refresh(row.sheet)  # its date as it is now (see ``check_signed_on``)
    signature = row.signature
    if signature.anonymised_at is not None:
        # Erased on the signer's request (or by retention): writing a name back would
        # undo the erasure.
        raise TransitionError(str(ERASED))
    try:
        postcode = signatures.normalise_postcode(postcode)
    except ValueError:
        raise TransitionError(str(BAD_POSTCODE)) from None
    name = name.strip()
    box = crypto()
    was = {
        "name": box.decrypt(signature.name_enc),
        "postcode": box.decrypt(signature.postcode_enc),
        "signed_on": row_signed_on(row),
    }
    wanted = {"name": name, "postcode": postcode, "signed_on": signed_on}
    fields = [key for key, value in wanted.items() if was[key] != value]
    if not fields:
        return RowCorrection()  # sent twice, or nothing changed: nothing to record
    if seen != row_version(row):
        raise TransitionError(str(CHANGED_SINCE))
    if "signed_on" in fields:
        # Checked when it changes: the date a row has was checked when it was typed.
        check_signed_on(initiative, row.sheet, signed_on)
        # Not through ``signature_states.move``: the state, and so the count, stay as they are.
        signature.confirmed_at = local_noon(signed_on)
    stale: list[PaperRow] = []
    matches: list[Match] | None = None  # compared again only for a new name or postcode
    if "name" in fields or "postcode" in fields:
        # The rows flagged against what this row said, found before it changes.
        old = find_matches(initiative.id, was["name"] or "", was["postcode"], signature.id)
        stale = _flagged_against(old)
        signature.name_enc = box.encrypt(name)
        signature.postcode_enc = box.encrypt(postcode)
        signature.postcode_area = postcode[:3] if postcode else None
        # A keep of another row before now answered about what this one said then.
        row.changed_at = clock.utcnow()
        if signature.state == SignatureState.CONFIRMED:
            # Compared afresh, as a row typed now: "different people" was decided on what
            # the row said before, and a flag raised by a typing error has nothing behind
            # it.  A row taken out keeps its decision: it does not count, nothing is asked.
            matches = find_matches(initiative.id, name, postcode, exclude_id=signature.id)
            row.kept_at = None
    db.session.flush()
    cleared = _settle_flags(row, matches, stale)
    db.session.flush()
    # Whether the row waits for review now, as for a typed row: a new date alone leaves
    # a flagged row flagged, which its ``matches`` (found only for a new name or
    # postcode) do not say.
    waiting = row.review == Review.PENDING and signature.state == SignatureState.CONFIRMED
    audit.record(
        "paper.row_corrected",
        actor=actor,
        initiative=initiative,
        signature=signature,
        sheet=row.sheet.number,
        line=row.line,
        fields=fields,
        flagged=waiting,
        cleared=cleared,
    )
    return RowCorrection(True, matches or [], cleared, waiting)
