"""Retention: personal data is deleted or anonymised on a fixed schedule, counts stay.

``purge()`` is idempotent and safe to run at any time, from cron (``flask --app
initiatives purge``) or from the outbox worker (``purge_if_due``).  What it does, with
the periods from the configuration:

* pending signatures become expired ``CONFIRM_DAYS`` after their newest confirmation
  link was sent (on signing, or again when the signer signed again);
* unconfirmed (pending or expired) signatures are deleted ``UNCONFIRMED_RETENTION_DAYS``
  after signing, or when their newest link stops working if that is later — they never
  counted, so ``confirmed_count`` does not change;
* withdrawn signatures lose their personal data at once (consent was withdrawn), ones
  withdrawn while held for review too, all but the blind index that keeps the address
  taken while they are held;
* signatures held for review before they were confirmed lose the same (all but the
  blind index) when unconfirmed ones would be deleted: they never counted, and the rows
  stay invalidated;
* ``ANONYMISE_AFTER_DAYS`` after an initiative was answered — or withdrawn, or closed
  without being submitted — its signers' name, email, postcode and blind index are
  removed.  The rows stay, with state, channel, campaign tag, postcode area and dates, so
  counts and per-day/channel/tag aggregates are unchanged;
* bodies of sent and failed mails are cleared ``OUTBOX_RETENTION_DAYS`` later;
* client-address hashes are dropped ``CLIENT_HASH_RETENTION_DAYS`` after signing.

Anonymising an initiative also removes the client hashes and email domains that abuse
review recorded as criteria in its audit events; what was done, when, by whom, and to
how many signatures stays.

Every run writes one audit event with its counts; every anonymised initiative gets its
own.  Functions flush, the caller commits.

A list not yet handed in loses its names on this schedule too: ``names_deadline`` says
the organisers when (from the day collection ends), and whether they went already, so
the admin can warn before a pack of "(anonymiserad)" is made or handed in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from . import audit, clock, kiosk_queue, signature_states
from .abuse import INVALIDATE_ACTION, RESTORE_ACTION
from .extensions import db
from .lifecycle import NOT_HANDED_IN, local_date
from .models import (
    AuditEvent,
    Initiative,
    InitiativeState,
    OutboxMessage,
    OutboxStatus,
    Signature,
    SignatureState,
)
from .paper import PaperSheet

PURGE_ACTION = "retention.purge"
ANONYMISE_ACTION = "retention.anonymise"
# The worker purges at most this often; cron may run it as well (it is idempotent).
PURGE_INTERVAL = timedelta(hours=24)
# A mail still pending this long after it was queued will never go (backoff is capped
# far below): it is given up and its body cleared.
STALE_OUTBOX = timedelta(days=30)
# The admin warns prominently (and on its start page) this many days before the names of
# a list not yet handed in go.
WARN_DAYS = 14

# What anonymisation clears on a signature.  The organiser's free-text note on an
# invalidation may name the person, so it goes too; the reason code stays.
ANONYMISED_VALUES: dict[str, Any] = {
    "name_enc": None,
    "email_enc": None,
    "postcode_enc": None,
    "email_index": None,
    "client_hash": None,
    "invalidation_note": None,
}
CLEARED_OUTBOX_VALUES: dict[str, Any] = {"payload_enc": None, "email_index": None}


@dataclass
class PurgeReport:
    """What one run changed (all zero on a repeated run)."""

    expired: int = 0
    deleted_unconfirmed: int = 0
    anonymised_withdrawn: int = 0
    anonymised_held_unconfirmed: int = 0
    anonymised: int = 0
    initiatives_anonymised: list[str] = field(default_factory=list)
    client_hashes_dropped: int = 0
    outbox_bodies_cleared: int = 0
    kiosk_queue_keys_dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _days(key: str) -> timedelta:
    return timedelta(days=int(current_app.config[key]))


def finished_at(initiative: Initiative) -> datetime | None:
    """When the initiative's signers' data stopped being needed, or None if it still is.

    Answered, withdrawn, or closed without being submitted (a collecting initiative whose
    period has ended counts as closed).  A submitted, unanswered initiative keeps its
    list: the committee may still ask about it.
    """
    state = initiative.state
    if state == InitiativeState.ANSWERED:
        return initiative.answered_at or initiative.updated_at
    if state == InitiativeState.WITHDRAWN:
        return initiative.withdrawn_at or initiative.updated_at
    if state == InitiativeState.CLOSED:
        return initiative.closed_at or initiative.closes_at or initiative.updated_at
    if state == InitiativeState.COLLECTING and initiative.closes_at is not None:
        return initiative.closes_at if initiative.closes_at <= clock.utcnow() else None
    return None


def anonymise_date(initiative: Initiative) -> datetime | None:
    """When purge will anonymise this initiative's signers (None: not scheduled yet)."""
    finished = finished_at(initiative)
    return None if finished is None else finished + _days("ANONYMISE_AFTER_DAYS")


