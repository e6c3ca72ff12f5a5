"""Stand tablets ("kiosks"): enrolment, the device binding, the assigned initiatives.

An organiser creates a kiosk for one or more initiatives and gets a one-time enrolment
code.  The volunteer types it on the tablet with a PIN of their choice; the tablet then
holds a random device secret (in a signed cookie) whose hash is stored here, so exactly
one device is bound to a kiosk and revoking the kiosk locks that device out.

Nothing secret is stored in the clear: codes are stored as keyed hashes, the device
secret as its SHA-256 (it is 256 random bits), the PIN as a salted scrypt hash.  These
functions flush, never commit.  The signatures a kiosk takes are in ``kiosk_signatures``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import qrcode
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from . import audit, clock, kiosk_queue
from .extensions import db
from .models import Initiative, UTCDateTime
from .tokens import signing_keys

# No 0/O, 1/I/L: a code read aloud or copied from a laptop screen is typed right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_MINUTES = 30

kiosk_initiatives = sa.Table(
    "kiosk_initiatives",
    db.metadata,
    sa.Column("kiosk_id", sa.ForeignKey("kiosks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "initiative_id", sa.ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Kiosk(db.Model):
    """A stand tablet, allowed to collect signatures for its assigned initiatives."""

    __tablename__ = "kiosks"
    __table_args__ = (
        # A name is reused once the old kiosk is revoked ("Stand 1" gets a new tablet).
        sa.Index(
            "uq_kiosks_active_name",  # NAME_INDEX
            "name",
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    # The initiative the tablet shows now; the volunteer switches among the assigned.
    current_initiative_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("initiatives.id", ondelete="SET NULL")
    )
    code_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    device_hash: Mapped[str | None] = mapped_column(sa.String(64))
    pin_hash: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The offline queue's keys (kiosk_queue): the current binding's public key (SPKI DER,
    # base64; public), and the private keys, encrypted under DATA_KEY.
    queue_public_key: Mapped[str | None] = mapped_column(sa.String(600))
    queue_keys_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)

    initiatives: Mapped[list[Initiative]] = relationship(
        secondary=kiosk_initiatives, lazy="selectin", order_by=Initiative.slug
    )

    @property
    def status(self) -> str:
        """``revoked``, ``enrolled`` or ``waiting`` (for a device to enrol)."""
        if self.revoked_at is not None:
            return "revoked"
        return "enrolled" if self.device_hash else "waiting"

    def __repr__(self) -> str:
        return f"<Kiosk {self.id} {self.name!r} {self.status}>"


class EnrolmentError(Exception):
    """The code was not accepted; ``reason`` is ``invalid`` or ``expired``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotAssignedError(Exception):
    """The initiative is not one this kiosk may collect for."""


def _keyed(purpose: str, value: str, secret_key: str | None = None) -> str:
    secret_key = secret_key or current_app.config["SECRET_KEY"]
    key = hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _all_keyed(purpose: str, value: str) -> list[str]:
    """Under SECRET_KEY and each of SECRET_KEY_FALLBACKS (a rotation in progress)."""
    return [_keyed(purpose, value, key) for key in reversed(signing_keys())]


def normalise_code(text: str) -> str:
    """What the volunteer typed (any case, spaces or a dash) → the bare code."""
    return "".join(c for c in text.upper() if c.isalnum())


def format_code(code: str) -> str:
    """``ABCD2345`` → ``ABCD-2345``, easier to read out and type."""
    return f"{code[:4]}-{code[4:]}"


