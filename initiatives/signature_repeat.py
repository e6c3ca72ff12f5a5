"""Signing again with an address that has a live signature: a fresh link, a correction
of a pending signature's name or postcode, or "you have already signed".

``signatures.sign`` comes here when the address it was given has signed already.  What
a sign attempt makes us mail is capped per address and day (``under_mail_cap``): an
organiser's resend of a link (``moderation``) counts under the same cap.  Functions
flush, never commit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from . import audit, clock, mailcaps
from .crypto import crypto
from .extensions import db
from .models import LIVE_STATES, Channel, Initiative, Signature, SignatureState
from .signature_states import queue_mail

if TYPE_CHECKING:
    from .signatures import SignResult


# Only the mails a sign attempt triggers count: thank-you and withdrawal receipts do not.
SIGN_ATTEMPT_KINDS = ("confirm", "already_signed")


def under_mail_cap(initiative: Initiative, indexes: list[str]) -> bool:
    """Whether one more link (or "already signed") may go to this address about this
    initiative today: under MAILS_PER_ADDRESS_PER_DAY for it, and under the cap for all
    initiatives.  Counted under the address's lock, so that a signer's new try and an
    organiser's resend at the same moment count one after the other."""
    mailcaps.lock_address(indexes)
    return _room_under_mail_cap(initiative, indexes)


def _room_under_mail_cap(initiative: Initiative, indexes: list[str]) -> bool:
    """``under_mail_cap`` for a caller that holds the address's lock already."""
    return _has_room(mailcaps.sent_today(indexes, initiative.id, SIGN_ATTEMPT_KINDS))


def _has_room(sent: mailcaps.SentToday) -> bool:
    config = current_app.config
    return (
        sent.here < config["MAILS_PER_ADDRESS_PER_DAY"]
        and sent.total < config["MAILS_PER_ADDRESS_PER_DAY_TOTAL"]
    )


class Details(NamedTuple):
    """What a signer typed that a repeat while pending may correct: the name and
    postcode as the forms read them (``names.clean``, ``signatures.normalise_postcode``),
    and the language she now reads; and where it was typed, for the audit log."""

    name: str
    postcode: str | None
    locale: str
    channel: Channel
    actor: str


def sign_again(
    initiative: Initiative,
    existing: Signature,
    email: str,
    indexes: list[str],
    details: Details,
    *,
    held: bool = False,
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

    Decided under the initiative's hold (``signatures.hold_open``, taken after the
    signature's row, as an organiser takes the two; ``held``: the caller holds it
    already): a close committed meanwhile is refused as for a new signature, and a
    correction is dated after a paper row an organiser keeps meanwhile, and compared
    with it at the next rescan (``paper_matching.find_matches``).

    None if ``existing`` is no longer live once locked (purge deleted or expired it
    since it was read): the caller signs afresh.
    """
    # Imported here, not at the top: ``signatures`` imports this module (``sign`` comes
    # here), and either may be the first one imported.
    from .signatures import InitiativeClosedError, SignOutcome, SignResult, hold_open

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
    # A close committed since the caller looked: refused as a new signature would be, so
    # that the answer does not tell whether the address had signed.
    if not held and not hold_open(initiative):
        raise InitiativeClosedError(initiative.state)
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
        queue_mail("confirm", existing, email, initiative)
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
        queue_mail("confirm", existing, email, initiative)
        outcome = SignOutcome.RESENT
    else:
        queue_mail("already_signed", existing, email, initiative)
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
