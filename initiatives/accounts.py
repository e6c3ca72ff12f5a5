"""Organiser accounts: Argon2 passwords, optional TOTP, and login throttling in the database.

Two roles: ``admin`` may do everything, accounts included; ``organiser`` runs initiatives,
signatures, paper sheets and exports.  Throttling counts failed attempts per account and
per client in a table, so it holds across several app servers and restarts.  These
functions flush, never commit.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import argon2.profiles
import email_validator
import pyotp
import qrcode
import qrcode.image.svg
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer
from markupsafe import Markup, escape
from sqlalchemy.orm import Mapped, mapped_column

from . import clock, passwords
from .crypto import crypto
from .extensions import db
from .models import UTCDateTime, _enum_check

_SVG_SIZE = re.compile(r'\s(?:width|height)="[^"]*mm"')
TOTP_ISSUER = "Malmöinitiativ"


class Role(enum.StrEnum):
    ADMIN = "admin"
    ORGANISER = "organiser"


def _new_nonce() -> str:
    return secrets.token_hex(16)


class AdminUser(db.Model):
    """Someone who runs campaigns.  Never a signer: signers have no accounts."""

    __tablename__ = "admin_users"
    __table_args__ = (_enum_check("role", "role", Role),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[str] = mapped_column(sa.String(16), default=Role.ORGANISER)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    # TOTP secrets are encrypted like signers' data; ``pending`` holds one being enrolled.
    totp_secret_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_pending_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # The last 30-second step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the session's user id: changing it (``end_sessions``: logging out, a new
    # password, two-factor turned on or off, a new role, deactivation) ends every session
    # of the account at once, copies of the session cookie included.
    session_nonce: Mapped[str] = mapped_column(sa.String(32), default=_new_nonce)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Flask-Login's user interface.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def has_totp(self) -> bool:
        return self.totp_secret_enc is not None

    @property
    def label(self) -> str:
        """How the audit log names this person."""
        return self.email

    def __repr__(self) -> str:
        return f"<AdminUser {self.id} {self.role}>"


class LoginFailure(db.Model):
    """A failed password or code, keyed by hashes of the account and of the client."""

    __tablename__ = "admin_login_failures"
    __table_args__ = (
        sa.Index("ix_admin_login_failures_account", "account_key", "at"),
        sa.Index("ix_admin_login_failures_client", "client_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    account_key: Mapped[str] = mapped_column(sa.String(64))
    client_key: Mapped[str] = mapped_column(sa.String(64))


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


class PasswordError(AccountError):
    """The password is refused (a form shows the message on its password field)."""


ADDRESS_TAKEN = "Det finns redan ett konto med den e-postadressen."


def _hasher() -> PasswordHasher:
    """The site's hasher: PASSWORD_HASH_PROFILE's parameters (by default RFC 9106's
    second recommendation, 64 MiB and 3 passes).  A hash made with others still
    verifies, and is made again with these at the next login (``check_needs_rehash``)."""
    return _hasher_for(current_app.config["PASSWORD_HASH_PROFILE"])


@cache
def _hasher_for(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(getattr(argon2.profiles, profile))


def _dummy_hash() -> str:
    """A hash to verify against for an unknown address, so it takes as long as a known
    one's (made once per profile)."""
    return _dummy_hash_for(current_app.config["PASSWORD_HASH_PROFILE"])


@cache
def _dummy_hash_for(profile: str) -> str:
    return _hasher_for(profile).hash(secrets.token_urlsafe(16))


