"""Does ``DATA_KEY`` read what is stored?  Checked before anything depends on it.

A database restored next to the wrong key, or a key removed from ``DATA_KEY`` before
``rotate-data-key`` finished, looks healthy: pages load and new signatures are stored.
But nothing stored before can be read, and worse, the blind index of an address is
computed under the wrong key, so the duplicate check no longer finds the address's
earlier signature and one person can sign twice; the outbox worker, unable to compose,
would give up every queued confirmation link.  So the worker checks at start and when
a mail cannot be decrypted, ``/healthz`` says so (a load balancer takes the instance
out), and ``flask --app initiatives check-keys`` tells an operator after a restore.

What is checked: for every encrypted column (``keyrotation.encrypted_columns``), the
oldest and the newest stored value: a rotation under way leaves old rows under the old
key, new ones under the new.  A few indexed reads, never a scan of the data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask

from .crypto import InvalidToken, crypto
from .extensions import db
from .keyrotation import encrypted_columns

# How long /healthz may answer from the last check (each worker process its own).
HEALTH_CHECK_SECONDS = 60.0

ADVICE = (
    "DATA_KEY cannot decrypt data stored in this database. Set DATA_KEY to the key(s) "
    "the data was written with (during a rotation: DATA_KEY=<new>,<old> until "
    "`flask --app initiatives rotate-data-key` reports success)."
)


class DataKeyError(RuntimeError):
    """``DATA_KEY`` does not read the stored data (see ``ADVICE``)."""

    def __init__(self, result: KeyCheck):
        super().__init__(f"{ADVICE} Unreadable: {', '.join(result.unreadable)}")
        self.result = result


@dataclass(frozen=True)
class KeyCheck:
    checked: int  # values decrypted, or tried
    unreadable: tuple[str, ...]  # "table.column #id"

    @property
    def ok(self) -> bool:
        return not self.unreadable


def _samples(table: sa.Table, column: sa.Column) -> list[tuple[int, bytes]]:
    rows: list[tuple[int, bytes]] = []
    for order in (table.c.id.asc(), table.c.id.desc()):
        row = db.session.execute(
            sa.select(table.c.id, column).where(column.is_not(None)).order_by(order).limit(1)
        ).first()
        if row is not None and all(row.id != seen for seen, _ in rows):
            rows.append((row.id, bytes(row[1])))
    return rows


def check() -> KeyCheck:
    """Decrypt the oldest and newest value of every encrypted column."""
    box = crypto()
    checked = 0
    unreadable: list[str] = []
    for table_name, columns in encrypted_columns().items():
        table = db.metadata.tables[table_name]
        for name in columns:
            for row_id, token in _samples(table, table.c[name]):
                checked += 1
                try:
                    box.decrypt(token)
                except InvalidToken:
                    unreadable.append(f"{table_name}.{name} #{row_id}")
    return KeyCheck(checked, tuple(unreadable))


def require() -> KeyCheck:
    """``check()``, raising ``DataKeyError`` when the key does not read the data."""
    result = check()
    if not result.ok:
        raise DataKeyError(result)
    return result


def cached(app: Flask) -> KeyCheck:
    """``check()``, at most once a minute per process (``/healthz``, each signature)."""
    now = time.monotonic()
    last = app.extensions.get("keycheck")
    if last is not None and now - last[0] < HEALTH_CHECK_SECONDS:
        return last[1]
    result = check()
    app.extensions["keycheck"] = (now, result)
    return result


def guard(app: Flask) -> None:
    """Refuse (``DataKeyError``, a 503) to store a signature whose duplicate check
    would look under the wrong key."""
    result = cached(app)
    if not result.ok:
        raise DataKeyError(result)
