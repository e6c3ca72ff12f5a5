"""Corrections of what an organiser typed from a paper sheet, until the hand-in.

A sheet's number, date and collector can be corrected with the rules of a new sheet.
Each correction is one audit event, and happens once: the same form sent twice (a double
click) finds nothing left to change, and one sent from a page opened before someone
else's correction is refused, so that it cannot undo that one unseen.  The page carries
a version of what it showed (``sheet_version``) for that.
"""

from __future__ import annotations

import hashlib
from datetime import date

from flask_babel import lazy_gettext as _l

from . import audit
from .extensions import db
from .lifecycle import TransitionError, lock
from .models import Initiative
from .paper import PaperSheet, check_sheet, open_for_paper

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
