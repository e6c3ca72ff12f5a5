"""Statements of a signature's life on its hot paths, each built once and then reused.

A statement built once has its SQLAlchemy cache key found without being built anew on
every request.  The writes (a new signature, a state move, the counter row) are plain
Core on the tables, with no ORM bookkeeping; ``with_text`` is the one ORM query, what a
confirmation or withdrawal page loads.  ``signatures`` and ``signature_states`` run
them.
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import contains_eager

from .models import (
    DEFAULT_LOCALE,
    LIVE_SQL,
    Initiative,
    InitiativeState,
    InitiativeText,
    Signature,
    SignatureState,
)


def live_index_conflict() -> dict[str, object]:
    """The ``ON CONFLICT`` target: the partial unique index on live signatures."""
    return {
        "index_elements": [Signature.initiative_id, Signature.email_index],
        "index_where": sa.text(LIVE_SQL),
    }


@cache
def insert_signature(dialect: str, columns: tuple[str, ...]) -> sa.Insert:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` for these columns.

    A second live signature of one address conflicts with the partial unique index and
    is not written: no check before, no savepoint, and two simultaneous submissions
    still cannot both get in (PostgreSQL waits for the other transaction to end).
    Built once per set of columns; SQLite ≥ 3.35 and PostgreSQL both take it.
    """
    table = Signature.__table__
    params = {name: sa.bindparam(name, type_=table.c[name].type) for name in columns}
    if dialect == "postgresql":
        stmt = pg_insert(table).values(params).on_conflict_do_nothing(**live_index_conflict())
    else:
        stmt = sqlite_insert(table).values(params).on_conflict_do_nothing(**live_index_conflict())
    return stmt.returning(table.c.id)


# Once the list is handed in its count is a record: nothing may move it any more.
HANDED_IN = (InitiativeState.SUBMITTED.value, InitiativeState.ANSWERED.value)


@cache
def adjust_count() -> sa.Update:
    table = Initiative.__table__
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("initiative_id"), table.c.state.not_in(HANDED_IN))
        .values(confirmed_count=table.c.confirmed_count + sa.bindparam("delta", type_=sa.Integer))
    )


@cache
def hold_initiative() -> sa.Select[tuple[str, object]]:
    """The initiative's state and end, its row held: ``signatures.hold_open``.

    ``FOR KEY SHARE`` on PostgreSQL: it waits for ``FOR UPDATE`` (``lifecycle.lock``)
    and only that, not for other signers nor for ``adjust_count``."""
    table = Initiative.__table__
    return (
        sa.select(table.c.state, table.c.closes_at)
        .where(table.c.id == sa.bindparam("initiative_id"))
        .with_for_update(read=True, key_share=True)
    )


@cache
def move_one(
    from_state: SignatureState, to_state: SignatureState, columns: tuple[str, ...]
) -> sa.Update:
    # On the table, not the mapped class: a plain Core UPDATE, with no ORM bookkeeping.
    table = Signature.__table__
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("signature_id"), table.c.state == from_state.value)
        .values(
            state=to_state.value, **{c: sa.bindparam(c, type_=table.c[c].type) for c in columns}
        )
    )


@cache
def confirm_one() -> sa.Update:
    """A pending signature moved to confirmed, only while its details are still those
    of the version the confirming request read (and checked the link against): a
    correction committed in between gets a new link, and the old one must not confirm
    it.  On PostgreSQL the WHERE is evaluated again on the row as the correction left it."""
    table = Signature.__table__
    return (
        sa.update(table)
        .where(
            table.c.id == sa.bindparam("signature_id"),
            table.c.state == SignatureState.PENDING.value,
            table.c.details_version == sa.bindparam("read_version", type_=sa.Integer),
        )
        .values(
            state=SignatureState.CONFIRMED.value,
            confirmed_at=sa.bindparam("confirmed_at", type_=table.c.confirmed_at.type),
        )
    )


@cache
def with_text() -> sa.Select[tuple[Signature, InitiativeText]]:
    # Built once: the statement's cache key is then found without building it anew.
    return (
        sa.select(Signature, InitiativeText)
        .join(Signature.initiative)
        .outerjoin(
            InitiativeText,
            sa.and_(
                InitiativeText.initiative_id == Initiative.id,
                InitiativeText.locale.in_([sa.bindparam("locale"), DEFAULT_LOCALE]),
            ),
        )
        .where(Signature.public_id == sa.bindparam("public_id"))
        .options(contains_eager(Signature.initiative).lazyload(Initiative.texts))
    )
