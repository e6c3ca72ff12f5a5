"""Bursts: many live signatures in a short window that share one signal, for organisers
to look at (``abuse.py`` previews, invalidates and restores what they choose).

A signal is one client (the keyed, daily-salted ``client_hash``), one email domain, or one
kiosk.  Email domains are not stored separately: they are read by decrypting the
signatures of the one initiative under review, and only those in a dense stretch of all
its signatures (a burst in one domain is one among all of them too).  That keeps nothing
new at rest and nothing that would need re-keying on rotation; in a surge, when most
signatures are in dense stretches, it costs about two seconds per 100,000 addresses on
a small server (``python -m bench.admin_reads``).

A kiosk signal needs a ``kiosk_id`` column on signatures; when it exists, bursts and
selections by kiosk work without further changes (see ``kiosk_column``).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import InvalidToken

from .crypto import crypto
from .extensions import db
from .models import Initiative, Signature, SignatureState

DEFAULT_WINDOW = timedelta(minutes=10)
DEFAULT_THRESHOLD = 10
# Live signatures: the ones that count or are about to, so the ones a review looks at.
REVIEWABLE = (SignatureState.PENDING, SignatureState.CONFIRMED)


class Signal(enum.StrEnum):
    """What the signatures of a burst share."""

    CLIENT = "client"
    DOMAIN = "domain"
    KIOSK = "kiosk"


def kiosk_column() -> sa.Column[Any] | None:
    """Signatures' ``kiosk_id`` column, where the schema has one."""
    return Signature.__table__.c.get("kiosk_id")


def signals() -> tuple[Signal, ...]:
    """The burst signals this schema supports."""
    base = (Signal.CLIENT, Signal.DOMAIN)
    return (*base, Signal.KIOSK) if kiosk_column() is not None else base


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().casefold() or None


def domain_of(email_enc: bytes | None) -> str | None:
    """The email domain of an encrypted address; None if it cannot be read."""
    try:
        return email_domain(crypto().decrypt(email_enc))
    except InvalidToken:
        return None


@dataclass(frozen=True)
class Burst:
    """``count`` signatures sharing one ``key`` between ``start`` and ``end``."""

    signal: Signal
    key: str
    start: datetime
    end: datetime
    count: int
    confirmed: int
    pending: int


def _rows(initiative_id: int, states: Iterable[SignatureState]) -> list[sa.Row[Any]]:
    kiosk = kiosk_column()
    columns: list[Any] = [
        Signature.id,
        Signature.created_at,
        Signature.state,
        Signature.client_hash,
        Signature.email_enc,
    ]
    columns.append(kiosk if kiosk is not None else sa.null().label("kiosk_id"))
    return list(
        db.session.execute(
            sa.select(*columns)
            .where(
                Signature.initiative_id == initiative_id,
                Signature.state.in_([s.value for s in states]),
            )
            .order_by(Signature.created_at, Signature.id)
        ).all()
    )


def _key(signal: Signal, row: sa.Row[Any]) -> str | None:
    if signal == Signal.CLIENT:
        return row.client_hash
    if signal == Signal.KIOSK:
        return None if row.kiosk_id is None else str(row.kiosk_id)
    return domain_of(row.email_enc)


def _clusters(times: list[datetime], window: timedelta, threshold: int) -> list[tuple[int, int]]:
    """Index ranges [i, j] of sorted ``times`` where ``threshold`` fall within ``window``."""
    dense: list[tuple[int, int]] = []
    j = 0
    for i in range(len(times)):
        j = max(j, i)
        while j + 1 < len(times) and times[j + 1] - times[i] <= window:
            j += 1
        if j - i + 1 >= threshold:
            if dense and i <= dense[-1][1]:
                dense[-1] = (dense[-1][0], j)
            else:
                dense.append((i, j))
    return dense


def _in_dense_stretches(
    rows: list[sa.Row[Any]], window: timedelta, threshold: int
) -> list[sa.Row[Any]]:
    """The rows (in time order) that lie in a stretch of at least ``threshold`` rows
    within ``window``, whatever they share."""
    times = [row.created_at for row in rows]
    return [row for i, j in _clusters(times, window, threshold) for row in rows[i : j + 1]]


def find(
    initiative: Initiative,
    *,
    window: timedelta = DEFAULT_WINDOW,
    threshold: int = DEFAULT_THRESHOLD,
    by: Sequence[Signal] | None = None,
) -> list[Burst]:
    """Clusters of at least ``threshold`` live signatures sharing a signal within ``window``.

    Invalidated, withdrawn and anonymised signatures are left out: bursts are what is
    still counted or about to be.  Largest bursts first.
    """
    rows = _rows(initiative.id, REVIEWABLE)
    found: list[Burst] = []
    for signal in by or signals():
        groups: dict[str, list[sa.Row[Any]]] = defaultdict(list)
        candidates = rows
        if signal == Signal.DOMAIN:
            # Reading a domain means decrypting the address.  The signatures of a burst
            # in one domain are also a burst among all signatures, so only those in a
            # dense stretch of all of them need it: in a quiet campaign, few do.
            candidates = _in_dense_stretches(rows, window, threshold)
        for row in candidates:
            key = _key(signal, row)
            if key is not None:
                groups[key].append(row)
        for key, members in groups.items():
            times = [m.created_at for m in members]
            for i, j in _clusters(times, window, threshold):
                part = members[i : j + 1]
                confirmed = sum(1 for m in part if m.state == SignatureState.CONFIRMED)
                found.append(
                    Burst(
                        signal, key, times[i], times[j], len(part), confirmed, len(part) - confirmed
                    )
                )
    return sorted(found, key=lambda b: (-b.count, b.start))
