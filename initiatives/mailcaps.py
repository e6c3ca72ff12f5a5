"""Caps on mail that strangers can make us send to an address.

Anyone can type any address into the sign form or the data-request form, so without a
cap the service could be used to flood somebody's inbox.  The outbox keeps a blind
index of each recipient, so the caps are counted without knowing the address, and they
hold across app instances (the count is in the database).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app

from . import clock, outbox
from .extensions import db
from .models import OutboxMessage, OutboxStatus

# Mails that a visitor's form triggers.  Thank-you and withdrawal receipts follow from a
# link in the recipient's own mailbox and are never capped.
UNSOLICITED_KINDS = ("confirm", "already_signed", "data_report")
DAY = timedelta(days=1)


def lock_address(email_indexes: list[str]) -> None:
    """Make other requests that count this address's mail wait until ours commits.

    Under PostgreSQL's READ COMMITTED a count does not see the mail that another request
    has queued and not yet committed, so requests for one address sent at the same
    moment (a script on many machines) each found room under the cap.  A transaction
    lock on the address's blind index makes them count one after the other.  SQLite
    lets one writer in at a time already.  Taken before any row lock that another holder
    of this lock may want (the signature's, see ``signature_repeat.sign_again``).
    """
    if db.engine.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"mailcaps:{email_indexes[0]}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def under_global_cap(email_indexes: list[str]) -> bool:
    """Whether one more unsolicited mail may go to this address today (any initiative)."""
    lock_address(email_indexes)
    sent = outbox.mails_since(email_indexes, None, clock.utcnow() - DAY, UNSOLICITED_KINDS)
    return sent < current_app.config["MAILS_PER_ADDRESS_PER_DAY_TOTAL"]


class SentToday(NamedTuple):
    here: int  # of the kinds asked for, about this initiative
    total: int  # of any unsolicited kind, about any initiative
    newest: datetime | None  # when the newest mail of ``newest_of`` about it was queued


def sent_today(
    email_indexes: list[str],
    initiative_id: int,
    kinds: tuple[str, ...],
    newest_of: str | None = None,
) -> SentToday:
    """Unsolicited mails queued for this address in the last day: those of ``kinds``
    (some of UNSOLICITED_KINDS) about this initiative, and all of them (any initiative),
    and when the newest of kind ``newest_of`` about it was queued, in one query.  The
    caller holds the address's lock (``lock_address``), so mail that another request
    queued and has not committed yet is not missed."""
    about = OutboxMessage.initiative_id == initiative_id
    row = db.session.execute(
        sa.select(
            sa.func.count(OutboxMessage.id).filter(about, OutboxMessage.kind.in_(kinds)),
            sa.func.count(OutboxMessage.id),
            sa.func.max(OutboxMessage.created_at).filter(about, OutboxMessage.kind == newest_of),
        ).where(
            OutboxMessage.email_index.in_(email_indexes),
            OutboxMessage.created_at >= clock.utcnow() - DAY,
            OutboxMessage.kind.in_(UNSOLICITED_KINDS),
        )
    ).one()
    return SentToday(row[0] or 0, row[1] or 0, row[2])


def enqueue_under_cap(
    kind: str,
    *,
    to: str,
    locale: str,
    context: dict[str, Any],
    initiative_id: int | None,
    signature_id: int | None,
    email_indexes: list[str],
) -> bool:
    """Queue an unsolicited mail only if the address is under the daily cap (any
    initiative), as ``under_global_cap`` counts it; False if it was not queued.

    One ``INSERT … SELECT … WHERE (count) < cap``: the check and the write are a single
    statement in the caller's transaction instead of a query and an insert.
    """
    lock_address(email_indexes)
    now = clock.utcnow()
    params: dict[str, Any] = {
        "kind": kind,
        "locale": locale,
        "initiative_id": initiative_id,
        "signature_id": signature_id,
        "email_index": email_indexes[0],
        "payload_enc": outbox.encrypt_payload(to, context),
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "due_at": now,
        "cap_indexes": email_indexes,
        "cap_since": now - DAY,
        "cap": current_app.config["MAILS_PER_ADDRESS_PER_DAY_TOTAL"],
    }
    result = db.session.execute(_insert_under_cap(db.engine.dialect.name), params)
    return result.rowcount == 1


@cache
def _insert_under_cap(dialect: str) -> sa.Insert:
    table = OutboxMessage.__table__
    values: list[sa.ColumnElement[Any]] = []
    for name in outbox.QUEUED:
        param = sa.bindparam(name, type_=table.c[name].type)
        # PostgreSQL types a bare parameter in a SELECT list as text; SQLite must not
        # cast (CAST to DATETIME there means NUMERIC and would mangle the timestamp).
        values.append(sa.cast(param, table.c[name].type) if dialect == "postgresql" else param)
    sent = (
        sa.select(sa.func.count(table.c.id))
        .where(
            table.c.email_index.in_(sa.bindparam("cap_indexes", expanding=True)),
            table.c.created_at >= sa.bindparam("cap_since", type_=table.c.created_at.type),
            table.c.kind.in_(UNSOLICITED_KINDS),
        )
        .scalar_subquery()
    )
    under_cap = sent < sa.bindparam("cap", type_=sa.Integer)
    return sa.insert(table).from_select(outbox.QUEUED, sa.select(*values).where(under_cap))


def under_data_request_cap(email_indexes: list[str]) -> bool:
    """Whether another "what do you store about me?" report may go to this address today."""
    lock_address(email_indexes)
    sent = outbox.mails_since(email_indexes, None, clock.utcnow() - DAY, ("data_report",))
    return sent < current_app.config["DATA_REQUESTS_PER_ADDRESS_PER_DAY"] and under_global_cap(
        email_indexes
    )
