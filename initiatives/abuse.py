"""Abuse review: organisers see bursts and invalidate selections openly, never silently.

Nothing here acts on its own.  ``bursts.py`` points at clusters that deserve a look: many
signatures in a short window from one client (the keyed, daily-salted ``client_hash``),
one email domain, or one kiosk.  An organiser previews how many signatures a selection
matches, then invalidates it with a reason code.  Invalidated signatures stay in the
database, stop counting (through ``signature_states.move``, so ``confirmed_count`` stays
exact), and can be restored; every change is an audit event that lists the signatures
it touched.  Signers whose signature is held see so on their confirmation page.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from . import audit, clock, lifecycle, paper_review
from .bursts import REVIEWABLE, domain_of, kiosk_column
from .extensions import db
from .models import AuditEvent, Initiative, Signature, SignatureState
from .signature_states import link_ran_out, move

INVALIDATE_ACTION = "abuse.invalidate"
RESTORE_ACTION = "abuse.restore"
MIN_CLIENT_PREFIX = 8
CHUNK = 500


class Reason(enum.StrEnum):
    """Why signatures were invalidated; shown in the audit log and the pack's notes."""

    AUTOMATED = "automated"  # a script or bot signed
    DUPLICATE_PERSON = "duplicate_person"  # one person signed under several addresses
    NOT_ELIGIBLE = "not_eligible"  # not registered as living in Malmö
    FAKE_IDENTITY = "fake_identity"  # invented or someone else's name
    TEST = "test"  # test entries made by the organisers
    OTHER = "other"


class ReviewClosedError(Exception):
    """The list has been handed in (or is being wound up): it can no longer change."""


class SelectionError(ValueError):
    """A selection that would match too much, or is malformed."""


class SelectionChangedError(SelectionError):
    """The selection no longer matches as many signatures as the organiser previewed."""

    def __init__(self, now: int, expected: int):
        super().__init__(f"the selection matches {now} now, not {expected}")
        self.now = now
        self.expected = expected


@dataclass
class Selection:
    """Which signatures of one initiative to act on; criteria combine with AND."""

    initiative_id: int
    client_hash: str | None = None  # a prefix of at least MIN_CLIENT_PREFIX characters
    domain: str | None = None
    kiosk_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    signature_ids: Sequence[int] | None = None

    def validate(self) -> None:
        chosen = [self.client_hash, self.domain, self.kiosk_id]
        if not any(chosen) and self.signature_ids is None:
            raise SelectionError(
                "a selection needs a client hash, an email domain, a kiosk or signature ids"
            )
        if self.client_hash is not None and len(self.client_hash) < MIN_CLIENT_PREFIX:
            raise SelectionError(f"give at least {MIN_CLIENT_PREFIX} characters of the client hash")
        if self.kiosk_id is not None and kiosk_column() is None:
            raise SelectionError("signatures have no kiosk column in this version")
        if self.kiosk_id is not None and (
            isinstance(self.kiosk_id, bool) or not isinstance(self.kiosk_id, int)
        ):
            raise SelectionError("a kiosk is given by its number (see `kiosk list`)")

    def describe(self) -> dict[str, Any]:
        """The criteria, for the audit log (no personal data: hashes, a domain, times)."""
        found: dict[str, Any] = {}
        for name in ("client_hash", "domain", "kiosk_id"):
            if getattr(self, name):
                found[name] = getattr(self, name)
        for name in ("since", "until"):
            if getattr(self, name) is not None:
                found[name] = getattr(self, name).isoformat()
        if self.signature_ids is not None:
            found["signature_ids"] = len(self.signature_ids)
        return found


@dataclass
class Matched:
    """Signatures a selection matches, by state."""

    ids: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.ids.values())

    def count(self, state: SignatureState) -> int:
        return len(self.ids.get(state.value, []))

    def fingerprint(self) -> str:
        """Which signatures these are, whatever their state: what a preview hands on to
        the invalidation, so that it acts on the signatures shown, not just as many."""
        ids = sorted(i for ids in self.ids.values() for i in ids)
        return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()