def enrol_url(code: str) -> str:
    """The address a tablet opens (or scans) to enrol with ``code`` filled in."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}/kiosk/enrol/{normalise_code(code)}"


def enrol_qr(code: str) -> qrcode.QRCode:
    """The enrolment address as a QR code (``print_ascii`` for a terminal, or
    ``make_image(image_factory=qrcode.image.svg.SvgPathImage)`` for a page)."""
    image = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    image.add_data(enrol_url(code))
    return image


CODE_PURPOSE = "initiatives.kiosk.enrolment-code"
TOKEN_PURPOSE = "initiatives.kiosk.device-token"  # noqa: S105 - an HMAC purpose, not a secret


def _code_hash(code: str) -> str:
    return _keyed(CODE_PURPOSE, normalise_code(code))


def device_hash(device_secret: str) -> str:
    return hashlib.sha256(device_secret.encode()).hexdigest()


def device_token(kiosk: Kiosk, device_secret: str) -> str:
    """The token the kiosk's pages carry for deferred (queued) sends.

    It is bound to the device, not to a page or a session, so a submission queued
    offline can still prove hours later that it comes from this enrolled tablet.  A page
    on another site cannot read it, which is what CSRF protection needs.
    """
    return _keyed(TOKEN_PURPOSE, f"{kiosk.id}:{device_secret}")


def check_device_token(kiosk: Kiosk, device_secret: str, token: str | None) -> bool:
    """Also a token made before SECRET_KEY was rotated (a page open on the tablet).

    A header with characters beyond ASCII is no token of ours (and ``compare_digest``
    cannot compare it): refused like any wrong token.
    """
    if not token or not token.isascii():
        return False
    return any(
        hmac.compare_digest(expected, token)
        for expected in _all_keyed(TOKEN_PURPOSE, f"{kiosk.id}:{device_secret}")
    )


def issue_code(kiosk: Kiosk, *, actor: str | None = None) -> str:
    """A fresh one-time enrolment code (valid CODE_MINUTES), replacing any earlier one.

    With an ``actor`` the new code is written to the audit log (``create`` records the
    first code as part of ``kiosk.created``).  A revoked kiosk gets no code.
    """
    if kiosk.revoked_at is not None:
        raise ValueError("a revoked kiosk cannot be enrolled again")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    kiosk.code_hash = _code_hash(code)
    kiosk.code_expires_at = clock.utcnow() + timedelta(minutes=CODE_MINUTES)
    if actor is not None:
        audit.record("kiosk.code_issued", actor=actor, kiosk=kiosk.id)
    db.session.flush()
    return code


def code_is_current(kiosk: Kiosk, code: str) -> bool:
    """Whether ``code`` is the kiosk's unused, unexpired enrolment code (to show it again)."""
    return (
        kiosk.revoked_at is None
        and kiosk.code_hash is not None
        and kiosk.code_expires_at is not None
        and kiosk.code_expires_at > clock.utcnow()
        and any(
            hmac.compare_digest(kiosk.code_hash, hashed)
            for hashed in _all_keyed(CODE_PURPOSE, normalise_code(code))
        )
    )


def create(name: str, initiatives: list[Initiative], *, actor: str) -> tuple[Kiosk, str]:
    """A new kiosk for ``initiatives`` and its one-time enrolment code."""
    if not initiatives:
        raise ValueError("a kiosk needs at least one initiative")
    kiosk = Kiosk(name=name.strip(), initiatives=list(initiatives))
    kiosk.current_initiative_id = initiatives[0].id
    db.session.add(kiosk)
    db.session.flush()
    code = issue_code(kiosk)
    audit.record(
        "kiosk.created",
        actor=actor,
        kiosk=kiosk.id,
        name=kiosk.name,
        initiatives=[i.slug for i in initiatives],
    )
    return kiosk, code


def enrol(code: str, pin: str) -> tuple[Kiosk, str]:
    """Bind this device to the kiosk the code belongs to; returns it and the device secret.

    The code works once: it is cleared on success.  A device enrolled before (with an
    earlier code for the same kiosk) is locked out, since only one secret is kept.  The
    kiosk's row is locked while it is read, so the same code sent twice at once enrols
    one device: the other waits, then finds the code used.
    """
    kiosk = db.session.scalars(
        sa.select(Kiosk)
        .where(
            Kiosk.code_hash.in_(_all_keyed(CODE_PURPOSE, normalise_code(code))),
            Kiosk.revoked_at.is_(None),
        )
        .with_for_update()
    ).one_or_none()
    if kiosk is None:
        raise EnrolmentError("invalid")
    if kiosk.code_expires_at is None or kiosk.code_expires_at <= clock.utcnow():
        raise EnrolmentError("expired")
    secret = secrets.token_urlsafe(32)
    kiosk.device_hash = device_hash(secret)
    kiosk.pin_hash = generate_password_hash(pin)
    kiosk.code_hash = None
    kiosk.code_expires_at = None
    kiosk.enrolled_at = clock.utcnow()
    # A key pair for this binding, to seal what the tablet queues offline.
    kiosk_queue.new_binding_key(kiosk, kiosk.enrolled_at)
    audit.record("kiosk.enrolled", actor=f"kiosk:{kiosk.name}", kiosk=kiosk.id)
    db.session.flush()
    return kiosk, secret


