"""Signing, confirming, withdrawing and expiring: the rules of a signature's life.

Every change of a signature's state updates the row only if it is still in the
expected state (``move``, or ``confirm``'s own statement), so concurrent repeats act
once, and adjusts the initiative's ``confirmed_count`` in the same transaction.  These
functions flush, never commit: the caller commits once.  The statements of the hot
paths, built once, are in ``signature_sql``.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from . import audit, clock, keycheck, mailcaps, names, outbox, signature_sql
from .crypto import crypto
from .extensions import db
from .i18n import ascii_digits
from .models import (
    DEFAULT_LOCALE,
    LIVE_STATES,
    Channel,
    Initiative,
    InitiativeText,
    Signature,
    SignatureState,
    new_public_id,
)
from .tokens import Purpose, make_token

POSTCODE_RE = re.compile(r"^\s*([0-9]{3})\s?([0-9]{2})\s*$")


class InitiativeClosedError(Exception):
    """The initiative does not take signatures (or confirmations) now."""


class SignOutcome(enum.StrEnum):
    NEW = "new"  # a new pending signature, confirmation link sent
    RESENT = "resent"  # pending already: a fresh link sent
    # pending, signed again with another name or postcode: the row now has those, and a
    # link for them was sent (older links no longer confirm)
    CORRECTED = "corrected"
    ALREADY = "already"  # confirmed (or held for review): told so by email
    MAIL_CAPPED = "mail_capped"  # too many mails to this address today: nothing sent
    LINK_JUST_SENT = "link_just_sent"  # pending, its link queued moments ago: nothing sent
    # confirmed (or held), told so moments ago: nothing sent
    ALREADY_JUST_SENT = "already_just_sent"


class SignResult:
    """What ``sign`` did, and to which signature (loaded when asked for: the web view
    never asks, so a new signature costs no query to read back)."""

    def __init__(
        self,
        outcome: SignOutcome,
        signature: Signature | None = None,
        *,
        signature_id: int | None = None,
    ):
        self.outcome = outcome
        self._signature = signature
        self.signature_id = signature.id if signature is not None else signature_id

    @property
    def signature(self) -> Signature:
        if self._signature is None:
            self._signature = db.session.get_one(Signature, self.signature_id)
        return self._signature


def normalise_postcode(value: str | None) -> str | None:
    """``21214`` or ``212 14`` → ``212 14``; empty → None; anything else → ValueError.

    A phone with a Persian or Arabic keyboard types ``۲۱۲۱۴`` or ``٢١٢١٤``: any decimal
    digit counts, and is stored as the ASCII digit the post and the city use (otherwise
    ``۲۱۲`` and ``212`` would be two areas in the statistics and the pack).
    """
    if value is None or not value.strip():
        return None
    match = POSTCODE_RE.match(ascii_digits(value))
    if match is None:
        raise ValueError("not a Swedish postcode")
    return f"{match.group(1)} {match.group(2)}"


def _live_signature(initiative_id: int, indexes: list[str]) -> Signature | None:
    return db.session.scalars(
        sa.select(Signature).where(
            Signature.initiative_id == initiative_id,
            Signature.email_index.in_(indexes),
            Signature.state.in_([s.value for s in LIVE_STATES]),
        )
    ).first()


def _mail(kind: str, signature: Signature, email: str, initiative: Initiative) -> None:
    context: dict[str, str] = {"name": crypto().decrypt(signature.name_enc) or ""}
    if kind == "confirm":
        context["token"] = make_token(
            Purpose.CONFIRM, signature.public_id, signature.details_version
        )
        context["confirm_days"] = str(current_app.config["CONFIRM_DAYS"])
        # The mail says the link works for CONFIRM_DAYS: the signature waits as long.
        signature.link_sent_at = clock.utcnow()
    elif kind == "confirmed":
        context["token"] = make_token(Purpose.WITHDRAW, signature.public_id)
    outbox.enqueue_row(
        kind,
        to=email,
        locale=signature.locale,
        context=context,
        initiative_id=initiative.id,
        signature_id=signature.id,
        email_index=signature.email_index,
    )


# Only the mails a sign attempt triggers count: thank-you and withdrawal receipts do not.
SIGN_ATTEMPT_KINDS = ("confirm", "already_signed")


def _under_mail_cap(initiative: Initiative, indexes: list[str]) -> bool:
    """Whether one more link (or "already signed") may go to this address about this
    initiative today: under MAILS_PER_ADDRESS_PER_DAY for it, and under the cap for all
    initiatives.  Counted under the address's lock, so that a signer's new try and an
    organiser's resend at the same moment count one after the other."""
    mailcaps.lock_address(indexes)
    return _room_under_mail_cap(initiative, indexes)


