"""The outbox: emails are rows written with what caused them, delivered by a worker.

Delivery claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and leases them by
moving ``due_at`` forward, commits, sends over one SMTP connection, then records the
results.  Two workers never send the same row; a worker that dies mid-batch leaves its
rows to be retried when the lease ends.  Nothing is lost while SMTP is down: a mail
refused is retried with exponential backoff until ``OUTBOX_MAX_ATTEMPTS`` (one to an
address the server says does not exist is given up at once); a server that cannot be
reached pauses all sending for ``SERVER_PAUSE`` instead, at the cost of one attempt of
the mail that found it down.  Nothing goes out faster than the mail provider allows
either (``OUTBOX_SEND_LIMIT``, ``sendlimit.py``).
"""

from __future__ import annotations

import json
import re
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from functools import cache
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from . import clock, keycheck, sendlimit
from .crypto import InvalidToken, crypto
from .extensions import db
from .logs import get_logger
from .models import Initiative, OutboxMessage, OutboxStatus, Signature, SignatureState
from .transports import Transport, transport_for

log = get_logger(__name__)

LEASE = timedelta(minutes=5)
# A batch stops sending after this share of its lease, so that what it sent is recorded
# before the lease ends and another worker may claim the rest.
LEASE_SAFETY = 0.5
# How long all sending waits after the SMTP server could not be reached.
SERVER_PAUSE = timedelta(seconds=30)
# Execution option for a transaction that only reads (see _tune_sqlite in __init__.py).
READ_ONLY = "initiatives_read_only"
HOUSEKEEPING_SECONDS = 60


def enqueue(
    kind: str,
    *,
    to: str,
    locale: str,
    context: dict[str, Any],
    initiative: Initiative | None = None,
    signature: Signature | None = None,
    email_index: str | None = None,
) -> OutboxMessage:
    """Queue an email in the current transaction; it goes out after the caller commits."""
    message = OutboxMessage(
        kind=kind,
        locale=locale,
        initiative_id=initiative.id if initiative is not None else None,
        signature_id=signature.id if signature is not None else None,
        email_index=email_index,
        payload_enc=encrypt_payload(to, context),
    )
    db.session.add(message)
    return message


def enqueue_row(
    kind: str,
    *,
    to: str,
    locale: str,
    context: dict[str, Any],
    initiative_id: int | None = None,
    signature_id: int | None = None,
    email_index: str | None = None,
) -> None:
    """``enqueue`` as one INSERT, for the paths that need no ``OutboxMessage`` back."""
    now = clock.utcnow()
    params = {
        "kind": kind,
        "locale": locale,
        "initiative_id": initiative_id,
        "signature_id": signature_id,
        "email_index": email_index,
        "payload_enc": encrypt_payload(to, context),
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "due_at": now,
    }
    db.session.execute(_insert_row(), params)


@cache
def _insert_row() -> sa.Insert:
    # Built once, with the parameter names as the keys above.
    table = OutboxMessage.__table__
    return sa.insert(table).values({c: sa.bindparam(c, type_=table.c[c].type) for c in QUEUED})


# The columns a queued mail is written with (see enqueue_row and mailcaps).
QUEUED = (
    "kind",
    "locale",
    "initiative_id",
    "signature_id",
    "email_index",
    "payload_enc",
    "status",
    "attempts",
    "created_at",
    "due_at",
)


def encrypt_payload(to: str, context: dict[str, Any]) -> bytes | None:
    """The recipient and template context as the worker reads them (``read_payload``)."""
    return crypto().encrypt(json.dumps({"to": to, "context": context}, ensure_ascii=False))


def mails_since(
    email_indexes: list[str], initiative_id: int | None, since: datetime, kinds: tuple[str, ...]
) -> int:
    """How many mails of ``kinds`` were queued for this address (under any key) since."""
    stmt = sa.select(sa.func.count(OutboxMessage.id)).where(
        OutboxMessage.email_index.in_(email_indexes),
        OutboxMessage.created_at >= since,
        OutboxMessage.kind.in_(kinds),
    )
    if initiative_id is not None:
        stmt = stmt.where(OutboxMessage.initiative_id == initiative_id)
    return db.session.scalar(stmt) or 0


def read_payload(message: OutboxMessage) -> dict[str, Any]:
    return json.loads(crypto().decrypt(message.payload_enc) or "{}")


# --- delivery ---------------------------------------------------------------------------