def canonical(email: str) -> str:
    """The form an account's address is stored and looked up in: case-folded, with an
    internationalised domain in its ASCII form (exämple.se and xn--exmple-cua.se are
    one address, as the account form stores it).  An address with letters beyond ASCII
    before the @ (the command line took one before it applied ``check_address``) has no
    ASCII form: it is kept composed (NFC) with its domain in Unicode, however either was
    typed, so that such an account still logs in."""
    email = email.strip().casefold()
    if email.isascii():
        return email
    try:
        valid = email_validator.validate_email(email, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return email
    return valid.ascii_email or valid.normalized


# As ``forms.printable_text``: control characters (a terminal's escape sequences too)
# and the replacement character left by undecodable bytes.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
MAX_NAME_LENGTH = 200
INVALID_ADDRESS = "Skriv en giltig e-postadress."
NON_ASCII_ADDRESS = (
    "Vi kan inte skicka e-post till en adress med å, ä, ö eller andra tecken utanför a–z före @."
)


def check_address(email: str) -> str:
    """The address as an account stores it, or AccountError saying what is wrong.

    The account form's rules (``forms.DeliverableEmail``), for every way in (the
    command line too): letters beyond ASCII before the @ need SMTPUTF8, which many mail
    servers lack.
    """
    email = email.strip()
    if _FORBIDDEN.search(email):
        raise AccountError(INVALID_ADDRESS)
    if not email.rpartition("@")[0].isascii():
        raise AccountError(NON_ASCII_ADDRESS)
    email = canonical(email)
    try:
        email_validator.validate_email(email, check_deliverability=False, allow_smtputf8=False)
    except email_validator.EmailNotValidError:
        raise AccountError(INVALID_ADDRESS) from None
    if len(email) > 254:
        raise AccountError(INVALID_ADDRESS)
    return email


def check_name(name: str) -> str:
    """The display name as stored (trimmed), or AccountError (the account form's rules)."""
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise AccountError(f"Namnet får vara högst {MAX_NAME_LENGTH} tecken.")
    if _FORBIDDEN.search(name):
        raise AccountError("Namnet innehåller tecken som inte är tillåtna.")
    return name


def check_password_rules(password: str, *, email: str = "", name: str = "") -> None:
    """The rules of ``passwords.refusal``; PasswordError says why one is refused."""
    why = passwords.refusal(password, email=email, name=name)
    if why is not None:
        raise PasswordError(why)


def by_email(email: str) -> AdminUser | None:
    # Also as typed: an account made on the command line before addresses were stored
    # in their ASCII form keeps its Unicode spelling.
    spellings = {canonical(email), email.strip().casefold()}
    return db.session.scalars(
        sa.select(AdminUser).where(AdminUser.email.in_(spellings)).limit(1)
    ).one_or_none()


def create_account(
    email: str, password: str, *, role: Role | str = Role.ORGANISER, name: str = ""
) -> AdminUser:
    """A new active account; refuses a taken or unusable address, a name the account
    form would refuse, or a short password."""
    email = check_address(email)
    name = check_name(name)
    if by_email(email) is not None:
        raise AccountError(ADDRESS_TAKEN)
    check_password_rules(password, email=email, name=name)
    user = AdminUser(
        email=email, name=name, role=Role(role), password_hash=_hasher().hash(password)
    )
    try:
        # Two admins (or two terminals) adding one address at the same moment both pass
        # the check above; the second is told the same, not a database error.  Added in
        # the savepoint, so that its rollback takes the row out of the session again.
        with db.session.begin_nested():
            db.session.add(user)
    except sa.exc.IntegrityError:
        raise AccountError(ADDRESS_TAKEN) from None
    return user


def end_sessions(user: AdminUser) -> None:
    """End every session of the account, in every browser, now.

    Flask's session is a cookie signed by us and kept by the browser: clearing it ends
    nothing in a copy of it (a shared computer, a stolen cookie).  The account's nonce is
    part of the user id in the session, so a new one makes every existing session nobody
    (``load_session_user``).  A view that keeps its own browser logged in logs it in again.
    """
    user.session_nonce = _new_nonce()


def set_password(user: AdminUser, password: str) -> None:
    """A new password ends the account's sessions (the caller may keep its own)."""
    check_password_rules(password, email=user.email, name=user.name)
    user.password_hash = _hasher().hash(password)
    end_sessions(user)


def verify_password(user: AdminUser | None, password: str) -> bool:
    """Constant work whether or not the account exists (no timing tells)."""
    try:
        return _hasher().verify(user.password_hash if user else _dummy_hash(), password) and (
            user is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def load_session_user(user_id: str) -> AdminUser | None:
    """Flask-Login's loader: ``id:nonce``; a changed nonce or inactive account is nobody."""
    raw_id, _, nonce = user_id.partition(":")
    if not raw_id.isdigit():
        return None
    user = db.session.get(AdminUser, int(raw_id))
    if user is None or not user.active or not hmac.compare_digest(user.session_nonce, nonce):
        return None
    return user


# --- throttling ----------------------------------------------------------------------------


def _key(kind: str, value: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"admin-login/{kind}/{value}".encode(), hashlib.sha256).hexdigest()


# A browser that logged in to an account gets a signed cookie naming the account (by its
# key) and the browser (a random id).  Failures from such a browser are counted on their
# own: strangers' wrong guesses, which refuse everyone else, cannot lock the owner out of
# the browser she uses.  The cookie only spares throttling; it never logs anyone in.
DEVICE_COOKIE = "admin_device"
DEVICE_DAYS = 180
_DEVICE_SALT = "admin-login/device"


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_DEVICE_SALT)


def device_cookie(attempt: Attempt) -> str:
    """A new cookie value for the browser that just logged in to ``attempt``'s account."""
    return _device_serializer().dumps({"a": attempt.account_key, "d": secrets.token_hex(16)})


def _device_key(account_key: str, cookie: str | None) -> str | None:
    if not cookie or len(cookie) > 500:
        return None
    try:
        data = _device_serializer().loads(cookie, max_age=DEVICE_DAYS * 86400)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("d"), str):
        return None
    if not hmac.compare_digest(str(data.get("a")), account_key):
        return None
    return _key("device", data["d"])