def _room_under_mail_cap(initiative: Initiative, indexes: list[str]) -> bool:
    """``_under_mail_cap`` for a caller that holds the address's lock already."""
    return _has_room(mailcaps.sent_today(indexes, initiative.id, SIGN_ATTEMPT_KINDS))


def _has_room(sent: mailcaps.SentToday) -> bool:
    config = current_app.config
    return (
        sent.here < config["MAILS_PER_ADDRESS_PER_DAY"]
        and sent.total < config["MAILS_PER_ADDRESS_PER_DAY_TOTAL"]
    )


def sign(
    initiative: Initiative,
    *,
    name: str,
    email: str,
    postcode: str | None = None,
    locale: str,
    channel: Channel = Channel.WEB,
    source_tag: str | None = None,
    client_hash: str | None = None,
    text_hash: str | None = None,
    in_time: bool = False,
    actor: str = "signer",
    **extra: object,
) -> SignResult:
    """Record a signature (pending until confirmed by email) and queue the right mail.

    The outcome is for the caller's logs and tests only: the page shown to the signer
    must be the same whatever it is, so that nobody learns whether an address signed.
    ``text_hash`` is the text version the signer was shown, if not the current one.
    ``extra`` carries channel-specific columns (the kiosk's device, say).  ``in_time``:
    the caller has checked that it was signed while the collection was open, though it
    arrives after (a stand tablet's queue: ``kiosk_signatures.signed_in_time``).
    ``actor`` is who the audit log names if a repeat corrects a pending signature (a
    stand tablet's label; on the web, "signer").
    """
    if not in_time and not initiative.accepts_signatures():
        raise InitiativeClosedError(initiative.state)
    # Under the wrong DATA_KEY the duplicate check below would find nothing: a restore
    # next to the wrong key would let everyone sign again (checked once a minute).
    keycheck.guard(current_app._get_current_object())  # type: ignore[attr-defined]
    box = crypto()
    indexes = box.email_indexes(email)
    # As the forms read them (the form's filter may have run already: it changes
    # nothing then), so that a repeat compares like with like.
    name = names.clean(name) or ""
    postcode = normalise_postcode(postcode)

    now = clock.utcnow()
    public_id = new_public_id()
    values: dict[str, object] = {
        "public_id": public_id,
        "initiative_id": initiative.id,
        "state": SignatureState.PENDING.value,
        "channel": Channel(channel).value,
        "source_tag": source_tag,
        "locale": locale,
        "text_hash": text_hash or initiative.text_hash or initiative.compute_text_hash(),
        "name_enc": box.encrypt(name),
        "email_enc": box.encrypt(email.strip()),
        "postcode_enc": box.encrypt(postcode),
        "email_index": indexes[0],
        "postcode_area": postcode[:3] if postcode else None,
        "client_hash": client_hash,
        "created_at": now,
        **extra,
    }
    db.session.flush()  # anything the caller added comes first (a kiosk's receipt)
    # Three tries: the live signature that made ours a repeat may go (purge deleting it,
    # or expiring it) before the repeat path locks it, and another identical submission
    # may then win the insert again.
    for _attempt in range(3):
        # The unique index on the current key's blind index decides; only while a key
        # rotation is under way may a live signature carry an older key's index.
        existing = _live_signature(initiative.id, indexes[1:]) if len(indexes) > 1 else None
        if existing is None:
            signature_id = db.session.execute(
                signature_sql.insert_signature(db.engine.dialect.name, tuple(values)), values
            ).scalar()
            if signature_id is not None:
                return _signed(initiative, signature_id, public_id, name, email, locale, indexes)
            # Somebody else's identical submission won: treat ours as a repeat.
            existing = _live_signature(initiative.id, indexes)
        if existing is not None:
            details = Details(name, postcode, locale, Channel(channel), actor)
            again = _sign_again(initiative, existing, email, indexes, details)
            if again is not None:
                return again
    raise RuntimeError("unique index conflict without a live signature")  # pragma: no cover