@dataclass(frozen=True)
class NamesDeadline:
    """When an initiative's listed signers lose their names, for the organisers."""

    # The Malmö day purge removes the names of a list not handed in; None when none are
    # due to go (still collecting, handed in, answered, withdrawn, or no name left).
    removes_on: date | None = None
    # Days from today (Malmö) to that day; 0 or less: at purge's next run.
    days_left: int | None = None
    # Confirmed (listed) signatures whose names have gone already, and the day they went.
    removed: int = 0
    removed_on: date | None = None

    @property
    def soon(self) -> bool:
        return self.days_left is not None and self.days_left <= WARN_DAYS


def names_deadline(initiative: Initiative) -> NamesDeadline:
    """Whether, and when, the names on this initiative's list go or went."""
    named = sa.case((Signature.name_enc.is_not(None), 1), else_=0)
    unnamed = sa.case((Signature.name_enc.is_(None), 1), else_=0)
    with_name, without, last = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(named), 0),
            sa.func.coalesce(sa.func.sum(unnamed), 0),
            sa.func.max(Signature.anonymised_at),
        ).where(
            Signature.initiative_id == initiative.id,
            Signature.state == SignatureState.CONFIRMED,
        )
    ).one()
    removed_on = local_date(last) if without and last is not None else None
    due = anonymise_date(initiative) if initiative.state in NOT_HANDED_IN else None
    if due is None or not with_name:
        return NamesDeadline(removed=int(without), removed_on=removed_on)
    removes_on = local_date(due)
    return NamesDeadline(
        removes_on=removes_on,
        days_left=(removes_on - local_date(clock.utcnow())).days,
        removed=int(without),
        removed_on=removed_on,
    )


def names_due_soon() -> list[tuple[Initiative, NamesDeadline]]:
    """Lists not handed in whose names go within ``WARN_DAYS``, the soonest first."""
    candidates = db.session.scalars(
        sa.select(Initiative).where(Initiative.state.in_(NOT_HANDED_IN))
    ).all()
    due = [(i, names_deadline(i)) for i in candidates if finished_at(i) is not None]
    soon = [(i, d) for i, d in due if d.soon]
    return sorted(soon, key=lambda pair: (pair[1].removes_on, pair[0].id))