@dataclass(frozen=True)
class Attempt:
    """Who is trying: hashes of the account tried and of the client address, and of the
    browser when it logged in to this account before (see ``DEVICE_COOKIE``)."""

    account_key: str
    client_key: str
    device_key: str | None = None

    @classmethod
    def of(cls, email: str, client_address: str, device: str | None = None) -> Attempt:
        account_key = _key("account", canonical(email))
        return cls(account_key, _key("client", client_address), _device_key(account_key, device))


def _window_start() -> datetime:
    return clock.utcnow() - timedelta(minutes=current_app.config["ADMIN_LOGIN_WINDOW_MINUTES"])


def is_throttled(attempt: Attempt) -> bool:
    """Too many recent failures for this account, or from this client; from a browser
    that logged in to the account before, too many of its own failures."""
    since = _window_start()
    config = current_app.config

    def failures(column: sa.ColumnElement[str], key: str) -> int:
        return (
            db.session.scalar(
                sa.select(sa.func.count(LoginFailure.id)).where(
                    column == key, LoginFailure.at >= since
                )
            )
            or 0
        )

    if attempt.device_key is not None:
        return (
            failures(LoginFailure.client_key, attempt.device_key)
            >= config["ADMIN_LOGIN_MAX_PER_ACCOUNT"]
        )
    return (
        failures(LoginFailure.account_key, attempt.account_key)
        >= config["ADMIN_LOGIN_MAX_PER_ACCOUNT"]
        or failures(LoginFailure.client_key, attempt.client_key)
        >= config["ADMIN_LOGIN_MAX_PER_CLIENT"]
    )


def record_failure(attempt: Attempt) -> None:
    # A known browser's failures are its own count (and the account's, for everyone else).
    client_key = attempt.device_key or attempt.client_key
    db.session.add(LoginFailure(account_key=attempt.account_key, client_key=client_key))
    # Old rows say nothing any more; pruning here keeps the table small without a job.
    db.session.execute(
        sa.delete(LoginFailure).where(LoginFailure.at < clock.utcnow() - timedelta(days=1))
    )
    db.session.flush()


def clear_failures(attempt: Attempt) -> None:
    """After a full login, the account starts afresh (the client's count stays)."""
    db.session.execute(
        sa.delete(LoginFailure).where(LoginFailure.account_key == attempt.account_key)
    )


class LoginOutcome(enum.StrEnum):
    OK = "ok"
    NEEDS_CODE = "needs_code"
    WRONG = "wrong"
    THROTTLED = "throttled"


def lock_for_login(user_id: int) -> None:
    """Make other login attempts on this account wait until the caller commits.

    Then each attempt counts the failures of the ones before it: guesses sent in
    parallel are throttled like guesses sent one by one.
    """
    db.session.execute(sa.select(AdminUser.id).where(AdminUser.id == user_id).with_for_update())


def check_password_login(
    email: str, password: str, attempt: Attempt
) -> tuple[LoginOutcome, AdminUser | None]:
    """The first step of a login.  Unknown, inactive and wrong all look the same.

    Attempts on one account wait for each other (a row lock until the caller commits),
    so that guesses sent in parallel are counted like guesses sent one by one.
    """
    user = by_email(email)
    if user is not None:
        lock_for_login(user.id)
    if is_throttled(attempt):
        return LoginOutcome.THROTTLED, None
    if not verify_password(user, password) or user is None or not user.active:
        record_failure(attempt)
        return LoginOutcome.WRONG, None
    # The plain password is at hand only here: upgrade an old hash to today's parameters.
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    if user.has_totp:
        return LoginOutcome.NEEDS_CODE, user
    return LoginOutcome.OK, user


