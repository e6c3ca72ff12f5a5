"""Subject access ("what do you store about me?"): everything held for an address.

The report goes only to the address itself, through the outbox, so the page that asks
for it is the same whether or not we hold anything (nobody learns whether an address
signed).  An address we know nothing about gets a short mail saying so: that is the
honest answer to an access request (GDPR Art. 15).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from babel import Locale
from flask import current_app
from flask_babel import force_locale, format_date, format_datetime, format_time

from . import audit, clock, mailcaps, outbox, retention
from .crypto import crypto
from .extensions import db
from .models import OutboxMessage, Signature, SignatureState
from .tokens import Purpose, make_token

ACTION = "privacy.data_request"


class RequestOutcome(enum.StrEnum):
    SENT = "sent"  # a report is queued
    CAPPED = "capped"  # enough reports (or mails) went to this address today


def _when(value: datetime | None) -> str:
    # Flask-Babel shows times in Malmö time (default_timezone in i18n.py), not UTC.
    return format_datetime(value, "medium") if value is not None else ""


def _language_name(code: str, in_locale: str) -> str:
    """``sv`` as the reader says it: "svenska" in Swedish, "Swedish" in English."""
    try:
        return Locale.parse(code).get_display_name(in_locale) or code
    except (ValueError, TypeError):
        return code


def _entry(signature: Signature, locale: str) -> dict[str, Any]:
    box = crypto()
    initiative = signature.initiative
    text = initiative.text(locale)
    withdrawable = (
        signature.state != SignatureState.WITHDRAWN
        # Withdrawn while held for review: it stays invalidated, already withdrawn.
        and signature.withdrawn_at is None
        and signature.anonymised_at is None
        and initiative.accepts_withdrawals()
    )
    anonymise_on = retention.anonymise_date(initiative)
    # When name, email and postcode go: already gone, at the next nightly run (withdrawn),
    # or with the initiative's signers (the date, or the rule when there is none yet).
    if signature.anonymised_at is not None:
        removal = "done"
    elif signature.state == SignatureState.WITHDRAWN or signature.withdrawn_at is not None:
        removal = "withdrawn"
    else:
        removal = ""
    return {
        "title": text.title if text is not None else initiative.slug,
        "slug": initiative.slug,
        "initiative_state": initiative.state,
        "state": signature.state,
        "channel": signature.channel,
        "source_tag": signature.source_tag or "",
        "language": _language_name(signature.locale, locale),
        "name": box.decrypt(signature.name_enc) or "",
        "email": box.decrypt(signature.email_enc) or "",
        "postcode": box.decrypt(signature.postcode_enc) or "",
        "signed": _when(signature.created_at),
        "confirmed": _when(signature.confirmed_at),
        "withdrawn": _when(signature.withdrawn_at),
        "invalidated": _when(signature.invalidated_at),
        "client_hash": signature.client_hash is not None,
        "withdraw_token": make_token(Purpose.WITHDRAW, signature.public_id) if withdrawable else "",
        "anonymise_on": format_date(anonymise_on, "long") if anonymise_on is not None else "",
        "removal": removal,
    }


def report_for(email: str, locale: str) -> dict[str, Any]:
    """The mail's context: every signature held under this address, and the rest."""
    indexes = crypto().email_indexes(email)
    signatures = db.session.scalars(
        sa.select(Signature)
        .where(Signature.email_index.in_(indexes))
        .order_by(Signature.created_at, Signature.id)
    ).all()
    mails = (
        db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(
                OutboxMessage.email_index.in_(indexes), OutboxMessage.payload_enc.is_not(None)
            )
        )
        or 0
    )
    config = current_app.config
    now = clock.utcnow()
    # Dates and times in the report's language, in Malmö time.
    with force_locale(locale):
        return {
            "address": email.strip(),
            # Apart, so that a sentence can say "on <date> at <time>" in every language.
            "requested_date": format_date(now, "long"),
            "requested_time": format_time(now, "short"),
            "entries": [_entry(s, locale) for s in signatures],
            "mails": mails,
            "retention": {
                "unconfirmed": int(config["UNCONFIRMED_RETENTION_DAYS"]),
                "anonymise": int(config["ANONYMISE_AFTER_DAYS"]),
                "outbox": int(config["OUTBOX_RETENTION_DAYS"]),
                "client_hash": int(config["CLIENT_HASH_RETENTION_DAYS"]),
            },
        }


def request_report(email: str, locale: str) -> RequestOutcome:
    """Queue the report for ``email`` in ``locale``, unless capped (flushes only).

    The caller shows the same page whatever this returns.
    """
    indexes = crypto().email_indexes(email)
    if not mailcaps.under_data_request_cap(indexes):
        return RequestOutcome.CAPPED
    context = report_for(email, locale)
    outbox.enqueue(
        "data_report",
        to=email.strip(),
        locale=locale,
        context=context,
        email_index=indexes[0],
    )
    # Accountability without personal data: that a report went out, not to whom.
    audit.record(ACTION, actor="public", signatures=len(context["entries"]))
    db.session.flush()
    return RequestOutcome.SENT
