"""Re-encrypting personal data under the current DATA_KEY, without downtime.

The procedure (README, "Keys and rotation"):

1. Make a key (``flask --app initiatives generate-data-key``) and put it FIRST in
   ``DATA_KEY``, keeping the old one after it: ``DATA_KEY=new,old``.  Deploy every app
   instance and worker.  New rows are now encrypted under the new key; old rows still
   decrypt, and duplicates are found under either key's blind index.
2. Run ``flask --app initiatives rotate-data-key``.  It walks every encrypted column in
   batches, one short transaction each (rows locked only for their batch), re-encrypts
   what is not yet under the new key and recomputes blind indexes.  It can be stopped and
   run again; a second run changes nothing.  A blind index another live signature holds
   already (an instance still on the old key alone let one address sign twice) is left
   under the old key and reported; the rest goes on.
3. When it reports nothing left under old keys, remove the old key (``DATA_KEY=new``)
   and deploy again.

Encrypted columns are found by convention: every ``LargeBinary`` column whose name ends
in ``_enc``, on every model.  A blind index that must be recomputed is registered in
``BLIND_INDEXES`` with the encrypted column it is computed from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from .crypto import DataCrypto, crypto
from .extensions import db

BATCH_SIZE = 500


def _email_of_payload(payload: str) -> str | None:
    value = json.loads(payload).get("to")
    return value if isinstance(value, str) else None


# table -> (index column, encrypted source column, plaintext -> email or None)
BLIND_INDEXES: dict[str, tuple[str, str, Callable[[str], str | None]]] = {
    "signatures": ("email_index", "email_enc", lambda email: email),
    "outbox_messages": ("email_index", "payload_enc", _email_of_payload),
}


def encrypted_columns() -> dict[str, list[str]]:
    """Every encrypted column, by table: ``LargeBinary`` columns named ``*_enc``."""
    found: dict[str, list[str]] = {}
    for table in db.metadata.sorted_tables:
        names = [
            c.name
            for c in table.columns
            if c.name.endswith("_enc") and isinstance(c.type, sa.LargeBinary)
        ]
        if names:
            found[table.name] = names
    return found


@dataclass
class RotationReport:
    """What a rotation did, per ``table.column``."""

    reencrypted: dict[str, int] = field(default_factory=dict)
    already_current: int = 0
    indexes_updated: int = 0
    # "table.column #id" of values no configured key can decrypt (left untouched).
    undecryptable: list[str] = field(default_factory=list)
    # "table.index_column #id" of blind indexes another row holds already under the
    # current key (one address signed twice while the new key was being rolled out):
    # left under the old key, the rest of the row re-encrypted.
    index_conflicts: list[str] = field(default_factory=list)

    @property
    def total_reencrypted(self) -> int:
        return sum(self.reencrypted.values())


class _Rotator:
    def __init__(self, box: DataCrypto, report: RotationReport):
        self.box = box
        self.current = Fernet(box.keys[0])
        self.report = report

    def value(self, column: str, row_id: int, token: bytes) -> tuple[bytes | None, str | None]:
        """(new ciphertext, or None if already current; plaintext, or None if unreadable)."""
        try:
            plain = self.current.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            pass
        else:
            self.report.already_current += 1
            return None, plain
        try:
            plain = self.box.decrypt(token) or ""
        except InvalidToken:
            self.report.undecryptable.append(f"{column} #{row_id}")
            return None, None
        self.report.reencrypted[column] = self.report.reencrypted.get(column, 0) + 1
        return self.box.encrypt(plain), plain


def _rotate_batch(
    table: sa.Table, columns: list[str], after: int, batch_size: int, rotator: _Rotator
) -> int | None:
    """Rotate one batch of rows with id > ``after``; the last id seen, or None when done."""
    index = BLIND_INDEXES.get(table.name)
    selected = [table.c.id, *(table.c[c] for c in columns)]
    if index is not None:
        selected.append(table.c[index[0]])
    rows = db.session.execute(
        sa.select(*selected)
        .where(table.c.id > after)
        .order_by(table.c.id)
        .limit(batch_size)
        .with_for_update()
    ).all()
    if not rows:
        return None
    for row in rows:
        changes: dict[str, object] = {}
        plains: dict[str, str | None] = {}
        for column in columns:
            token = row._mapping[column]
            if token is None:
                continue
            new, plains[column] = rotator.value(f"{table.name}.{column}", row.id, token)
            if new is not None:
                changes[column] = new
        if index is not None:
            index_column, source, extract = index
            plain = plains.get(source)
            email = extract(plain) if plain is not None else None
            wanted = rotator.box.email_index(email) if email is not None else None
            if wanted is not None and row._mapping[index_column] != wanted:
                try:
                    # A savepoint: a unique index (one live signature per address) may
                    # refuse it, and the rest of the batch must still be written.
                    with db.session.begin_nested():
                        db.session.execute(
                            sa.update(table)
                            .where(table.c.id == row.id)
                            .values(**changes, **{index_column: wanted})
                        )
                except sa.exc.IntegrityError:
                    rotator.report.index_conflicts.append(f"{table.name}.{index_column} #{row.id}")
                else:
                    rotator.report.indexes_updated += 1
                    continue
        if changes:
            db.session.execute(sa.update(table).where(table.c.id == row.id).values(**changes))
    return rows[-1].id


def rotate(
    batch_size: int = BATCH_SIZE, progress: Callable[[str], None] | None = None
) -> RotationReport:
    """Re-encrypt everything under the first DATA_KEY, committing batch by batch.

    Unlike domain functions this commits: a rotation of a large table must not hold one
    long transaction (and its locks) while the site is serving signers.
    """
    if batch_size < 1:  # LIMIT 0 would read nothing and report everything rotated
        raise ValueError("batch_size must be at least 1")
    report = RotationReport()
    rotator = _Rotator(crypto(), report)
    for table_name, columns in encrypted_columns().items():
        table = db.metadata.tables[table_name]
        after = 0
        while True:
            last = _rotate_batch(table, columns, after, batch_size, rotator)
            db.session.commit()
            if last is None:
                break
            after = last
        if progress is not None:
            progress(f"{table_name}: {', '.join(columns)} done")
    return report