@dataclass
class Report:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    # Mail the send limit (OUTBOX_SEND_LIMIT) held back for now, and that limit when it
    # is what stopped delivery while mail was due.
    held: int = 0
    limited_by: str | None = None
    # The batch was as large as allowed: more mail may be due.
    full: bool = False
    # The SMTP server could not be reached (or refused us): sending paused for everyone.
    server_down: bool = False
    # Mail claimed but not tried, back in the queue: the worker was asked to stop, or
    # the batch took so long that its lease was running out.
    released: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 6 hours."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def _smtp_code(exc: BaseException) -> int | None:
    """The server's reply code, also for a refused recipient (kept per recipient)."""
    code = getattr(exc, "smtp_code", None)
    if code is None and isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code = next(iter(exc.recipients.values()))[0]
    return code if isinstance(code, int) else None


# The enhanced status code (RFC 3463) that starts most replies: "5.1.1" (no such
# mailbox) and "5.7.1" (relaying denied) both come as 550.
ENHANCED_CODE = re.compile(rb"\s*([245]\.\d{1,3}\.\d{1,3})\b")


def _describe(exc: BaseException) -> str:
    """Class, reply code and enhanced code: never the reply's text, which may quote the
    address."""
    code = _smtp_code(exc)
    reply = getattr(exc, "smtp_error", None)
    if reply is None and isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        reply = next(iter(exc.recipients.values()))[1]
    enhanced = ENHANCED_CODE.match(reply) if isinstance(reply, bytes) else None
    details = [str(code)] if code else []
    if code and enhanced:
        details.append(enhanced.group(1).decode())
    return " ".join([type(exc).__name__, *details])[:300]


# Enhanced status codes (RFC 3463) saying that the recipient's address does not exist:
# bad mailbox, bad domain, bad syntax, moved, a domain that takes no mail (null MX).
# Asking again only spends places under the provider's limit and harms our standing with
# it.  Other permanent refusals may concern us rather than the address (5.7.1 relaying
# denied, 5.4.5 a daily quota) and are tried again like temporary ones.
NO_SUCH_RECIPIENT_CODES = ("5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10")
NO_SUCH_RECIPIENT = re.compile(
    rb"\s*(?:" + b"|".join(re.escape(c.encode()) for c in NO_SUCH_RECIPIENT_CODES) + rb")\b"
)


def _no_such_recipient(exc: BaseException) -> bool:
    if not isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    return any(
        500 <= code < 600 and NO_SUCH_RECIPIENT.match(reply) is not None
        for code, reply in exc.recipients.values()
    )


# "Service not available, closing transmission channel": how providers throttle (Microsoft
# 365, Gmail: "421 4.7.0 try again later").  It concerns the server, not the mail.
SERVER_CLOSING = 421


def claim(batch_size: int) -> list[int]:
    """Lease up to ``batch_size`` due messages to this worker and commit the lease."""
    now = clock.utcnow()
    stmt = (
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= now)
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    ids = list(db.session.scalars(stmt))
    if ids:
        db.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(due_at=now + LEASE)
        )
    db.session.commit()
    return ids


def _anything_due() -> bool:
    due = sa.select(OutboxMessage.id).where(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= clock.utcnow()
    )
    found = db.session.scalar(due.limit(1)) is not None
    db.session.commit()
    return found


