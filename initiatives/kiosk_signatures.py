"""Signatures taken at a stand tablet, and what the volunteer and the organisers see of them.

A kiosk signs under the same rules as the web form (``signatures.sign``), for one of its
assigned initiatives only.  The tablet may send a submission again (a queued send
retried, two sends racing): its receipt, keyed by the UUID the device gave it, makes
every repeat change nothing.  A signature taken while the collection was open but
delivered after it ended (queued offline) is still taken, within ``KIOSK_LATE_HOURS``
(see ``signed_in_time``).  Counts are aggregates, never who.  These functions flush,
never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from . import audit, clock, signatures, texts
from .clock import LOCAL_TZ
from .extensions import db
from .kiosks import Kiosk, assigned_initiative
from .models import Channel, Initiative, Signature, SignatureState, UTCDateTime


class KioskReceipt(db.Model):
    """One submission a kiosk sent, by the UUID the device gave it: accepted once only.

    A signature row records its UUID too, but a submission for an address that has
    signed already adds no row; the receipt is what makes every retry a no-op.
    """

    __tablename__ = "kiosk_receipts"

    client_uuid: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    kiosk_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kiosks.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)


def last_signatures(kiosk_ids: list[int]) -> dict[int, datetime]:
    """When each kiosk last sent a signature: the nearest thing to "last seen" that is
    kept (a tablet's other requests are not recorded)."""
    if not kiosk_ids:
        return {}
    rows = db.session.execute(
        sa.select(Signature.kiosk_id, sa.func.max(Signature.created_at))
        .where(Signature.kiosk_id.in_(kiosk_ids))
        .group_by(Signature.kiosk_id)
    ).all()
    return {kiosk_id: at for kiosk_id, at in rows if at is not None}


def start_of_today(now: datetime | None = None) -> datetime:
    """Midnight in Malmö today, in UTC: where "today" begins for a stand."""
    local = (now or clock.utcnow()).astimezone(LOCAL_TZ)
    return datetime.combine(local.date(), time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


@dataclass
class DayCount:
    """Signatures a kiosk took today: an aggregate, never who."""

    received: int
    confirmed: int


def today_count(kiosk: Kiosk, now: datetime | None = None) -> DayCount:
    since = start_of_today(now)
    rows = db.session.execute(
        sa.select(Signature.state, sa.func.count(Signature.id))
        .where(Signature.kiosk_id == kiosk.id, Signature.created_at >= since)
        .group_by(Signature.state)
    ).all()
    by_state = {state: count for state, count in rows}
    return DayCount(
        received=sum(by_state.values()),
        confirmed=by_state.get(SignatureState.CONFIRMED.value, 0),
    )


def parse_device_time(value: str | None, now: datetime | None = None) -> datetime | None:
    """The device's signing time if plausible, else None.

    A tablet's clock may be wrong; the server's receipt time is what rules count on, so
    an unreadable or absurd device time is dropped rather than refusing the signature.
    """
    parsed = clock.parse_utc(value)
    if parsed is None:
        return None
    now = now or clock.utcnow()
    if not now - timedelta(days=400) <= parsed <= now + timedelta(days=1):
        return None
    return parsed


@dataclass
class Submission:
    """What the kiosk's form sent; personal fields are passed on, never kept here."""

    name: str
    email: str
    postcode: str | None
    locale: str
    client_uuid: str | None = None
    device_signed_at: datetime | None = None
    # The text version the tablet's screen showed (texts.version_shown checks it).
    text_version: str | None = None


def already_received(kiosk: Kiosk, client_uuid: str | None) -> bool:
    """Whether this kiosk's submission ``client_uuid`` was stored before.

    Checked before anything else about a submission: a send whose acknowledgement was
    lost is acknowledged again, even once the collection has closed or the kiosk was
    given other initiatives meanwhile, since the signature it carried is stored.
    """
    if not client_uuid:
        return False
    receipt = db.session.get(KioskReceipt, client_uuid)
    return receipt is not None and receipt.kiosk_id == kiosk.id


def signed_in_time(
    kiosk: Kiosk, initiative: Initiative, signed_at: datetime | None, now: datetime | None = None
) -> bool:
    """Whether a submission arriving after the collection ended was signed before it.

    The resident was told on the tablet that the signature was saved; the queue could
    only send it later.  It is taken if the tablet's signing time is before the end and
    after the kiosk was created (an earlier time means a clock that is wrong; a time in
    the future is after the end anyway), the list is not handed in or withdrawn, and it
    arrives within ``KIOSK_LATE_HOURS`` of the end.  Not after ``enrolled_at``: that is
    the current binding, and a tablet bound again keeps the queue it filled before.
    """
    if signed_at is None or kiosk.enrolled_at is None or not initiative.accepts_confirmations():
        return False
    now = now or clock.utcnow()
    end = initiative.collection_ends_at
    if end is None or end > now:  # not ended (or not begun): the ordinary rule
        return False
    late_hours = current_app.config["KIOSK_LATE_HOURS"]
    return (
        kiosk.created_at <= signed_at < end
        and (initiative.opens_at is None or initiative.opens_at <= signed_at)
        and now < end + timedelta(hours=late_hours)
    )


def submit(kiosk: Kiosk, initiative: Initiative, submission: Submission) -> bool:
    """Sign at a kiosk under the same rules as on the web; False if already received.

    With a ``client_uuid`` the submission is accepted at most once: the receipt row is
    written first (in a savepoint), so a retry of a queued send, or two sends racing,
    find it and change nothing.  Raises ``InitiativeClosedError`` and
    ``NotAssignedError`` for submissions the kiosk may not make (a repeat of one already
    received is acknowledged first: see ``already_received``).
    """
    if already_received(kiosk, submission.client_uuid):
        return False
    assigned_initiative(kiosk, initiative.slug)
    # A close, hand-in or withdrawal at this moment waits for us, or we see its state.
    late = not signatures.hold_open(initiative)
    if late and not signed_in_time(kiosk, initiative, submission.device_signed_at):
        raise signatures.InitiativeClosedError(initiative.state)
    if submission.client_uuid:
        try:
            with db.session.begin_nested():
                db.session.add(KioskReceipt(client_uuid=submission.client_uuid, kiosk_id=kiosk.id))
        except IntegrityError:
            return False  # the same submission, sent twice at once: the other one counts
    result = signatures.sign(
        initiative,
        name=submission.name,
        email=submission.email,
        postcode=submission.postcode,
        locale=submission.locale,
        text_hash=texts.version_shown(initiative, submission.text_version),
        channel=Channel.KIOSK,
        kiosk_id=kiosk.id,
        client_uuid=submission.client_uuid,
        device_signed_at=submission.device_signed_at,
        in_time=True,  # checked just now, under the hold
        actor=f"kiosk:{kiosk.name}",
    )
    ended = initiative.collection_ends_at
    if late and ended and result.signature.client_uuid == submission.client_uuid:
        audit.record(
            "kiosk.signature_late",
            actor=f"kiosk:{kiosk.name}",
            initiative=initiative,
            signature=result.signature,
            kiosk=kiosk.id,
            ended_at=ended.isoformat(),
        )
    return True
