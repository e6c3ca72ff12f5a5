"""Signing, confirming, withdrawing and expiring: the rules of a signature's life.

Every change of a signature's state goes through ``_move``, which updates the row only
if it is still in the expected state (so concurrent repeats act once) and adjusts the
initiative's ``confirmed_count`` in the same transaction.  These functions flush, never
commit: the caller commits once.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from . import clock, mailcaps, outbox
from .crypto import crypto
from .extensions import db
from .models import (
    LIVE_STATES,
    Channel,
    Initiative,
    Signature,
    SignatureState,
)
from .tokens import Purpose, make_token

POSTCODE_RE = re.compile(r"^\s*(\d{3})\s?(\d{2})\s*$")


class InitiativeClosedError(Exception):
    """The initiative does not take signatures (or confirmations) now."""


class SignOutcome(enum.StrEnum):
    NEW = "new"  # a new pending signature, confirmation link sent
    RESENT = "resent"  # pending already: a fresh link sent
    ALREADY = "already"  # confirmed (or held for review): told so by email
    MAIL_CAPPED = "mail_capped"  # too many mails to this address today: nothing sent


@dataclass
class SignResult:
    outcome: SignOutcome
    signature: Signature


def normalise_postcode(value: str | None) -> str | None:
    """``21214`` or ``212 14`` → ``212 14``; empty → None; anything else → ValueError."""
    if value is None or not value.strip():
        return None
    match = POSTCODE_RE.match(value)
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
        context["token"] = make_token(Purpose.CONFIRM, signature.public_id)
        context["confirm_days"] = str(current_app.config["CONFIRM_DAYS"])
    elif kind == "confirmed":
        context["token"] = make_token(Purpose.WITHDRAW, signature.public_id)
    outbox.enqueue(
        kind,
        to=email,
        locale=signature.locale,
        context=context,
        initiative=initiative,
        signature=signature,
        email_index=signature.email_index,
    )


def _under_mail_cap(initiative: Initiative, indexes: list[str]) -> bool:
    since = clock.utcnow() - timedelta(days=1)
    # Only the mails a sign attempt triggers count: thank-you and withdrawal receipts do not.
    sent = outbox.mails_since(indexes, initiative.id, since, ("confirm", "already_signed"))
    return sent < current_app.config["MAILS_PER_ADDRESS_PER_DAY"] and mailcaps.under_global_cap(
        indexes
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
    **extra: object,
) -> SignResult:
    """Record a signature (pending until confirmed by email) and queue the right mail.

    The outcome is for the caller's logs and tests only: the page shown to the signer
    must be the same whatever it is, so that nobody learns whether an address signed.
    ``extra`` carries channel-specific columns (the kiosk's device, say).
    """
    if not initiative.accepts_signatures():
        raise InitiativeClosedError(initiative.state)
    box = crypto()
    indexes = box.email_indexes(email)
    postcode = normalise_postcode(postcode)

    for _attempt in range(2):
        existing = _live_signature(initiative.id, indexes)
        if existing is not None:
            return _sign_again(initiative, existing, email, indexes)
        signature = Signature(
            initiative_id=initiative.id,
            state=SignatureState.PENDING,
            channel=channel,
            source_tag=source_tag,
            locale=locale,
            text_hash=initiative.text_hash or initiative.compute_text_hash(),
            name_enc=box.encrypt(name.strip()),
            email_enc=box.encrypt(email.strip()),
            postcode_enc=box.encrypt(postcode),
            email_index=indexes[0],
            postcode_area=postcode[:3] if postcode else None,
            client_hash=client_hash,
            **extra,
        )
        try:
            # A savepoint, so that losing a race to the unique index undoes only this row.
            with db.session.begin_nested():
                db.session.add(signature)
        except IntegrityError:
            continue  # somebody else's identical submission won; treat ours as a repeat
        if not mailcaps.under_global_cap(indexes):
            # Too many mails to this address today (across initiatives): keep the
            # signature pending; signing again tomorrow sends the link.
            db.session.flush()
            return SignResult(SignOutcome.MAIL_CAPPED, signature)
        _mail("confirm", signature, email, initiative)
        db.session.flush()
        return SignResult(SignOutcome.NEW, signature)
    raise RuntimeError("unique index conflict without a live signature")  # pragma: no cover


def _sign_again(
    initiative: Initiative, existing: Signature, email: str, indexes: list[str]
) -> SignResult:
    if not _under_mail_cap(initiative, indexes):
        return SignResult(SignOutcome.MAIL_CAPPED, existing)
    if existing.state == SignatureState.PENDING:
        _mail("confirm", existing, email, initiative)
        outcome = SignOutcome.RESENT
    else:
        _mail("already_signed", existing, email, initiative)
        outcome = SignOutcome.ALREADY
    db.session.flush()
    return SignResult(outcome, existing)


def _adjust_count(initiative_id: int, delta: int) -> None:
    db.session.execute(
        sa.update(Initiative)
        .where(Initiative.id == initiative_id)
        .values(confirmed_count=Initiative.confirmed_count + delta)
        .execution_options(synchronize_session=False)
    )


def move(
    signature_filter: sa.ColumnElement[bool],
    initiative_id: int,
    from_state: SignatureState,
    to_state: SignatureState,
    **values: object,
) -> int:
    """Move matching signatures from one state to another; keep the count exact.

    Returns how many rows moved.  The ``WHERE state = from_state`` makes repeats and
    races harmless: a second, concurrent confirmation finds nothing to move.
    """
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


def confirm(signature: Signature) -> ConfirmOutcome:
    """Confirm a pending signature exactly once and send the thank-you mail."""
    if signature.state == SignatureState.CONFIRMED:
        return ConfirmOutcome.ALREADY_CONFIRMED
    if signature.state != SignatureState.PENDING:
        return ConfirmOutcome.NOT_CONFIRMABLE
    if not signature.initiative.accepts_confirmations():
        return ConfirmOutcome.CLOSED
    moved = move(
        Signature.id == signature.id,
        signature.initiative_id,
        SignatureState.PENDING,
        SignatureState.CONFIRMED,
        confirmed_at=clock.utcnow(),
    )
    db.session.refresh(signature)
    if not moved:
        # A concurrent request got there first (or it changed under us).
        if signature.state == SignatureState.CONFIRMED:
            return ConfirmOutcome.ALREADY_CONFIRMED
        return ConfirmOutcome.NOT_CONFIRMABLE
    email = crypto().decrypt(signature.email_enc)
    if email:
        _mail("confirmed", signature, email, signature.initiative)
    db.session.flush()
    return ConfirmOutcome.CONFIRMED


class WithdrawOutcome(enum.StrEnum):
    WITHDRAWN = "withdrawn"
    ALREADY_WITHDRAWN = "already_withdrawn"
    NOT_WITHDRAWABLE = "not_withdrawable"
    CLOSED = "closed"  # the list has been handed in


def withdraw(signature: Signature) -> WithdrawOutcome:
    """Withdraw a pending or confirmed signature, until the initiative is submitted."""
    if signature.state == SignatureState.WITHDRAWN:
        return WithdrawOutcome.ALREADY_WITHDRAWN
    if not signature.initiative.accepts_withdrawals():
        return WithdrawOutcome.CLOSED
    now = clock.utcnow()
    moved = 0
    for from_state in (SignatureState.CONFIRMED, SignatureState.PENDING):
        moved = move(
            Signature.id == signature.id,
            signature.initiative_id,
            from_state,
            SignatureState.WITHDRAWN,
            withdrawn_at=now,
        )
        if moved:
            break
    db.session.refresh(signature)
    if not moved:
        if signature.state == SignatureState.WITHDRAWN:
            return WithdrawOutcome.ALREADY_WITHDRAWN
        return WithdrawOutcome.NOT_WITHDRAWABLE
    email = crypto().decrypt(signature.email_enc)
    if email:
        _mail("withdrawn", signature, email, signature.initiative)
    db.session.flush()
    return WithdrawOutcome.WITHDRAWN


def expire_unconfirmed() -> int:
    """Mark pending signatures older than CONFIRM_DAYS as expired; returns how many."""
    cutoff = clock.utcnow() - timedelta(days=current_app.config["CONFIRM_DAYS"])
    result = db.session.execute(
        sa.update(Signature)
        .where(Signature.state == SignatureState.PENDING, Signature.created_at < cutoff)
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
