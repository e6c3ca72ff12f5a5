"""What organisers do to single signatures: find, invalidate, restore, resend, withdraw.

Every change goes through ``signature_states.move`` (the count stays exact) and is
written to the audit log with who, when and why; the audit log never holds the signer's
name or address, only the signature's id.  Nothing changes once the list is handed in:
the pack the clerk received and the counts here must keep agreeing.  Functions flush,
never commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from . import abuse, audit, clock, names, paper_review, signature_repeat, signature_states
from .crypto import crypto
from .extensions import db
from .i18n import ascii_digits
from .lifecycle import TransitionError, local_date, lock
from .models import Initiative, InitiativeState, Signature, SignatureState

REASONS = {
    "duplicate": _l("Dubblett: personen har redan skrivit under"),
    "not_resident": _l("Inte folkbokförd i Malmö"),
    "false_identity": _l("Falskt namn eller någon annans namn"),
    "entry_error": _l("Felinmatad rad från papperslista"),
    "abuse": _l("Missbruk, till exempel massregistrering"),
    "other": _l("Annat (förklara i anteckningen)"),
}
REQUEST_CHANNELS = {
    "letter": _l("Brev"),
    "email": _l("E-post till organisatörerna"),
    "in_person": _l("Skriftligt, lämnat personligen"),
}
MAX_RESULTS = 100
POSTCODE_QUERY = re.compile(r"^[0-9]{3}\s?[0-9]{0,2}$")


@dataclass
class Found:
    """A signature with its personal data decrypted, for the organiser's screen only."""

    signature: Signature
    name: str
    email: str | None
    postcode: str | None

    @property
    def anonymised(self) -> bool:
        """Retention has removed the personal data; only counts and aggregates remain."""
        return self.signature.anonymised_at is not None


def _decrypted(signature: Signature) -> Found:
    box = crypto()
    return Found(
        signature,
        # Shown without direction controls, also in a name stored before the forms
        # removed them (see names.INVISIBLE).
        names.without_invisible(box.decrypt(signature.name_enc) or ""),
        box.decrypt(signature.email_enc),
        box.decrypt(signature.postcode_enc),
    )


def search(
    initiative: Initiative,
    query: str,
    *,
    state: str | None = None,
    channel: str | None = None,
    limit: int = MAX_RESULTS,
) -> tuple[list[Found], bool]:
    """Signatures whose name, email or postcode match ``query``, newest first; and whether
    cut at ``limit``.

    An address is found by its blind index (exact, case-insensitive).  Names and postcodes
    are encrypted, so they are compared decrypted in the application: only the one field
    compared is read and decrypted for each signature, the rest only for those that match
    (``python -m bench.admin_reads`` times a search that finds nothing among 100,000).
    """
    query = " ".join(query.split())
    box = crypto()
    where = [Signature.initiative_id == initiative.id]
    if state:
        where.append(Signature.state == state)
    if channel:
        where.append(Signature.channel == channel)
    needle = query.casefold()
    as_postcode = ascii_digits(query)  # ٢١٢ ١٤, pasted from a resident's message, too
    field: sa.ColumnElement[bytes | None] | None = None
    if "@" in query:
        where.append(Signature.email_index.in_(box.email_indexes(query)))
    elif POSTCODE_QUERY.match(as_postcode):
        digits = as_postcode.replace(" ", "")
        where.append(Signature.postcode_area == digits[:3])
        field = Signature.postcode_enc

        def matches(value: str) -> bool:
            return value.replace(" ", "").startswith(digits)
    else:
        field = Signature.name_enc

        def matches(value: str) -> bool:
            return needle in value.casefold()

    newest_first = (Signature.created_at.desc(), Signature.id.desc())
    ids: list[int] = []
    if field is None:  # the index already matched
        select = sa.select(Signature.id).where(*where).order_by(*newest_first)
        ids = list(db.session.scalars(select.limit(limit + 1)))
    else:
        select = sa.select(Signature.id, field).where(*where).order_by(*newest_first)
        rows = db.session.execute(select.execution_options(yield_per=1000))
        try:
            for signature_id, sealed in rows:
                if matches(box.decrypt(sealed) or ""):
                    ids.append(signature_id)
                    if len(ids) > limit:
                        break
        finally:
            rows.close()  # a server-side cursor on PostgreSQL, left early
    wanted = ids[:limit]
    if not wanted:
        return [], len(ids) > limit
    loaded = db.session.scalars(sa.select(Signature).where(Signature.id.in_(wanted)))
    by_id = {signature.id: signature for signature in loaded}
    return [_decrypted(by_id[i]) for i in wanted], len(ids) > limit