def mark_logged_in(user: AdminUser, attempt: Attempt) -> None:
    clear_failures(attempt)
    user.last_login_at = clock.utcnow()
    db.session.flush()


# --- TOTP two-factor -----------------------------------------------------------------------


def start_totp_enrolment(user: AdminUser) -> str:
    """A fresh secret, kept (encrypted) as pending until a code from it is shown."""
    secret = pyotp.random_base32()
    user.totp_pending_enc = crypto().encrypt(secret)
    db.session.flush()
    return secret


def pending_secret(user: AdminUser) -> str | None:
    return crypto().decrypt(user.totp_pending_enc)


def provisioning_uri(user: AdminUser, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def qr_svg(data: str | qrcode.QRCode, label: str | None = None) -> Markup:
    """The QR code as inline SVG: a path with attributes only, so the CSP allows it.

    ``data`` is the text to encode, or a prepared ``QRCode`` (its own error correction and
    border); ``label`` becomes the image's accessible name.
    """
    if isinstance(data, str):
        image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    else:
        image = data.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    svg = image.to_string(encoding="unicode")
    # Its width and height in mm would fix the size; the stylesheet sizes it instead.
    svg = _SVG_SIZE.sub("", svg, count=2)
    name = f' aria-label="{escape(label)}"' if label else ""
    # Markup is safe here: qrcode wrote the SVG, the data is only path coordinates, and
    # the label is escaped.
    return Markup(svg.replace("<svg ", f'<svg role="img" class="qr"{name} ', 1))  # noqa: S704


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code matches (allowing one step of clock drift either way)."""
    code = "".join(code.split())
    if not (code.isdecimal() and len(code) == 6):
        return None
    # A keyboard set to Arabic or Persian types ٣ or ۳ for 3: the same code, in ASCII.
    code = "".join(str(int(digit)) for digit in code)
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    current = int(now // totp.interval)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def confirm_totp_enrolment(user: AdminUser, code: str) -> bool:
    """Turn two-factor on if ``code`` comes from the pending secret."""
    secret = pending_secret(user)
    if secret is None:
        return False
    step = _matching_step(secret, code)
    if step is None:
        return False
    user.totp_secret_enc = user.totp_pending_enc
    user.totp_pending_enc = None
    user.totp_last_step = step
    end_sessions(user)
    db.session.flush()
    return True


def verify_totp(user: AdminUser, code: str, now: float | None = None) -> bool:
    """A current code, not used before (a replayed code is refused)."""
    secret = crypto().decrypt(user.totp_secret_enc)
    if secret is None:
        return False
    step = _matching_step(secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    # Taken in the database, not in memory: of two requests with the same code at the
    # same moment only one moves the step on (the other waits for its row, then finds
    # the step used).
    taken = db.session.execute(
        sa.update(AdminUser)
        .where(
            AdminUser.id == user.id,
            sa.or_(AdminUser.totp_last_step.is_(None), AdminUser.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(user, ["totp_last_step"])
    return bool(taken)


def disable_totp(user: AdminUser) -> None:
    """Two-factor off (her own choice, or a reset for a lost phone): the account's
    sessions end, as when it is turned on; a lost phone may hold a logged-in browser."""
    user.totp_secret_enc = None
    user.totp_pending_enc = None
    user.totp_last_step = None
    end_sessions(user)
    db.session.flush()


def deactivate(user: AdminUser) -> None:
    user.active = False
    end_sessions(user)
    db.session.flush()


def lock_active_admins() -> int:
    """How many active admins there are, their rows held until this transaction ends:
    two admins demoting (or closing) each other at once then count one after the other,
    and the second sees the first's change."""
    return len(
        db.session.scalars(
            sa.select(AdminUser.id)
            .where(AdminUser.role == Role.ADMIN, AdminUser.active.is_(True))
            .with_for_update()
        ).all()
    )


def active_admins() -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count(AdminUser.id)).where(
                AdminUser.role == Role.ADMIN, AdminUser.active.is_(True)
            )
        )
        or 0
    )
