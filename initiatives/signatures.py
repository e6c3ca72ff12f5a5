"""Signing: a signature recorded, pending until its signer confirms it by email.

``sign`` inserts a new signature and queues its confirmation link; an address that has
a live signature already takes the repeat path (``signature_repeat``: a fresh link, a
correction, or "you have already signed").  What happens to a signature after
(confirming, withdrawing, expiring, the count) is in ``signature_states``.  These
functions flush, never commit: the caller commits once.  The statements of the hot
paths, built once, are in ``signature_sql``.
"""

from __future__ import annotations

import enum
import re

import sqlalchemy as sa
from flask import current_app

from . import clock, keycheck, mailcaps, names, signature_sql
from .crypto import crypto
from .extensions import db
from .i18n import ascii_digits
from .models import LIVE_STATES, Channel, Initiative, Signature, SignatureState, new_public_id
from .signature_repeat import Details, sign_again
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
    the caller holds the initiative (``hold_open``) and has checked that it may be
    signed: open, or signed while it was though it arrives after (a stand tablet's
    queue: ``kiosk_signatures.signed_in_time``).
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
        **extra,
    }
    db.session.flush()  # anything the caller added comes first (a kiosk's receipt)
    # Three tries: the live signature that made ours a repeat may go (purge deleting it,
    # or expiring it) before the repeat path locks it, and another identical submission
    # may then win the insert again.
    held = in_time
    for _attempt in range(3):
        # The unique index on the current key's blind index decides; only while a key
        # rotation is under way may a live signature carry an older key's index.
        existing = _live_signature(initiative.id, indexes[1:]) if len(indexes) > 1 else None
        if existing is None:
            if not held and not hold_open(initiative):
                raise InitiativeClosedError(initiative.state)
            held = True
            # After the hold: a paper row kept, or the collection closed, before this
            # signature is seen must be older than it (``paper_review.rescan`` compares a kept
            # row with the signatures made after it).
            values["created_at"] = clock.utcnow()
            signature_id = db.session.execute(
                signature_sql.insert_signature(db.engine.dialect.name, tuple(values)), values
            ).scalar()
            if signature_id is not None:
                return _signed(initiative, signature_id, public_id, name, email, locale, indexes)
            # Somebody else's identical submission won: treat ours as a repeat.
            existing = _live_signature(initiative.id, indexes)
        if existing is not None:
            details = Details(name, postcode, locale, Channel(channel), actor)
            again = sign_again(initiative, existing, email, indexes, details, held=held)
            if again is not None:
                return again
    raise RuntimeError("unique index conflict without a live signature")  # pragma: no cover


def hold_open(initiative: Initiative) -> bool:
    """Hold the initiative's row until this transaction ends, and whether it takes
    signatures as of now.

    A close, a hand-in, a withdrawal and an organiser's decision on a paper row hold it
    too (``lifecycle.lock``): one under way is waited for and its state seen here, and
    one that starts later waits for this signature to commit and then sees it.  Without
    it a signature could be written just after the collection closed, or after a paper
    row was kept yet be dated before, and never be compared with it.  A key-share lock
    on PostgreSQL (SQLite lets one writer in at a time already): signers do not wait
    for each other, nor for a confirmation moving the count.

    Taken before the insert.  An address that turns out to have signed then takes the
    repeat path, which locks that signature's row after this hold: the reverse of an
    organiser's order (the row, then the initiative).  Should an organiser invalidate
    or keep that very signature in the same instant, PostgreSQL breaks the deadlock by
    refusing one of the two; that request answers 503, nothing stored, and is sent again.
    """
    if db.engine.dialect.name != "postgresql":
        # The request's first query began a write transaction (BEGIN IMMEDIATE): what it
        # read of the initiative is as of now, and nobody else writes until we commit.
        return initiative.accepts_signatures()
    state, closes_at = db.session.execute(
        signature_sql.hold_initiative(), {"initiative_id": initiative.id}
    ).one()
    if (state, closes_at) != (initiative.state, initiative.closes_at):
        db.session.refresh(initiative)  # changed since the request read it: rare
    return initiative.accepts_signatures()


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