def _match(selection: Selection, states: Sequence[SignatureState], lock: bool) -> Matched:
    selection.validate()
    stmt = sa.select(Signature.id, Signature.state, Signature.email_enc).where(
        Signature.initiative_id == selection.initiative_id,
        Signature.state.in_([s.value for s in states]),
    )
    if selection.client_hash:
        stmt = stmt.where(Signature.client_hash.startswith(selection.client_hash, autoescape=True))
    if selection.kiosk_id:
        stmt = stmt.where(kiosk_column() == selection.kiosk_id)  # type: ignore[operator]
    if selection.since is not None:
        stmt = stmt.where(Signature.created_at >= selection.since)
    if selection.until is not None:
        stmt = stmt.where(Signature.created_at <= selection.until)
    if selection.signature_ids is not None:
        stmt = stmt.where(Signature.id.in_(list(selection.signature_ids)))
    if lock:
        stmt = stmt.with_for_update()
    matched = Matched()
    wanted_domain = selection.domain.casefold().lstrip("@") if selection.domain else None
    for row in db.session.execute(stmt.order_by(Signature.id)):
        if wanted_domain is not None and domain_of(row.email_enc) != wanted_domain:
            continue
        matched.ids.setdefault(row.state, []).append(row.id)
    return matched


def preview(selection: Selection) -> Matched:
    """What ``invalidate(selection)`` would act on now (nothing changes)."""
    return _match(selection, REVIEWABLE, lock=False)


def preview_restore(selection: Selection) -> Matched:
    """What ``restore(selection)`` would act on now (nothing changes)."""
    return _match(selection, (SignatureState.INVALIDATED,), lock=False)


def _initiative(selection: Selection) -> Initiative:
    initiative = db.session.get(Initiative, selection.initiative_id)
    if initiative is None:
        raise SelectionError("no such initiative")
    if not initiative.open_for_review():
        raise ReviewClosedError(initiative.state)
    return initiative


def _still_open(initiative: Initiative) -> None:
    """Hold the initiative's row as a hand-in or a withdrawal does, and check its state
    as of now: one committed since ``_initiative`` looked must stop the change (a pending
    signature moves no count, so nothing else would).  Taken after the signatures' rows,
    in the order a confirmation takes them (its row, then the count on the
    initiative's), so the two never wait for each other."""
    lifecycle.lock(initiative)
    if not initiative.open_for_review():
        raise ReviewClosedError(initiative.state)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


@dataclass
class Change:
    """The audit event of an invalidation or restore, and what it moved."""

    event_id: int
    confirmed: int
    pending: int
    withdrawn: int = 0  # a restore: held, and withdrawn by their signers meanwhile
    expired: int = 0  # a restore: unconfirmed, held until their link no longer worked

    @property
    def total(self) -> int:
        return self.confirmed + self.pending + self.expired


def invalidate(
    selection: Selection,
    *,
    reason: Reason | str,
    actor: str,
    note: str | None = None,
    expected: int | None = None,
    fingerprint: str | None = None,
) -> Change:
    """Invalidate what the selection matches; they stop counting at once (flushes).

    With ``expected`` (the count the organiser previewed), nothing changes unless the
    selection still matches that many: counted under the rows' locks, so a second
    organiser confirming the same preview at the same moment acts on nothing and is
    told so (SelectionChangedError), rather than logging an invalidation of nothing.
    With ``fingerprint`` (``Matched.fingerprint`` of the preview) the signatures must be
    the same ones too: one previewed signer withdrawing and a new signature arriving
    leave the count as it was, and the new one was never shown.
    """
    reason = Reason(reason)
    initiative = _initiative(selection)
    matched = _match(selection, REVIEWABLE, lock=True)
    _still_open(initiative)
    if expected is not None and matched.total != expected:
        raise SelectionChangedError(matched.total, expected)
    if fingerprint is not None and matched.fingerprint() != fingerprint:
        raise SelectionChangedError(matched.total, matched.total if expected is None else expected)
    now = clock.utcnow()
    moved: dict[SignatureState, list[int]] = {}
    for state in REVIEWABLE:
        ids = matched.ids.get(state.value, [])
        for chunk in _chunks(ids):
            move(
                Signature.id.in_(chunk),
                initiative.id,
                state,
                SignatureState.INVALIDATED,
                invalidated_at=now,
                invalidation_reason=reason.value,
                invalidation_note=note or None,
            )
        moved[state] = ids
    event = audit.record(
        INVALIDATE_ACTION,
        actor=actor,
        initiative=initiative,
        reason=reason.value,
        note=bool(note),
        criteria=selection.describe(),
        confirmed=len(moved[SignatureState.CONFIRMED]),
        pending=len(moved[SignatureState.PENDING]),
        signature_ids=sorted(moved[SignatureState.CONFIRMED] + moved[SignatureState.PENDING]),
    )
    db.session.flush()
    db.session.expire_all()
    return Change(
        event.id, len(moved[SignatureState.CONFIRMED]), len(moved[SignatureState.PENDING])
    )