def _anonymise(
    where: sa.ColumnElement[bool], now: datetime, values: dict[str, Any] = ANONYMISED_VALUES
) -> int:
    result = db.session.execute(
        sa.update(Signature)
        .where(where, Signature.anonymised_at.is_(None))
        .values(anonymised_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _anonymise_initiatives(now: datetime, report: PurgeReport, actor: str) -> None:
    candidates = db.session.scalars(
        sa.select(Initiative).where(
            Initiative.state.in_(
                [
                    InitiativeState.ANSWERED,
                    InitiativeState.WITHDRAWN,
                    InitiativeState.CLOSED,
                    InitiativeState.COLLECTING,
                ]
            )
        )
    ).all()
    for initiative in candidates:
        due = anonymise_date(initiative)
        if due is None or due > now:
            continue
        count = _anonymise(Signature.initiative_id == initiative.id, now)
        # One withdrawn while held for review was anonymised earlier but kept its blind
        # index, to keep the address taken while the review could change the list: now
        # nothing may link the row to the address any more.
        db.session.execute(
            sa.update(Signature)
            .where(Signature.initiative_id == initiative.id, Signature.email_index.is_not(None))
            .values(email_index=None)
            .execution_options(synchronize_session=False)
        )
        # Mail still queued for these signers will not be needed any more.
        db.session.execute(
            sa.update(OutboxMessage)
            .where(
                OutboxMessage.initiative_id == initiative.id,
                OutboxMessage.payload_enc.is_not(None),
            )
            .values(
                status=sa.case(
                    (OutboxMessage.status == OutboxStatus.PENDING, OutboxStatus.FAILED),
                    else_=OutboxMessage.status,
                ),
                **CLEARED_OUTBOX_VALUES,
            )
            .execution_options(synchronize_session=False)
        )
        _forget_collectors(initiative.id)
        _scrub_review_criteria(initiative.id)
        if count:
            report.anonymised += count
            report.initiatives_anonymised.append(initiative.slug)
            audit.record(ANONYMISE_ACTION, actor=actor, initiative=initiative, signatures=count)


# What a paper sheet says instead of who collected it, once its signers' names are gone.
ANONYMISED_COLLECTOR = "(anonymiserad)"


def _forget_collectors(initiative_id: int) -> None:
    """The volunteers who collected the paper sheets are named on them: their names go
    with the signers' (the sheet's number and date stay, so the list still adds up)."""
    db.session.execute(
        sa.update(PaperSheet)
        .where(
            PaperSheet.initiative_id == initiative_id,
            PaperSheet.collected_by != ANONYMISED_COLLECTOR,
        )
        .values(collected_by=ANONYMISED_COLLECTOR)
        .execution_options(synchronize_session=False)
    )


# Abuse-review criteria that point at people: a client hash can be matched against
# guessed addresses by whoever holds the key, and a domain may be a family's own.
REVIEW_ACTIONS = (INVALIDATE_ACTION, RESTORE_ACTION)
PERSONAL_CRITERIA = ("client_hash", "domain")


def _scrub_review_criteria(initiative_id: int) -> None:
    """Remove identifying criteria from the initiative's review events (counts stay)."""
    events = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.initiative_id == initiative_id, AuditEvent.action.in_(REVIEW_ACTIONS)
        )
    ).all()
    for event in events:
        criteria = dict((event.details or {}).get("criteria") or {})
        if any(criteria.get(k) not in (None, "[removed]") for k in PERSONAL_CRITERIA):
            for key in PERSONAL_CRITERIA:
                if key in criteria:
                    criteria[key] = "[removed]"
            # A new dict, so that the JSON column is seen as changed.
            event.details = {**event.details, "criteria": criteria}


def _scrub_review_hashes(cutoff: datetime) -> None:
    """Client hashes in review events whose signatures were made before ``cutoff``.

    A client hash is salted per day: the day it belongs to is the day its signatures
    were made (the review may come weeks later), so that is what the period counts from.
    """
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action.in_(REVIEW_ACTIONS))
    ).all()
    for event in events:
        criteria = (event.details or {}).get("criteria") or {}
        if criteria.get("client_hash") in (None, "[removed]"):
            continue
        ids = (event.details or {}).get("signature_ids") or []
        made = (
            db.session.scalar(
                sa.select(sa.func.min(Signature.created_at)).where(Signature.id.in_(ids[:100]))
            )
            if ids
            else None
        )
        if (made or event.at) < cutoff:
            criteria = {**criteria, "client_hash": "[removed]"}
            # A new dict, so that the JSON column is seen as changed.
            event.details = {**event.details, "criteria": criteria}