def by_device(kiosk_id: int, device_secret: str) -> Kiosk | None:
    """The kiosk this device is bound to, if it still is (not revoked, not left)."""
    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None or kiosk.revoked_at is not None or not kiosk.device_hash:
        return None
    if not hmac.compare_digest(kiosk.device_hash, device_hash(device_secret)):
        return None
    return kiosk


def check_pin(kiosk: Kiosk, pin: str) -> bool:
    return bool(kiosk.pin_hash) and check_password_hash(kiosk.pin_hash or "", pin)


def unenrol(kiosk: Kiosk, *, actor: str) -> None:
    """The device leaves kiosk mode; the kiosk stays and may be enrolled again.

    Its queue keys go: whatever the tablet still holds sealed can be opened by nobody.
    (The tablet's panel refuses to leave while its queue is not empty.)
    """
    kiosk.device_hash = None
    kiosk.pin_hash = None
    kiosk_queue.forget_keys(kiosk)
    audit.record("kiosk.left", actor=actor, kiosk=kiosk.id)
    db.session.flush()


def revoke(kiosk: Kiosk, *, actor: str) -> None:
    """Lock the kiosk for good: its device is refused from its next request on."""
    if kiosk.revoked_at is None:
        kiosk.revoked_at = clock.utcnow()
    kiosk.device_hash = None
    kiosk.pin_hash = None
    kiosk.code_hash = None
    kiosk.code_expires_at = None
    kiosk_queue.forget_keys(kiosk)
    audit.record("kiosk.revoked", actor=actor, kiosk=kiosk.id)
    db.session.flush()


NAME_INDEX = "uq_kiosks_active_name"


def name_taken(exc: sa.exc.IntegrityError) -> bool:
    """Whether the database refused a kiosk for its name: another active kiosk took it
    at the same moment.  Any other refusal (the one-time code's unique index, …) is not
    the organiser's choice of name, and is no reason to ask for another one."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:  # psycopg: PostgreSQL names the index
        return bool(diag.constraint_name == NAME_INDEX)
    # SQLite names the columns: "UNIQUE constraint failed: kiosks.name".
    return str(exc.orig).endswith("kiosks.name")


def by_name(name: str) -> Kiosk | None:
    """The active (not revoked) kiosk with this name."""
    return db.session.scalars(
        sa.select(Kiosk).where(Kiosk.name == name.strip(), Kiosk.revoked_at.is_(None))
    ).one_or_none()


def all_kiosks(*, include_revoked: bool = False) -> list[Kiosk]:
    query = sa.select(Kiosk).order_by(Kiosk.name, Kiosk.id)
    if not include_revoked:
        query = query.where(Kiosk.revoked_at.is_(None))
    return list(db.session.scalars(query))


def current_initiative(kiosk: Kiosk) -> Initiative | None:
    """The initiative on screen: the chosen one if still assigned, else the first open."""
    assigned = {i.id: i for i in kiosk.initiatives}
    chosen = assigned.get(kiosk.current_initiative_id or 0)
    if chosen is not None:
        return chosen
    open_now = [i for i in kiosk.initiatives if i.accepts_signatures()]
    return (open_now or kiosk.initiatives or [None])[0]


def assigned_initiative(kiosk: Kiosk, slug: str) -> Initiative:
    for initiative in kiosk.initiatives:
        if initiative.slug == slug:
            return initiative
    raise NotAssignedError(slug)


def switch(kiosk: Kiosk, initiative: Initiative, *, actor: str) -> None:
    """Show another of the kiosk's initiatives."""
    assigned_initiative(kiosk, initiative.slug)
    kiosk.current_initiative_id = initiative.id
    audit.record("kiosk.switched", actor=actor, kiosk=kiosk.id, initiative=initiative)
    db.session.flush()