def _signed(
    initiative: Initiative,
    signature_id: int,
    public_id: str,
    name: str,
    email: str,
    locale: str,
    indexes: list[str],
) -> SignResult:
    """Queue the confirmation link of a new signature unless the address is capped."""
    context = {
        "name": name,
        "token": make_token(Purpose.CONFIRM, public_id),
        "confirm_days": str(current_app.config["CONFIRM_DAYS"]),
    }
    queued = mailcaps.enqueue_under_cap(
        "confirm",
        to=email,
        locale=locale,
        context=context,
        initiative_id=initiative.id,
        signature_id=signature_id,
        email_indexes=indexes,
    )
    # Over the cap (too many mails to this address today, across initiatives) the
    # signature stays pending; signing again tomorrow sends the link.
    outcome = SignOutcome.NEW if queued else SignOutcome.MAIL_CAPPED
    return SignResult(outcome, signature_id=signature_id)


class Details(NamedTuple):
    """What a signer typed that a repeat while pending may correct: the name and
    postcode as the forms read them (``names.clean``, ``normalise_postcode``), and the
    language she now reads; and where it was typed, for the audit log."""

    name: str
    postcode: str | None
    locale: str
    channel: Channel
    actor: str


def _sign_again(
    initiative: Initiative,
    existing: Signature,
    email: str,
    indexes: list[str],
    details: Details,
) -> SignResult | None:
    """The repeat path: a fresh link, or "you have signed", within the daily caps.

    A pending signature signed again with another name or postcode takes them (a
    misspelt name can fail the city's check), with its details version raised: the new
    link carries the new version, and older links no longer confirm.  Otherwise anyone
    who typed the address could rename the signature, and the link in its owner's
    mailbox, greeting her own name, would confirm theirs.  Only if the new link can go
    out (under the daily caps; the quiet minute does not hold it back, as the link
    queued moments ago greets the old details): else nothing changes.

    A correction is on the organisers' audit log (which fields, never their values):
    it is what a stranger typing someone's address would do.

    None if ``existing`` is no longer live once locked (purge deleted or expired it
    since it was read): the caller signs afresh.
    """
    # The same address submitted many times at once: one at a time from here on (the
    # signature's row lock until commit), so each sees the mails the others queued and
    # the daily cap holds.  (SQLite's writes are one at a time anyway.)  The address's
    # lock first, as an organiser's resend takes the two, or each could wait for the other.
    mailcaps.lock_address(indexes)
    # Its state, newest link and details as of the lock, in the same statement: what was
    # read before may be gone, or older than what another request has changed since.
    row = db.session.execute(
        sa.select(
            Signature.state,
            Signature.link_sent().label("link_sent"),
            Signature.name_enc,
            Signature.postcode_enc,
            Signature.locale,
            Signature.details_version,
        )
        .where(Signature.id == existing.id)
        .with_for_update()
    ).one_or_none()
    if row is None or row.state not in LIVE_STATES:
        return None
    set_committed_value(existing, "state", row.state)
    set_committed_value(existing, "details_version", row.details_version)
    pending = row.state == SignatureState.PENDING
    corrected = _changed_fields(row, details) if pending else []
    quiet = timedelta(seconds=current_app.config["SIGN_AGAIN_QUIET_SECONDS"])
    now = clock.utcnow()
    if pending and not corrected and now - row.link_sent < quiet:
        # A double tap: the link queued moments ago works; a second one would only
        # count against the address's cap.
        return SignResult(SignOutcome.LINK_JUST_SENT, existing)
    sent = mailcaps.sent_today(indexes, initiative.id, SIGN_ATTEMPT_KINDS, "already_signed")
    if not pending and sent.newest and now - sent.newest < quiet:
        # The same for a signer who has confirmed: the "you have already signed" mail
        # queued moments ago says it all.
        return SignResult(SignOutcome.ALREADY_JUST_SENT, existing)
    if not _has_room(sent):
        # Corrected or not, nothing changes: the newest link sent still confirms what
        # it greets.
        return SignResult(SignOutcome.MAIL_CAPPED, existing)
    if corrected:
        _correct(existing, details, row.details_version + 1)
        _mail("confirm", existing, email, initiative)
        audit.record(
            "signature.details_corrected",
            actor=details.actor,
            initiative=initiative,
            signature=existing,
            channel=details.channel.value,
            fields=corrected,
        )
        outcome = SignOutcome.CORRECTED
    elif pending:
        _mail("confirm", existing, email, initiative)
        outcome = SignOutcome.RESENT
    else:
        _mail("already_signed", existing, email, initiative)
        outcome = SignOutcome.ALREADY
    db.session.flush()
    return SignResult(outcome, existing)


