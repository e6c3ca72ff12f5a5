"""How the outbox is keeping up: what an operator (``flask outbox status``) and the
organisers (the admin start page) need to see in a surge, or when mail stops.

A signer who gets no confirmation link cannot confirm, and her signature expires
unconfirmed: mail that waits or fails is lost signatures.  Two things go wrong in
practice, and both are only visible here:

- **behind**: the oldest mail waiting has waited longer than ``OUTBOX_ALERT_MINUTES``
  (the worker is not running, or SMTP is slow or down and mail is being retried);
- **failing**: mail given up after every retry (or refused for good) in the last day.

Counts and error classes only: never an address (``last_error`` holds none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from . import clock
from .extensions import db
from .models import OutboxMessage, OutboxStatus

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class QueueState:
    now: datetime
    waiting: int  # pending: not sent yet, the ones being retried included
    retrying: int  # pending after at least one failed try
    oldest_waiting: datetime | None  # when the oldest pending mail was queued
    failed_last_day: int  # given up, among mails queued in the last 24 hours
    sent_last_hour: int
    last_sent: datetime | None
    errors: tuple[tuple[str, int], ...]  # last errors of the last day, most frequent first

    @property
    def waited(self) -> timedelta:
        """How long the oldest waiting mail has waited (zero when none waits)."""
        return self.now - self.oldest_waiting if self.oldest_waiting else timedelta(0)

    def behind(self, alert_after: timedelta) -> bool:
        return self.waited > alert_after

    def problems(self, alert_after: timedelta) -> bool:
        return self.behind(alert_after) or self.failed_last_day > 0


def queue_state(now: datetime | None = None) -> QueueState:
    """Read the queue: one aggregate over the outbox, one for the errors."""
    now = now or clock.utcnow()
    day_ago, hour_ago = now - DAY, now - HOUR
    table = OutboxMessage
    rows = db.session.execute(
        sa.select(
            table.status,
            sa.func.count(table.id).label("mails"),
            sa.func.min(table.created_at).label("oldest"),
            sa.func.sum(sa.case((table.attempts > 0, 1), else_=0)).label("tried"),
            sa.func.sum(sa.case((table.created_at >= day_ago, 1), else_=0)).label("last_day"),
            sa.func.sum(sa.case((table.sent_at >= hour_ago, 1), else_=0)).label("last_hour"),
            sa.func.max(table.sent_at).label("last_sent"),
        ).group_by(table.status)
    ).all()
    by_status = {row.status: row for row in rows}
    pending = by_status.get(OutboxStatus.PENDING.value)
    failed = by_status.get(OutboxStatus.FAILED.value)
    sent = by_status.get(OutboxStatus.SENT.value)
    errors = db.session.execute(
        sa.select(table.last_error, sa.func.count(table.id))
        .where(
            table.status.in_([OutboxStatus.PENDING.value, OutboxStatus.FAILED.value]),
            table.last_error.is_not(None),
            table.created_at >= day_ago,
        )
        .group_by(table.last_error)
        .order_by(sa.func.count(table.id).desc(), table.last_error)
        .limit(5)
    ).all()
    return QueueState(
        now=now,
        waiting=pending.mails if pending else 0,
        retrying=(pending.tried or 0) if pending else 0,
        oldest_waiting=pending.oldest if pending else None,
        failed_last_day=(failed.last_day or 0) if failed else 0,
        sent_last_hour=(sent.last_hour or 0) if sent else 0,
        last_sent=sent.last_sent if sent else None,
        errors=tuple((error, count) for error, count in errors),
    )
