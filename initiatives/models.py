"""The data model: initiatives and their texts, signatures, the outbox, the audit log.

Personal data of signers (name, email, postcode) is stored only encrypted (see
``crypto.py``); duplicates are found through ``email_index``, a keyed blind index of the
canonical email.  A database dump alone reveals no signer.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from . import clock
from .extensions import db


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every engine (SQLite keeps no time zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use clock.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class InitiativeState(enum.StrEnum):
    DRAFT = "draft"
    COLLECTING = "collecting"
    CLOSED = "closed"
    SUBMITTED = "submitted"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"


class SignatureState(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"
    INVALIDATED = "invalidated"
    EXPIRED = "expired"


class Channel(enum.StrEnum):
    WEB = "web"
    KIOSK = "kiosk"
    PAPER = "paper"


# A live signature blocks another with the same address.  Invalidated ones stay live so
# that restoring one never collides with a newer signature.
LIVE_STATES = (SignatureState.PENDING, SignatureState.CONFIRMED, SignatureState.INVALIDATED)
LIVE_SQL = "state IN ('pending', 'confirmed', 'invalidated')"

DEFAULT_LOCALE = "sv"
# Where a signer came from (?src=): the initiative's own material; organisers add more.
DEFAULT_CAMPAIGN_TAGS = ("qr", "poster", "flyer", "stand")


def _enum_check(name: str, column: str, values: type[enum.StrEnum]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


class Initiative(db.Model):
    __tablename__ = "initiatives"
    __table_args__ = (
        _enum_check("state", "state", InitiativeState),
        sa.CheckConstraint("threshold > 0", name="threshold_positive"),
        sa.CheckConstraint("period_months IN (3, 6, 9, 12)", name="period_months"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    state: Mapped[str] = mapped_column(sa.String(16), default=InitiativeState.DRAFT)
    threshold: Mapped[int] = mapped_column(default=100)
    period_months: Mapped[int] = mapped_column(default=6)
    target_body: Mapped[str] = mapped_column(sa.String(200), default="Tekniska nämnden")
    official_url: Mapped[str | None] = mapped_column(sa.String(500))
    is_example: Mapped[bool] = mapped_column(default=False)
    # The ``?src=`` tags counted for this initiative (see ``campaign.py``); a JSON list,
    # replaced as a whole when changed (in-place mutation would go unnoticed).
    campaign_tags: Mapped[list[str]] = mapped_column(
        sa.JSON,
        default=lambda: list(DEFAULT_CAMPAIGN_TAGS),
        server_default=sa.text("'" + json.dumps(list(DEFAULT_CAMPAIGN_TAGS)) + "'"),
    )
    # SHA-256 of the texts as frozen when collection started (see ``compute_text_hash``).
    text_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # Maintained in the same transaction as every signature state change, so that reading
    # the count never needs COUNT(*); tests assert the two always agree.
    confirmed_count: Mapped[int] = mapped_column(default=0)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.utcnow, onupdate=clock.utcnow
    )
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by organisers (see lifecycle.py): the contact on the cover letter, the city's
    # reference number once submitted, and the committee's answer.
    organiser_contact: Mapped[str | None] = mapped_column(sa.Text)
    city_reference: Mapped[str | None] = mapped_column(sa.String(100))
    answer_text: Mapped[str | None] = mapped_column(sa.Text)

    texts: Mapped[list[InitiativeText]] = relationship(
        back_populates="initiative",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="InitiativeText.locale",
    )

    def text(self, locale: str) -> InitiativeText | None:
        """The text in ``locale``, else the Swedish one (callers show a note then)."""
        by_locale = {t.locale: t for t in self.texts}
        return by_locale.get(locale) or by_locale.get(DEFAULT_LOCALE)

    @property
    def locales(self) -> list[str]:
        return sorted(t.locale for t in self.texts)

    def compute_text_hash(self) -> str:
        """SHA-256 over the canonical JSON of every language's title, summary and body."""
        canonical = {
            t.locale: {"title": t.title, "summary": t.summary, "body": t.body} for t in self.texts
        }
        data = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def accepts_signatures(self, now: datetime | None = None) -> bool:
        now = now or clock.utcnow()
        return (
            self.state == InitiativeState.COLLECTING
            and (self.opens_at is None or self.opens_at <= now)
            and (self.closes_at is None or now < self.closes_at)
        )

    def accepts_confirmations(self) -> bool:
        """Signatures made in time may be confirmed until the list is handed in."""
        return self.state in (InitiativeState.COLLECTING, InitiativeState.CLOSED)

    def accepts_withdrawals(self) -> bool:
        """Signers may withdraw until the list is handed in; a withdrawn initiative's
        list never will be, so its signers still may."""
        return self.state in (
            InitiativeState.COLLECTING,
            InitiativeState.CLOSED,
            InitiativeState.WITHDRAWN,
        )

    def open_for_review(self) -> bool:
        """Organisers may invalidate and restore signatures while the list can change."""
        return self.state in (InitiativeState.COLLECTING, InitiativeState.CLOSED)

    @property
    def collection_ends_at(self) -> datetime | None:
        """When collecting ended or ends: the period's end, or earlier if an organiser
        closed or withdrew the initiative first."""
        ends = [t for t in (self.closes_at, self.closed_at, self.withdrawn_at) if t is not None]
        return min(ends) if ends else None

    def days_left(self, now: datetime | None = None) -> int | None:
        if self.closes_at is None:
            return None
        now = now or clock.utcnow()
        return max(0, math.ceil((self.closes_at - now).total_seconds() / 86400))