def _changed_fields(row: sa.Row[tuple[object, ...]], details: Details) -> list[str]:
    """Which of the name and postcode typed now are not the ones stored (exactly: both
    are as the forms read them); with them, the language if it changed too.  Empty: no
    correction (a language alone is not one)."""
    box = crypto()
    fields = [
        field
        for field, stored, typed in (
            ("name", row.name_enc, details.name),
            ("postcode", row.postcode_enc, details.postcode),
        )
        if box.decrypt(stored) != typed
    ]
    if fields and row.locale != details.locale:
        fields.append("locale")
    return fields


def _correct(signature: Signature, details: Details, version: int) -> None:
    """Give a pending signature the details typed now, under a new details version."""
    box = crypto()
    signature.name_enc = box.encrypt(details.name)
    signature.postcode_enc = box.encrypt(details.postcode)
    signature.postcode_area = details.postcode[:3] if details.postcode else None
    # She reads this language now: the new link's mail, and those after it, are in it.
    signature.locale = details.locale
    signature.details_version = version


class ListHandedInError(Exception):
    """The count of an initiative whose list has been handed in would change.

    The state was checked before, but the organiser's submission committed meanwhile
    (a confirmation or a withdrawal arriving in the same moment): the caller's
    transaction must be rolled back; the views answer 409.
    """


def _adjust_count(initiative_id: int, delta: int) -> None:
    result = db.session.execute(
        signature_sql.adjust_count(), {"initiative_id": initiative_id, "delta": delta}
    )
    if not result.rowcount:
        raise ListHandedInError(initiative_id)


def move(
    signature_filter: sa.ColumnElement[bool] | int,
    initiative_id: int,
    from_state: SignatureState,
    to_state: SignatureState,
    **values: object,
) -> int:
    """Move matching signatures from one state to another; keep the count exact.

    ``signature_filter`` is a condition, or the id of one signature (then the statement
    is built once and reused).  Returns how many rows moved.  The ``WHERE state =
    from_state`` makes repeats and races harmless: a second, concurrent confirmation
    finds nothing to move.
    """
    if isinstance(signature_filter, int):
        statement = signature_sql.move_one(
            SignatureState(from_state), SignatureState(to_state), tuple(values)
        )
        result = db.session.execute(statement, {"signature_id": signature_filter, **values})
    else:
        result = db.session.execute(
            sa.update(Signature)
            .where(signature_filter, Signature.state == from_state)
            .values(state=to_state, **values)
            .execution_options(synchronize_session=False)
        )
    moved = result.rowcount or 0
    delta = (to_state == SignatureState.CONFIRMED) - (from_state == SignatureState.CONFIRMED)
    if moved and delta:
        _adjust_count(initiative_id, delta * moved)
    return moved


class ConfirmOutcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    NOT_CONFIRMABLE = "not_confirmable"  # withdrawn, expired or invalidated
    CLOSED = "closed"


def by_public_id(public_id: str) -> Signature | None:
    return db.session.scalars(
        sa.select(Signature).where(Signature.public_id == public_id)
    ).one_or_none()


def with_text(public_id: str, locale: str) -> tuple[Signature, InitiativeText | None] | None:
    """A signature, its initiative and the initiative's text in ``locale`` (else the
    Swedish one), in one query: what a confirmation or withdrawal page shows.

    The initiative's other texts are not loaded (``Initiative.texts`` loads them if
    asked for).
    """
    rows = db.session.execute(
        signature_sql.with_text(), {"public_id": public_id, "locale": locale}
    ).all()
    if not rows:
        return None
    texts = {text.locale: text for _signature, text in rows if text is not None}
    return rows[0][0], texts.get(locale) or texts.get(DEFAULT_LOCALE)