def deliver_batch(
    transport: Transport,
    compose: Callable[[OutboxMessage], Message],
    batch_size: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> Report:
    """Claim, send and record one batch.  Returns what happened.

    No transaction is open while talking to the SMTP server, so a slow server never
    holds a database lock (on SQLite that would stall every signer).  Sending stops
    early, and the unsent rest goes back to the queue untouched, when the worker is
    asked to stop (a deploy: what was sent is recorded before it exits, so nothing is
    sent twice) and before the batch's lease runs out (a slow server: another worker
    would otherwise claim, and send, the same mail).
    """
    report = Report()
    limit = sendlimit.for_app(current_app)
    if limit is not None:
        headroom = limit.headroom()
        if headroom.mails == 0:
            if _anything_due():
                report.limited_by = limit.spec
            return report
        batch_size = min(batch_size, headroom.mails)
    ids = claim(batch_size)
    # Measured by the clock the lease was set by (see claim).
    release_at = clock.utcnow() + LEASE * LEASE_SAFETY
    report.full = len(ids) == batch_size
    if not ids:
        return report
    # Composing only reads: on SQLite it must not hold the write lock that signers need.
    db.session.connection(execution_options={READ_ONLY: True})
    messages = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
    ).all()
    # The batch's initiatives with their texts, in one query, held here while composing:
    # the session keeps only weak references, so each mail would load its own again.
    initiatives = db.session.scalars(
        sa.select(Initiative).where(
            Initiative.id.in_({m.initiative_id for m in messages if m.initiative_id})
        )
    ).all()
    prepared: list[tuple[int, int, Message | Exception]] = []
    for message in messages:
        try:
            prepared.append((message.id, message.attempts, compose(message)))
        except Exception as exc:  # noqa: BLE001 - a row that cannot be rendered never will be
            log.exception("outbox message %s cannot be composed", message.id)
            prepared.append((message.id, message.attempts, exc))
    del initiatives
    db.session.commit()
    if any(isinstance(email, InvalidToken) for _, _, email in prepared):
        # A mail that cannot be decrypted is given up below, unless the key reads nothing
        # else either: then this worker's DATA_KEY is wrong, not the mail, and giving up
        # would lose every queued link.  The batch goes back to the queue untouched.
        result = keycheck.check()
        if not result.ok:
            db.session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(due_at=clock.utcnow())
            )
            db.session.commit()
            raise keycheck.DataKeyError(result)

    outcomes: list[tuple[int, int, BaseException | None, bool]] = []
    held: list[int] = []
    released: list[int] = []
    untried: list[int] = []
    connection_error: BaseException | None = None
    try:
        for message_id, attempts, email in prepared:
            if isinstance(email, Exception):
                outcomes.append((message_id, attempts, email, True))
                continue
            if connection_error is not None:
                untried.append(message_id)
                continue
            if released or should_stop() or clock.utcnow() >= release_at:
                released.append(message_id)
                continue
            if held or (limit is not None and not limit.take()):
                # Another worker took the last places: the rest waits its turn.
                held.append(message_id)
                continue
            try:
                transport.send(email)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
                outcomes.append((message_id, attempts, exc, _no_such_recipient(exc)))
                if _smtp_code(exc) == SERVER_CLOSING:
                    # Throttled: the rest waits for the pause instead of each mail
                    # spending a try on the same answer.
                    connection_error = exc
            except (smtplib.SMTPException, OSError) as exc:
                # The server is unreachable or refuses us: that is not the fault of the
                # mail, and trying the rest of the batch would only fail the same way.
                connection_error = exc
                outcomes.append((message_id, attempts, exc, False))
            else:
                outcomes.append((message_id, attempts, None, False))
    finally:
        transport.close()

    max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    now = clock.utcnow()
    if held:
        # Back in the queue as they were (due now, attempts untouched), the lease ended.
        db.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id.in_(held)).values(due_at=now)
        )
        report.held = len(held)
        report.limited_by = limit.spec if limit is not None else None
    if released:
        # Not tried: due again now, attempts untouched, for this worker or another.
        db.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id.in_(released)).values(due_at=now)
        )
        report.released = len(released)
    if connection_error is not None:
        # Only the mail that met the failure spends an attempt.  The rest of the batch,
        # and all mail due before the pause ends, wait for it, every worker alike:
        # an outage costs one attempt per pause rather than one per mail queued, and when
        # the server is back the mail goes out within the pause, not after each mail's
        # own backoff, which can grow to hours.
        resume = now + SERVER_PAUSE
        if untried:
            db.session.execute(
                sa.update(OutboxMessage).where(OutboxMessage.id.in_(untried)).values(due_at=resume)
            )
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at < resume)
            .values(due_at=resume)
        )
        report.retried += len(untried)
        report.server_down = True
    # One statement for everything sent (one round trip instead of one per mail).
    sent = [message_id for message_id, _, error, _ in outcomes if error is None]
    if sent:
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(sent))
            .values(status=OutboxStatus.SENT, sent_at=now, last_error=None)
        )
        report.sent = len(sent)
    for message_id, attempts, error, permanent in outcomes:
        if error is None:
            continue
        described = _describe(error)
        values: dict[str, Any] = {"attempts": attempts + 1, "last_error": described}
        if permanent or attempts + 1 >= max_attempts:
            # A given-up mail is due no more: due_at says when it was given up, which is
            # what `outbox status` counts (it may have been queued days before).
            values["status"] = OutboxStatus.FAILED
            values["due_at"] = now
            report.failed += 1
        else:
            values["due_at"] = now + backoff(attempts + 1)
            report.retried += 1
        if described not in report.errors:
            report.errors.append(described)
        db.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values)
        )
    db.session.commit()
    for err in report.errors:
        log.warning("outbox delivery failed: %s", err)
    return report