def restore(selection: Selection, *, actor: str, event_id: int | None = None) -> Change:
    """Undo an invalidation: confirmed ones count again, unconfirmed ones wait again,
    or are expired if their link ran out while they were held (as purge would have
    made them: the link no longer works, and their signer may sign again)."""
    initiative = _initiative(selection)
    matched = _match(selection, (SignatureState.INVALIDATED,), lock=True)
    _still_open(initiative)
    ids = matched.ids.get(SignatureState.INVALIDATED.value, [])
    cleared = {"invalidated_at": None, "invalidation_reason": None, "invalidation_note": None}
    now = clock.utcnow()
    # Withdrawn by its signer while held: withdrawn.  Otherwise whether it had been
    # confirmed, and if not whether its link still works, decides where it goes back to.
    was_withdrawn = Signature.withdrawn_at.is_not(None)
    unconfirmed = sa.and_(Signature.confirmed_at.is_(None), sa.not_(was_withdrawn))
    ran_out = link_ran_out()  # one cutoff for both: none falls between expired and pending
    targets: list[tuple[SignatureState, sa.ColumnElement[bool], dict[str, Any]]] = [
        (SignatureState.WITHDRAWN, was_withdrawn, {}),
        (
            SignatureState.CONFIRMED,
            sa.and_(Signature.confirmed_at.is_not(None), sa.not_(was_withdrawn)),
            {},
        ),
        (SignatureState.EXPIRED, sa.and_(unconfirmed, ran_out), {"expired_at": now}),
        (SignatureState.PENDING, sa.and_(unconfirmed, sa.not_(ran_out)), {}),
    ]
    counts = {target: 0 for target, _, _ in targets}
    for chunk in _chunks(ids):
        paper_review.before_restore(Signature.id.in_(chunk))
        for target, condition, values in targets:
            counts[target] += move(
                sa.and_(Signature.id.in_(chunk), condition),
                initiative.id,
                SignatureState.INVALIDATED,
                target,
                **cleared,
                **values,
            )
    event = audit.record(
        RESTORE_ACTION,
        actor=actor,
        initiative=initiative,
        criteria=selection.describe(),
        of_event=event_id,
        confirmed=counts[SignatureState.CONFIRMED],
        pending=counts[SignatureState.PENDING],
        expired=counts[SignatureState.EXPIRED],
        withdrawn=counts[SignatureState.WITHDRAWN],
        signature_ids=sorted(ids),
    )
    db.session.flush()
    db.session.expire_all()
    return Change(
        event.id,
        counts[SignatureState.CONFIRMED],
        counts[SignatureState.PENDING],
        counts[SignatureState.WITHDRAWN],
        counts[SignatureState.EXPIRED],
    )


def invalidation_event(initiative: Initiative, event_id: int) -> AuditEvent:
    """An invalidation of this initiative, by its audit event id."""
    event = db.session.get(AuditEvent, event_id)
    if event is None or event.action != INVALIDATE_ACTION or event.initiative_id != initiative.id:
        raise SelectionError(f"no invalidation #{event_id} for this initiative")
    return event


# An organiser's invalidation of one signature (moderation.invalidate).
SINGLE_INVALIDATE_ACTION = "signature.invalidated"


def selection_of_event(initiative: Initiative, event_id: int) -> Selection:
    """The signatures one invalidation moved and no later one took out again.

    Restoring an event undoes exactly that event: a signature invalidated again since
    (restored in between, then held out for another reason) stays out until its own,
    later invalidation is undone.
    """
    event = invalidation_event(initiative, event_id)
    ids = set(event.details.get("signature_ids", []))
    later = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.initiative_id == initiative.id,
            AuditEvent.id > event.id,
            AuditEvent.action.in_([INVALIDATE_ACTION, SINGLE_INVALIDATE_ACTION]),
        )
    )
    for other in later:
        if other.action == INVALIDATE_ACTION:
            ids.difference_update(other.details.get("signature_ids", []))
        else:
            ids.discard(other.signature_id)
    return Selection(initiative.id, signature_ids=sorted(ids))


def history(initiative: Initiative) -> list[AuditEvent]:
    """Invalidations and restores of this initiative, newest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(
                AuditEvent.initiative_id == initiative.id,
                AuditEvent.action.in_([INVALIDATE_ACTION, RESTORE_ACTION]),
            )
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        )
    )