def confirm(signature: Signature) -> ConfirmOutcome:
    """Confirm a pending signature exactly once and send the thank-you mail."""
    if signature.state == SignatureState.CONFIRMED:
        return ConfirmOutcome.ALREADY_CONFIRMED
    if signature.state != SignatureState.PENDING or signature.anonymised_at is not None:
        # An erased one names nobody: its link must never make it count.
        return ConfirmOutcome.NOT_CONFIRMABLE
    if not signature.initiative.accepts_confirmations():
        return ConfirmOutcome.CLOSED
    now = clock.utcnow()
    # The row first and the count last (not through move()): every confirmation of the
    # initiative updates its one counter row, and on PostgreSQL holds that row's lock
    # until COMMIT, so the mail is queued before the lock is taken, not while held.
    moved = db.session.execute(
        signature_sql.confirm_one(),
        {
            "signature_id": signature.id,
            "read_version": signature.details_version,
            "confirmed_at": now,
        },
    ).rowcount
    if not moved:
        # A concurrent request got there first, or it changed under us (a correction of
        # its details: the link that brought us here was made for the old ones).
        db.session.refresh(signature)
        if signature.state == SignatureState.CONFIRMED:
            return ConfirmOutcome.ALREADY_CONFIRMED
        return ConfirmOutcome.NOT_CONFIRMABLE
    # The row is known to be confirmed now: say so without reading it back.
    set_committed_value(signature, "state", SignatureState.CONFIRMED.value)
    set_committed_value(signature, "confirmed_at", now)
    email = crypto().decrypt(signature.email_enc)
    if email:
        _mail("confirmed", signature, email, signature.initiative)
    _adjust_count(signature.initiative_id, 1)
    db.session.flush()
    return ConfirmOutcome.CONFIRMED


class WithdrawOutcome(enum.StrEnum):
    WITHDRAWN = "withdrawn"
    ALREADY_WITHDRAWN = "already_withdrawn"
    NOT_WITHDRAWABLE = "not_withdrawable"
    CLOSED = "closed"  # the list has been handed in


def withdraw(signature: Signature) -> WithdrawOutcome:
    """Withdraw a signature at its signer's wish, until the initiative is submitted.

    Pending, confirmed and expired ones become withdrawn.  One held out by an
    organiser's review (invalidated) stays invalidated, so its address stays taken (it
    cannot be signed again to get round the review), but is marked withdrawn: a later
    restore of the review makes it withdrawn, never counted.
    """
    if signature.state == SignatureState.WITHDRAWN or signature.withdrawn_at is not None:
        return WithdrawOutcome.ALREADY_WITHDRAWN
    if not signature.initiative.accepts_withdrawals():
        return WithdrawOutcome.CLOSED
    now = clock.utcnow()
    moved = 0
    # Twice: a confirmation (or a restore) may move it between our tries.
    for _attempt in range(2):
        moved = _withdraw_once(signature, now)
        db.session.refresh(signature)
        if moved or signature.state == SignatureState.WITHDRAWN:
            break
    if not moved:
        if signature.state == SignatureState.WITHDRAWN:
            return WithdrawOutcome.ALREADY_WITHDRAWN
        return WithdrawOutcome.NOT_WITHDRAWABLE
    email = crypto().decrypt(signature.email_enc)
    if email:
        _mail("withdrawn", signature, email, signature.initiative)
    db.session.flush()
    return WithdrawOutcome.WITHDRAWN


def _withdraw_once(signature: Signature, now: datetime) -> int:
    for from_state in (SignatureState.CONFIRMED, SignatureState.PENDING, SignatureState.EXPIRED):
        moved = move(
            Signature.id == signature.id,
            signature.initiative_id,
            from_state,
            SignatureState.WITHDRAWN,
            withdrawn_at=now,
        )
        if moved:
            return moved
    return mark_withdrawn_while_held(Signature.id == signature.id, now)


def mark_withdrawn_while_held(signature_filter: sa.ColumnElement[bool], now: datetime) -> int:
    """Record a signer's withdrawal on invalidated signatures (their state stays)."""
    result = db.session.execute(
        sa.update(Signature)
        .where(
            signature_filter,
            Signature.state == SignatureState.INVALIDATED,
            Signature.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def link_ran_out() -> sa.ColumnElement[bool]:
    """Signatures whose newest confirmation link is older than CONFIRM_DAYS: it no longer
    works, and an unconfirmed one is expired."""
    cutoff = clock.utcnow() - timedelta(days=current_app.config["CONFIRM_DAYS"])
    return Signature.link_sent() < cutoff


def expire_unconfirmed() -> int:
    """Mark pending signatures whose newest link is older than CONFIRM_DAYS as expired;
    returns how many."""
    result = db.session.execute(
        sa.update(Signature)
        .where(Signature.state == SignatureState.PENDING, link_ran_out())
        .values(state=SignatureState.EXPIRED, expired_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def confirmed_count(initiative_id: int) -> int:
    """The authoritative count, by COUNT(*); the cached column must always equal it."""
    return (
        db.session.scalar(
            sa.select(sa.func.count(Signature.id)).where(
                Signature.initiative_id == initiative_id,
                Signature.state == SignatureState.CONFIRMED,
            )
        )
        or 0
    )