@dataclass
class Requeued:
    requeued: int
    left: int  # given up too, but no longer of use (see ``requeue_failed``)


def requeue_failed(since: datetime) -> Requeued:
    """Give mail given up since ``since`` a new set of tries (however long before it was
    queued: a given-up mail's ``due_at`` is when it was given up, as ``outbox status``
    counts it).

    A provider that refused everything for longer than a mail's retries last (about 14
    hours; a daily quota, say) leaves every mail of the time given up: the signers never
    got their links.  Once mail works again the operator sends them after all
    (``flask outbox retry``).  Only mail that can still do its job goes back: its body
    not yet cleared by retention, and a confirmation link only while its signature still
    waits for it (an expired or withdrawn signature's link leads nowhere), and none to an
    address the server said does not exist.  The caller commits.
    """
    failed = sa.and_(OutboxMessage.status == OutboxStatus.FAILED, OutboxMessage.due_at >= since)
    still_waiting = (
        sa.select(Signature.id)
        .where(
            Signature.id == OutboxMessage.signature_id,
            Signature.state == SignatureState.PENDING,
        )
        .exists()
    )
    # A recipient the server said does not exist would only be refused again (as
    # ``_describe`` recorded it: "SMTPRecipientsRefused 550 5.1.1").
    no_such_recipient = sa.or_(
        *(
            OutboxMessage.last_error.like(f"SMTPRecipientsRefused 5__ {code}")
            for code in NO_SUCH_RECIPIENT_CODES
        )
    )
    useful = sa.and_(
        OutboxMessage.payload_enc.is_not(None),
        sa.or_(OutboxMessage.kind != "confirm", still_waiting),
        sa.or_(OutboxMessage.last_error.is_(None), sa.not_(no_such_recipient)),
    )
    total = db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)).where(failed)) or 0
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(failed, useful)
        .values(status=OutboxStatus.PENDING, attempts=0, due_at=clock.utcnow(), last_error=None)
        .execution_options(synchronize_session=False)
    )
    return Requeued(requeued=result.rowcount, left=total - result.rowcount)


def deliver_due(
    app: Flask,
    compose: Callable[[OutboxMessage], Message],
    should_stop: Callable[[], bool] = lambda: False,
) -> Report:
    """Deliver everything due now, batch after batch, and return the totals.

    Rows that fail are rescheduled into the future, so this always ends; sooner when
    ``should_stop`` says so (a worker asked to stop finishes the mail in hand only).
    """
    total = Report()
    batch_size = app.config["OUTBOX_BATCH_SIZE"]
    while True:
        report = deliver_batch(transport_for(app), compose, batch_size, should_stop)
        total.sent += report.sent
        total.retried += report.retried
        total.failed += report.failed
        total.errors.extend(e for e in report.errors if e not in total.errors)
        total.held += report.held
        total.limited_by = report.limited_by or total.limited_by
        total.server_down = total.server_down or report.server_down
        total.released += report.released
        if not report.full or report.limited_by or report.server_down or should_stop():
            return total


def work(
    app: Flask,
    compose: Callable[[OutboxMessage], Message],
    should_stop: Callable[[], bool] = lambda: False,
    housekeeping: Callable[[], None] | None = None,
) -> None:
    """Deliver forever (until ``should_stop``), sleeping when there is nothing due."""
    poll = app.config["OUTBOX_POLL_SECONDS"]
    next_housekeeping = 0.0
    while not should_stop():
        try:
            report = deliver_due(app, compose, should_stop)
            if housekeeping is not None and time.monotonic() >= next_housekeeping:
                housekeeping()
                next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        except sa.exc.OperationalError:
            # The database went away (restart, failover): the pool reconnects next time.
            db.session.rollback()
            log.warning("outbox worker lost the database; retrying")
            report = Report()
        if report.server_down:
            # Mail queued meanwhile waits too, rather than each finding the server down.
            _sleep(SERVER_PAUSE.total_seconds(), poll, should_stop)
        elif report.handled == 0:
            time.sleep(poll)


def _sleep(seconds: float, step: float, should_stop: Callable[[], bool]) -> None:
    """Sleep ``seconds``, waking every ``step`` to stop promptly when asked."""
    deadline = time.monotonic() + seconds
    while not should_stop() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(step, left))
