"""Whether a paper row names someone who has signed already: its name compared with
every live signature's, however a keyboard wrote it.

A row is compared by name and postcode when it is typed, corrected, or looked over again
("Sök efter nya dubbletter"); a match flags it for an organiser, never drops it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .crypto import crypto
from .extensions import db
from .models import AuditEvent, Signature, SignatureState
from .names import without_invisible

# Invalidation reasons (organisers' and abuse review's) that say a signature was never a
# signature of its own: a duplicate of one that counts, or a row typed wrong.
NOT_SECOND_SIGNATURES = ("duplicate", "duplicate_person", "entry_error")
# The audit event of a pending signature's name or postcode corrected by its signer
# (``signature_repeat.sign_again``).
CORRECTED = "signature.details_corrected"
_SPACE = re.compile(r"\s+")
# Letters one keyboard writes and another does not: Persian yeh and kaf (ی ک) against
# Arabic (ي ك), alef maqsura, taa marbuta; tatweel and the zero-width (non-)joiner drop.
_VARIANTS = str.maketrans(
    {"ی": "ي", "ى": "ي", "ک": "ك", "ة": "ه", "ـ": None, "\u200c": None, "\u200d": None}
)
# What joins the parts of a name, left out of the match key: spaces, and the hyphen in
# every form a keyboard or phone types it (non-breaking, en dash, minus); a soft hyphen
# is gone already (``without_invisible``).  Arabic script joins with the zero-width
# (non-)joiner and tatweel, dropped with the variants.
_JOINS = re.compile(r"[ \-\u2010-\u2015\u2212]")


def normalise_name(name: str) -> str:
    """For matching only: case-folded, single spaces, without marks or keyboard variants.

    A sheet is typed on whatever keyboard the organiser has: Hadžić becomes Hadzic, and a
    name signed on a Persian phone (علی) is typed with Arabic letters (علي).  Accents,
    hamza and vowel marks are dropped (أ is ا), so such a row is still flagged.
    """
    decomposed = unicodedata.normalize("NFKD", without_invisible(name))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACE.sub(" ", bare.translate(_VARIANTS)).strip().casefold()


def match_key(name: str) -> str:
    """What two names are compared by: ``normalise_name`` without its spaces and hyphens.

    Persian writes the parts of a name with a space, a zero-width non-joiner or joined
    (محمد رضا, محمد‌رضا, محمدرضا), and the signer and the organiser each chose one; the
    joiner is dropped already, so the space goes too.  A double name is signed with a
    hyphen and typed from the sheet without it ("Ann-Marie", "Ann Marie"), or the other
    way round.  Latin names then also match joined ("Annmarie"), which is acceptable for
    a flag: an organiser looks at it and decides, and no row is dropped.
    """
    return _JOINS.sub("", normalise_name(name))


@dataclass
class Match:
    """Another live signature with the same name and postcode as a paper row."""

    signature: Signature
    sheet_number: str | None


def find_matches(
    initiative_id: int,
    name: str,
    postcode: str | None,
    exclude_id: int | None = None,
    made_after: datetime | None = None,
) -> list[Match]:
    """Live signatures (pending, confirmed, invalidated but for ``NOT_SECOND_SIGNATURES``)
    with this name and postcode, only those made after ``made_after`` if given, or whose
    name or postcode a signer corrected since (signing again while pending): a row kept
    then was never compared with what they read now.

    Names are encrypted, so candidates are narrowed by postcode area in SQL and compared
    decrypted here; at a neighbourhood's scale this is quick.  Where either side has no
    postcode (it is optional online) the name alone decides: a false alarm costs a look,
    a missed duplicate costs trust.
    """
    wanted = match_key(name)
    if not wanted:
        return []  # an anonymised row has no name left to compare
    query = sa.select(Signature).where(
        Signature.initiative_id == initiative_id,
        Signature.state.in_(
            [SignatureState.PENDING, SignatureState.CONFIRMED, SignatureState.INVALIDATED]
        ),
        # Anonymised signatures have no name: two of them are not "the same name".
        Signature.anonymised_at.is_(None),
        # Nor is one taken out as a duplicate or a typing error a second signature:
        # flagging against it asks to take out the one that still counts.
        sa.or_(
            Signature.state != SignatureState.INVALIDATED,
            Signature.invalidation_reason.is_(None),
            Signature.invalidation_reason.not_in(NOT_SECOND_SIGNATURES),
        ),
    )
    if postcode:
        query = query.where(
            sa.or_(Signature.postcode_area == postcode[:3], Signature.postcode_area.is_(None))
        )
    if exclude_id is not None:
        query = query.where(Signature.id != exclude_id)
    if made_after is not None:
        corrected = sa.select(AuditEvent.signature_id).where(
            AuditEvent.initiative_id == initiative_id,
            AuditEvent.action == CORRECTED,
            AuditEvent.at > made_after,
        )
        query = query.where(sa.or_(Signature.created_at > made_after, Signature.id.in_(corrected)))
    box = crypto()
    found = []
    for candidate in db.session.scalars(query):
        if match_key(box.decrypt(candidate.name_enc) or "") != wanted:
            continue
        theirs = box.decrypt(candidate.postcode_enc)
        if postcode and theirs and theirs != postcode:
            continue
        found.append(candidate)
    sheets = _sheet_numbers([s.id for s in found])
    return [Match(s, sheets.get(s.id)) for s in found]


def _sheet_numbers(signature_ids: list[int]) -> dict[int, str]:
    # Here, not at the top: ``paper`` imports this module for its rows' checks.
    from .paper import PaperRow, PaperSheet

    if not signature_ids:
        return {}
    rows = db.session.execute(
        sa.select(PaperRow.signature_id, PaperSheet.number)
        .join(PaperSheet, PaperSheet.id == PaperRow.sheet_id)
        .where(PaperRow.signature_id.in_(signature_ids))
    )
    return {signature_id: number for signature_id, number in rows}