class InitiativeText(db.Model):
    __tablename__ = "initiative_texts"
    __table_args__ = (sa.UniqueConstraint("initiative_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(sa.ForeignKey("initiatives.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    body: Mapped[str] = mapped_column(sa.Text, default="")

    initiative: Mapped[Initiative] = relationship(back_populates="texts")


def new_public_id() -> str:
    return uuid.uuid4().hex


class Signature(db.Model):
    __tablename__ = "signatures"
    __table_args__ = (
        _enum_check("state", "state", SignatureState),
        _enum_check("channel", "channel", Channel),
        # The database itself refuses a second live signature for one address: two
        # simultaneous submissions cannot both get in.
        sa.Index(
            "uq_signatures_live_email",
            "initiative_id",
            "email_index",
            unique=True,
            sqlite_where=sa.text(LIVE_SQL),
            postgresql_where=sa.text(LIVE_SQL),
        ),
        sa.Index("ix_signatures_initiative_state", "initiative_id", "state"),
        sa.Index("ix_signatures_kiosk_created", "kiosk_id", "created_at"),
        # The duplicate check looks signatures up by address and state.  SQLite cannot
        # use the partial index above for it (its WHERE matches only literal values; the
        # query binds parameters), so without this index every signature scanned all
        # pending ones of its initiative: slower and slower in a surge.  The state
        # column makes SQLite's planner prefer it without statistics.
        sa.Index("ix_signatures_initiative_email", "initiative_id", "email_index", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Carried in tokens instead of the row id, so ids are never guessable or reused.
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    initiative_id: Mapped[int] = mapped_column(sa.ForeignKey("initiatives.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(16), default=SignatureState.PENDING)
    channel: Mapped[str] = mapped_column(sa.String(8), default=Channel.WEB)
    source_tag: Mapped[str | None] = mapped_column(sa.String(32))
    locale: Mapped[str] = mapped_column(sa.String(16), default=DEFAULT_LOCALE)
    text_hash: Mapped[str | None] = mapped_column(sa.String(64))

    # Personal data, encrypted (Fernet); decrypt through ``crypto``.
    name_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    email_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    postcode_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    email_index: Mapped[str | None] = mapped_column(sa.String(64))
    # The first three digits of the postcode: an area, kept for aggregates.
    postcode_area: Mapped[str | None] = mapped_column(sa.String(3))
    # Keyed hash of the client address with a daily salt, to spot bursts; dropped later.
    client_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # Kiosk signatures: the stand tablet, the UUID the device gave the submission (so a
    # queued send is accepted once), and the device's own signing time.
    kiosk_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kiosks.id", ondelete="SET NULL"))
    client_uuid: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    device_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    # When a new confirmation link was last sent (signing again, an organiser's resend);
    # None: only the one sent on signing.  Expiry counts from the newest link.
    link_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised when the signer corrects her name or postcode by signing again while
    # pending: a confirmation link carries the version it was made for, and an older
    # link no longer confirms (it greets the details before the change).
    details_version: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invalidation_reason: Mapped[str | None] = mapped_column(sa.String(32))
    invalidation_note: Mapped[str | None] = mapped_column(sa.Text)

    initiative: Mapped[Initiative] = relationship(lazy="joined")

    @classmethod
    def link_sent(cls) -> sa.ColumnElement[datetime]:
        """When its newest confirmation link went out: what expiry counts from."""
        return sa.func.coalesce(cls.link_sent_at, cls.created_at)

    def __repr__(self) -> str:  # never the personal fields
        return f"<Signature {self.id} {self.state} {self.channel}>"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(db.Model):
    """An email to send.  Written in the same transaction as what caused it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        _enum_check("status", "status", OutboxStatus),
        sa.Index("ix_outbox_messages_due", "status", "due_at"),
        # How much went out lately (outbox_status): sent mail is most of the table.
        sa.Index("ix_outbox_messages_sent", "status", "sent_at"),
        sa.Index("ix_outbox_messages_address", "email_index", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    locale: Mapped[str] = mapped_column(sa.String(16), default=DEFAULT_LOCALE)
    signature_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("signatures.id", ondelete="SET NULL")
    )
    initiative_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("initiatives.id", ondelete="SET NULL")
    )
    # Blind index of the recipient, to cap mails per address without knowing it.
    email_index: Mapped[str | None] = mapped_column(sa.String(64))
    # Encrypted JSON: recipient and template context (which holds tokens).
    payload_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(8), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Exception class and SMTP code only: never an address or a body.
    last_error: Mapped[str | None] = mapped_column(sa.String(300))


class AuditEvent(db.Model):
    """Who did what, when.  Details never hold personal data of signers."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_initiative", "initiative_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    actor: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(64))
    initiative_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("initiatives.id", ondelete="SET NULL")
    )
    signature_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("signatures.id", ondelete="SET NULL")
    )
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