def get(initiative: Initiative, public_id: str) -> Found | None:
    signature = db.session.scalars(
        sa.select(Signature).where(
            Signature.initiative_id == initiative.id, Signature.public_id == public_id
        )
    ).one_or_none()
    return _decrypted(signature) if signature is not None else None


def _open_for_changes(initiative: Initiative) -> None:
    if initiative.state not in (InitiativeState.COLLECTING, InitiativeState.CLOSED):
        raise TransitionError(
            str(_l("Listan är inlämnad; underskrifterna kan inte längre ändras."))
        )


def _hold(signature: Signature) -> None:
    """Lock the signature's row, then the initiative's (the order a confirmation takes
    them, so neither waits for the other), and check the list is open as of now: a
    hand-in committed since the organiser's request read the initiative stops the change."""
    db.session.execute(
        sa.select(Signature.id).where(Signature.id == signature.id).with_for_update()
    )
    lock(signature.initiative)
    _open_for_changes(signature.initiative)


def _record(signature: Signature, actor: str, action: str, **details: Any) -> None:
    """Put a change to one signature on the audit record: its id, never its personal data."""
    audit.record(
        action, actor=actor, initiative=signature.initiative, signature=signature, **details
    )


def invalidate(signature: Signature, actor: str, *, reason: str, note: str) -> None:
    """Stop a pending or confirmed signature from counting, with a reason code and note."""
    _open_for_changes(signature.initiative)
    if reason not in REASONS:
        raise TransitionError(str(_l("Välj en anledning.")))
    _hold(signature)
    moved = 0
    # The state it moved from, not the one read earlier: a confirmation may have come
    # in between, and the log must say whether what was held out had counted.
    for previous in (SignatureState.CONFIRMED, SignatureState.PENDING):
        moved = signature_states.move(
            Signature.id == signature.id,
            signature.initiative_id,
            previous,
            SignatureState.INVALIDATED,
            invalidated_at=clock.utcnow(),
            invalidation_reason=reason,
            invalidation_note=note.strip() or None,
        )
        if moved:
            break
    if not moved:
        raise TransitionError(
            str(_l("Bara väntande och bekräftade underskrifter kan ogiltigförklaras."))
        )
    db.session.refresh(signature)
    _record(
        signature,
        actor,
        abuse.SINGLE_INVALIDATE_ACTION,
        reason=reason,
        previous_state=previous,
    )


def restore(signature: Signature, actor: str) -> None:
    """Undo an invalidation: back to confirmed if it had been confirmed, else pending,
    or expired if its link ran out while it was held (as purge would have made it);
    withdrawn if its signer withdrew it meanwhile."""
    _open_for_changes(signature.initiative)
    # Where it goes back to is read under the row's lock: a withdrawal committed since
    # the organiser's page loaded it must make it withdrawn, not counted again.
    _hold(signature)
    db.session.refresh(signature)
    expired: dict[str, datetime] = {}
    if signature.withdrawn_at is not None:
        target = SignatureState.WITHDRAWN
    elif signature.confirmed_at:
        target = SignatureState.CONFIRMED
    elif db.session.scalar(
        sa.select(signature_states.link_ran_out()).where(Signature.id == signature.id)
    ):
        target, expired = SignatureState.EXPIRED, {"expired_at": clock.utcnow()}
    else:
        target = SignatureState.PENDING
    paper_review.before_restore(Signature.id == signature.id)
    moved = signature_states.move(
        Signature.id == signature.id,
        signature.initiative_id,
        SignatureState.INVALIDATED,
        target,
        invalidated_at=None,
        invalidation_reason=None,
        invalidation_note=None,
        **expired,
    )
    if not moved:
        raise TransitionError(str(_l("Bara ogiltigförklarade underskrifter kan återställas.")))
    db.session.refresh(signature)
    _record(signature, actor, "signature.restored", state=target)


def resend_confirmation(signature: Signature, actor: str) -> bool:
    """A fresh confirmation link to a pending signer; False if today's mail cap is reached."""
    initiative = signature.initiative
    if signature.state != SignatureState.PENDING or signature.email_enc is None:
        raise TransitionError(str(_l("Bara väntande underskrifter med e-post kan få en ny länk.")))
    if not initiative.accepts_confirmations():
        raise TransitionError(str(_l("Initiativet tar inte emot bekräftelser nu.")))
    email = crypto().decrypt(signature.email_enc) or ""
    # The same cap as a signer re-submitting the form: an organiser cannot flood anyone.
    if not signature_repeat.under_mail_cap(initiative, crypto().email_indexes(email)):
        return False
    signature_states.queue_mail("confirm", signature, email, initiative)
    db.session.flush()
    _record(signature, actor, "signature.confirmation_resent")
    return True


