"""Confirming, withdrawing and expiring: a signature's changes of state, and its count.

Every change of a signature's state updates the row only if it is still in the
expected state (``move``, or ``confirm``'s own statement), so concurrent repeats act
once, and adjusts the initiative's ``confirmed_count`` in the same transaction.  These
functions flush, never commit: the caller commits once.  The mails of a signature's
life are queued here too (``queue_mail``): signing again and an organiser's resend
send its link the same way.  Signing is in ``signatures``; the statements of the hot
paths, built once, are in ``signature_sql``.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from . import clock, outbox, signature_sql
from .crypto import crypto
from .extensions import db
from .models import DEFAULT_LOCALE, Initiative, InitiativeText, Signature, SignatureState
from .tokens import Purpose, make_token


def queue_mail(kind: str, signature: Signature, email: str, initiative: Initiative) -> None:
    """Queue a mail of ``kind`` about ``signature`` to ``email``; a confirmation link
    restarts the CONFIRM_DAYS it waits to be confirmed."""
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
        queue_mail("confirmed", signature, email, signature.initiative)
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
        queue_mail("withdrawn", signature, email, signature.initiative)
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