def _clear_outbox(now: datetime) -> int:
    cutoff = now - _days("OUTBOX_RETENTION_DAYS")
    cleared = 0
    done = sa.or_(
        sa.and_(OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.sent_at < cutoff),
        sa.and_(OutboxMessage.status == OutboxStatus.FAILED, OutboxMessage.created_at < cutoff),
    )
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(done, OutboxMessage.payload_enc.is_not(None))
        .values(**CLEARED_OUTBOX_VALUES)
        .execution_options(synchronize_session=False)
    )
    cleared += result.rowcount or 0
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.created_at < now - STALE_OUTBOX,
        )
        .values(
            status=OutboxStatus.FAILED, last_error="given up by retention", **CLEARED_OUTBOX_VALUES
        )
        .execution_options(synchronize_session=False)
    )
    return cleared + (result.rowcount or 0)


def purge(actor: str = "system") -> PurgeReport:
    """Apply every retention rule once and audit-log the counts (flushes, never commits)."""
    now = clock.utcnow()
    report = PurgeReport()
    report.expired = signature_states.expire_unconfirmed()

    unconfirmed = (SignatureState.PENDING, SignatureState.EXPIRED)
    result = db.session.execute(
        sa.delete(Signature)
        .where(
            Signature.state.in_([s.value for s in unconfirmed]),
            Signature.created_at < now - _days("UNCONFIRMED_RETENTION_DAYS"),
            # ... but never while a link sent to it again still works.
            Signature.link_sent() < now - _days("CONFIRM_DAYS"),
        )
        .execution_options(synchronize_session=False)
    )
    report.deleted_unconfirmed = result.rowcount or 0

    report.anonymised_withdrawn = _anonymise(Signature.state == SignatureState.WITHDRAWN, now)
    # Withdrawn while held for review: it stays invalidated, its blind index keeping the
    # address taken (signing again must not get round the review); the rest goes.
    report.anonymised_withdrawn += _anonymise(
        sa.and_(Signature.state == SignatureState.INVALIDATED, Signature.withdrawn_at.is_not(None)),
        now,
        {k: v for k, v in ANONYMISED_VALUES.items() if k != "email_index"},
    )
    # Held for review before it was confirmed: not held, it would have been deleted by
    # now (above).  It stays invalidated, so the review's and the pack's figures do not
    # change, its blind index keeping the address taken while it is held; the rest goes.
    report.anonymised_held_unconfirmed = _anonymise(
        sa.and_(
            Signature.state == SignatureState.INVALIDATED,
            Signature.confirmed_at.is_(None),
            Signature.created_at < now - _days("UNCONFIRMED_RETENTION_DAYS"),
            Signature.link_sent() < now - _days("CONFIRM_DAYS"),
        ),
        now,
        {k: v for k, v in ANONYMISED_VALUES.items() if k != "email_index"},
    )
    _anonymise_initiatives(now, report, actor)

    result = db.session.execute(
        sa.update(Signature)
        .where(
            Signature.client_hash.is_not(None),
            Signature.created_at < now - _days("CLIENT_HASH_RETENTION_DAYS"),
        )
        .values(client_hash=None)
        .execution_options(synchronize_session=False)
    )
    report.client_hashes_dropped = result.rowcount or 0
    # A review that selected by client hash kept it beside the signatures it moved: it
    # goes on the same schedule as the hashes themselves.
    _scrub_review_hashes(now - _days("CLIENT_HASH_RETENTION_DAYS"))
    report.outbox_bodies_cleared = _clear_outbox(now)
    # A re-enrolled kiosk's key for its previous binding's queue, past its time.
    report.kiosk_queue_keys_dropped = kiosk_queue.prune_retired_keys(now)

    audit.record(PURGE_ACTION, actor=actor, **report.as_dict())
    db.session.flush()
    # Rows changed behind the ORM's back: nothing cached may be shown as current.
    db.session.expire_all()
    return report


def last_purge() -> datetime | None:
    """When purge last ran (from the audit log)."""
    return db.session.scalar(
        sa.select(sa.func.max(AuditEvent.at)).where(AuditEvent.action == PURGE_ACTION)
    )


def purge_if_due(actor: str = "worker") -> PurgeReport | None:
    """Purge if the last run (by anyone: worker or cron) is older than a day."""
    last = last_purge()
    if last is not None and clock.utcnow() - last < PURGE_INTERVAL:
        return None
    return purge(actor=actor)
