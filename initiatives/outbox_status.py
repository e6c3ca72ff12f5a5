"""How the outbox is keeping up: what an operator (``flask outbox status``) and the
organisers (the admin start page) need to see in a surge, or when mail stops.

A signer who gets no confirmation link cannot confirm, and her signature expires
unconfirmed: mail that waits or fails is lost signatures.  Two things go wrong in
practice, and both are only visible here:

- **behind**: the oldest mail waiting has waited longer than ``OUTBOX_ALERT_MINUTES``
  (the worker is not running, or SMTP is slow or down and mail is being retried);
- **failing**: mail given up after every retry (or refused for good) in the last day,
  however long before it was queued (the worker may have been down, or ``outbox retry``
  may have sent it again); a given-up mail's ``due_at`` is when it was given up.

Counts and error classes only: never an address (``last_error`` holds none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
    failed_last_day: int  # given up in the last 24 hours
    sent_last_hour: int
    last_sent: datetime | None
    errors: tuple[tuple[str, int], ...]  # mail waiting, or given up in 24 h; most frequent first

    @property
    def waited(self) -> timedelta:
        """How long the oldest waiting mail has waited (zero when none waits)."""
        return self.now - self.oldest_waiting if self.oldest_waiting else timedelta(0)

    def behind(self, alert_after: timedelta) -> bool:
        return self.waited > alert_after

    def problems(self, alert_after: timedelta) -> bool:
        return self.behind(alert_after) or self.failed_last_day > 0


def queue_state(now: datetime | None = None) -> QueueState:
    """Read the queue: one statement for the counts, one for the errors.

    Sent mail stays in the table for good (its body is cleared on the retention
    schedule), so each figure reads only the rows it is about, through an index that
    starts with the status: the few waiting or given-up mails, and the sent ones of the
    last hour.  The cost follows the mail that matters, not every mail ever sent
    (``python -m bench.admin_reads``)."""
    now = now or clock.utcnow()
    day_ago, hour_ago = now - DAY, now - HOUR
    table = OutboxMessage
    pending = table.status == OutboxStatus.PENDING.value
    failed = table.status == OutboxStatus.FAILED.value
    sent = table.status == OutboxStatus.SENT.value

    def one(figure: sa.ColumnElement[Any], *where: sa.ColumnElement[bool]) -> Any:
        return sa.select(figure).where(*where).scalar_subquery()

    counts = db.session.execute(
        sa.select(
            one(sa.func.count(table.id), pending).label("waiting"),
            one(sa.func.count(table.id), pending, table.attempts > 0).label("retrying"),
            one(sa.func.min(table.created_at), pending).label("oldest"),
            one(sa.func.count(table.id), failed, table.due_at >= day_ago).label("failed"),
            one(sa.func.count(table.id), sent, table.sent_at >= hour_ago).label("last_hour"),
            one(sa.func.max(table.sent_at), sent).label("last_sent"),
        )
    ).one()
    errors = db.session.execute(
        sa.select(table.last_error, sa.func.count(table.id))
        .where(
            # Mail still waiting: its last error is why, however long ago it was queued.
            sa.or_(pending, sa.and_(failed, table.due_at >= day_ago)),
            table.last_error.is_not(None),
        )
        .group_by(table.last_error)
        .order_by(sa.func.count(table.id).desc(), table.last_error)
        .limit(5)
    ).all()
    return QueueState(
        now=now,
        waiting=counts.waiting,
        retrying=counts.retrying,
        oldest_waiting=counts.oldest,
        failed_last_day=counts.failed,
        sent_last_hour=counts.last_hour,
        last_sent=counts.last_sent,
        errors=tuple((error, count) for error, count in errors),
    )
