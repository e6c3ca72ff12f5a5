"""Which typed paper rows wait for an organiser's review, and the decisions about them.

Typing flags a row that matches another live signature (``paper.add_row``).  This module
holds the rules from there on: which row of a matching pair asks the question
(``needs_flag``), a rescan that flags rows matched since and takes off flags no longer
needed (``rescan``, ``unflag_if_stale``, which a correction uses too), the rows waiting
and their count, what the review page shows of a row and sends back with a decision
(``review_matches``, ``review_version``), the decisions themselves (``keep``,
``resolve_duplicate``), and what an undone invalidation changes of a paper row
(``before_restore``).

Locks are taken in ``paper``'s order (a row's signature, then the initiative's row, then
paper rows): a rescan starts at the initiative, a decision at the row's signature
(``paper.hold_row``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from . import audit, clock
from .crypto import crypto
from .extensions import db
from .lifecycle import TransitionError, lock
from .models import Initiative, Signature, SignatureState
from .paper import PaperRow, Review, hold_row, open_for_paper
from .paper_matching import NOT_SECOND_SIGNATURES, Match, find_matches


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
    # Here, not at the top: ``moderation`` imports this module (``before_restore``).
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