def _request(received_via: str, received_on: date) -> dict[str, str]:
    """A signer's written request: how it came (a code) and when (not in the future), as
    the audit record holds it."""
    if received_via not in REQUEST_CHANNELS:
        raise TransitionError(str(_l("Välj hur begäran kom in.")))
    if received_on > local_date(clock.utcnow()):
        raise TransitionError(str(_l("Datumet kan inte vara i framtiden.")))
    return {"received_via": received_via, "received_on": received_on.isoformat()}


def withdraw_on_request(
    signature: Signature, actor: str, *, received_via: str, received_on: date
) -> None:
    """Withdraw for a signer who asked in writing (a letter, an email to the organisers).

    How and when the request came is recorded as a code and a date, never as free text,
    so the audit log cannot end up holding the signer's name or address.
    """
    request = _request(received_via, received_on)
    outcome = signature_states.withdraw(signature)
    if outcome != signature_states.WithdrawOutcome.WITHDRAWN:
        messages = {
            signature_states.WithdrawOutcome.ALREADY_WITHDRAWN: _l(
                "Underskriften är redan återkallad."
            ),
            signature_states.WithdrawOutcome.CLOSED: _l(
                "Listan är inlämnad; underskriften kan inte längre återkallas."
            ),
        }
        raise TransitionError(
            str(messages.get(outcome, _l("Den här underskriften kan inte återkallas.")))
        )
    _record(signature, actor, "signature.withdrawn_on_request", **request)


def erase_on_request(
    signature: Signature, actor: str, *, received_via: str, received_on: date
) -> None:
    """Erase a signer's personal data on their written request (GDPR Art. 17, and consent
    withdrawn after the list was handed in).

    Name, email, postcode and the client hash go; the row keeps its state, channel and
    dates, so counts and the per-day statistics stay true.  It works in every state,
    also after submission: the list the city already holds cannot change, but we stop
    holding the data.  Queued mail to the address is cleared too.  A signature not yet
    confirmed is withdrawn as well: a link already in the signer's mail must not make it
    count later, with nobody behind it.
    """
    from .models import OutboxMessage
    from .retention import ANONYMISED_VALUES, CLEARED_OUTBOX_VALUES

    request = _request(received_via, received_on)
    if signature.anonymised_at is not None:
        raise TransitionError(str(_l("Uppgifterna är redan raderade.")))
    now = clock.utcnow()
    # Mail about this signature, and mail about the address as a whole (a data report,
    # which lists this signature's name and postcode): read before the index goes.
    ours = sa.or_(
        OutboxMessage.signature_id == signature.id,
        sa.and_(
            OutboxMessage.signature_id.is_(None),
            OutboxMessage.email_index.is_not(None),
            OutboxMessage.email_index == signature.email_index,
        ),
    )
    # Held for review and never confirmed: marked withdrawn, so a restore cannot make
    # it pending (and confirmable) again.  A held confirmed one is not: erasure is not
    # a withdrawal, and a restore makes it count like any erased confirmed signature.
    withdrawn = signature_states.move(
        signature.id,
        signature.initiative_id,
        SignatureState.PENDING,
        SignatureState.WITHDRAWN,
        withdrawn_at=now,
    ) or signature_states.mark_withdrawn_while_held(
        sa.and_(Signature.id == signature.id, Signature.confirmed_at.is_(None)), now
    )
    db.session.execute(
        sa.update(Signature)
        .where(Signature.id == signature.id)
        .values(anonymised_at=now, **ANONYMISED_VALUES)
        .execution_options(synchronize_session=False)
    )
    # Not yet sent: it never will be, so it goes (as "failed" it would raise the outbox
    # alarm for a day, and `outbox retry` could not send it anyway).
    db.session.execute(
        sa.delete(OutboxMessage)
        .where(ours, OutboxMessage.status == "pending")
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(OutboxMessage)
        .where(ours)
        .values(**CLEARED_OUTBOX_VALUES)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(signature)
    _record(signature, actor, "signature.erased_on_request", **request, withdrawn=bool(withdrawn))


def history(signature: Signature) -> list[tuple[datetime, str, str]]:
    """The audit events about one signature: when, what, who."""
    from .models import AuditEvent

    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.signature_id == signature.id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [(e.at, e.action, e.actor) for e in events]
