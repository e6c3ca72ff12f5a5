"""Bursts: many live signatures in a short window that share one signal, for organisers
to look at (``abuse.py`` previews, invalidates and restores what they choose).

A signal is one client (the keyed, daily-salted ``client_hash``), one email domain, or one
kiosk.  Email domains are not stored: they are read by decrypting the signatures of the
one initiative under review, and only those in a dense stretch of all its signatures (a
burst in one domain is one among all of them too).  That keeps nothing new at rest and
nothing that would need re-keying on rotation.

In a surge most signatures are in dense stretches, and decrypting them all cost seconds
of a worker's CPU on every load (``python -m bench.admin_reads``), in the workers that
signers need too, on a page organisers reload.  So each process remembers the domains
it has read (``DomainMemo``), per initiative, by signature: a reload decrypts only the
addresses that came in since.  Why this and not a keyed domain column written at signing
(an HMAC under the blind-index keys):

- Nothing new at rest, nothing to migrate, backfill, re-key or clear: the memory is the
  worker's own and goes when it restarts.  A domain is used only for a live signature
  (pending or confirmed) whose address is still there: a row without one is not looked
  up.  Each review keeps only the domains of the live rows with an address it read, so
  an invalidated, withdrawn, erased or anonymised signature's domain is dropped at the
  next review of its initiative.  Nothing is held that the review does not decrypt
  anyway, and the page shows only bursts.
- A signature's address never changes: it is written when signing, re-encrypted by
  ``rotate-data-key`` (the same address, so the same domain: nothing to forget) and
  cleared by erasure and anonymisation.  Were addresses ever corrected, the memory would
  have to forget them.  A signature is known by its id and its signing time: on SQLite
  a new row can get the id of a deleted one (purge deleting the newest row).
- Each gunicorn worker has its own memory, filled by its first review there (the first
  load on a worker costs what every load cost before).  It holds at most
  ``MEMO_ENTRIES`` signatures across initiatives, the least recently reviewed
  initiative forgotten first: ~100 bytes each (an int key, one shared string per
  domain), ~10 MB for 100,000.
- Threads (gunicorn runs two a worker) read a per-initiative dict that is never changed
  once kept, and replace it whole under a lock: two reviews at once each read what is
  missing, and the later one's dict stays.
- The keyed column would save the first load too, but costs a migration, a column to
  clear in retention and erasure and to re-key in rotation, and an HMAC per signature;
  the measurements did not call for it (bench/RESULTS.md, seventh round).

A kiosk signal needs a ``kiosk_id`` column on signatures; when it exists, bursts and
selections by kiosk work without further changes (see ``kiosk_column``).
"""

from __future__ import annotations

import enum
import itertools
import sys
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from flask import current_app

from .crypto import crypto
from .extensions import db
from .models import Initiative, Signature, SignatureState

DEFAULT_WINDOW = timedelta(minutes=10)
DEFAULT_THRESHOLD = 10
# Live signatures: the ones that count or are about to, so the ones a review looks at.
REVIEWABLE = (SignatureState.PENDING, SignatureState.CONFIRMED)
# Signatures whose domain a process remembers, across initiatives (see DomainMemo).
MEMO_ENTRIES = 250_000
READ_CHUNK = 1_000  # addresses read per query


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


class DomainMemo:
    """Email domains this process has read, per initiative, by ``_memo_key``; the least
    recently reviewed initiative is forgotten first beyond ``entries`` signatures."""

    def __init__(self, entries: int | None = None):
        self.entries = MEMO_ENTRIES if entries is None else entries
        self._lock = threading.Lock()
        self._by_initiative: OrderedDict[int, Mapping[int, str | None]] = OrderedDict()

    def known(self, initiative_id: int) -> Mapping[int, str | None]:
        """The domains remembered for this initiative's signatures (never changed)."""
        with self._lock:
            found = self._by_initiative.get(initiative_id)
            if found is None:
                return {}
            self._by_initiative.move_to_end(initiative_id)
            return found

    def keep(self, initiative_id: int, domains: dict[int, str | None]) -> None:
        """Remember these, and only these, for the initiative (the first that fit)."""
        if len(domains) > self.entries:
            domains = dict(itertools.islice(domains.items(), self.entries))
        with self._lock:
            self._by_initiative.pop(initiative_id, None)
            self._by_initiative[initiative_id] = domains
            total = sum(len(d) for d in self._by_initiative.values())
            while total > self.entries:
                _, dropped = self._by_initiative.popitem(last=False)
                total -= len(dropped)


def _memo() -> DomainMemo:
    """This app's memory in this process (one app per worker; one per test)."""
    memo = current_app.extensions.get("burst_domains")
    if memo is None:
        memo = current_app.extensions.setdefault("burst_domains", DomainMemo())
    return memo


_ID_BITS = 64
_ID_MASK = (1 << _ID_BITS) - 1


def _memo_key(row: _Live) -> int:
    """A signature as the memory knows it: its id and (the hash of) its signing time.

    On SQLite a new signature can get the id of a deleted one (when purge deleted the
    newest row); its time tells them apart.  One int, ~44 bytes, where an (id, time)
    pair would take ~150."""
    return (hash(row.created_at) & _ID_MASK) << _ID_BITS | row.id


def remembered(initiative_id: int) -> dict[int, str | None]:
    """The domains remembered for an initiative's signatures, by signature id."""
    return {key & _ID_MASK: domain for key, domain in _memo().known(initiative_id).items()}


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


class _Live(NamedTuple):
    """A live signature as the review reads it (a tuple: a ``Row``'s attributes cost a
    microsecond each, and a surge has 100,000 rows)."""

    id: int
    created_at: datetime  # naive UTC, only compared; the bursts' times are made aware
    confirmed: bool
    client_hash: str | None
    has_address: bool
    kiosk_id: int | None


def _rows(initiative_id: int, states: Iterable[SignatureState]) -> list[_Live]:
    kiosk = kiosk_column()
    result = db.session.execute(
        sa.select(
            Signature.id,
            # Plain DateTime: UTCDateTime's Python hook per row doubled the query's cost.
            sa.type_coerce(Signature.created_at, sa.DateTime),
            Signature.state == SignatureState.CONFIRMED.value,
            Signature.client_hash,
            # Whether the address is there; the address itself only when it must be read.
            Signature.email_enc.is_not(None),
            kiosk if kiosk is not None else sa.null(),
        )
        .where(
            Signature.initiative_id == initiative_id,
            Signature.state.in_([s.value for s in states]),
        )
        .order_by(Signature.created_at, Signature.id)
    )
    return list(map(_Live._make, result))


def _domains(
    initiative_id: int, rows: list[_Live], stretches: list[tuple[int, int]]
) -> list[tuple[str | None, _Live]]:
    """The rows in ``stretches`` (index ranges) with their email domains (None without an
    address): known from an earlier review, or read now.  Remembered for the next: those
    of every live signature (``rows``) that still has an address."""
    memo = _memo()
    known = memo.known(initiative_id)
    keys = [_memo_key(row) if row.has_address else None for row in rows]
    kept = {key: known[key] for key in keys if key in known}
    missing = {
        rows[n].id: keys[n]
        for i, j in stretches
        for n in range(i, j + 1)
        if keys[n] is not None and keys[n] not in known
    }
    wanted = list(missing)
    for start in range(0, len(wanted), READ_CHUNK):
        addresses = db.session.execute(
            sa.select(Signature.id, Signature.email_enc).where(
                Signature.id.in_(wanted[start : start + READ_CHUNK])
            )
        )
        for signature_id, email_enc in addresses:
            domain = domain_of(email_enc)
            # One string per domain, however many signatures share it.
            kept[missing[signature_id]] = None if domain is None else sys.intern(domain)
    memo.keep(initiative_id, kept)
    return [(kept.get(keys[n]), rows[n]) for i, j in stretches for n in range(i, j + 1)]


def _clusters(times: list[datetime], window: timedelta, threshold: int) -> list[tuple[int, int]]:
    """Index ranges [i, j] of sorted ``times`` where ``threshold`` fall within ``window``."""
    dense: list[tuple[int, int]] = []
    j = 0
    last = len(times) - 1
    for i in range(len(times)):
        if j < i:
            j = i
        until = times[i] + window
        while j < last and times[j + 1] <= until:
            j += 1
        if j - i + 1 >= threshold:
            if dense and i <= dense[-1][1]:
                dense[-1] = (dense[-1][0], j)
            else:
                dense.append((i, j))
    return dense


def _dense_stretches(rows: list[_Live], window: timedelta, threshold: int) -> list[tuple[int, int]]:
    """Index ranges of the rows (in time order) that lie in a stretch of at least
    ``threshold`` rows within ``window``, whatever they share."""
    return _clusters([row.created_at for row in rows], window, threshold)


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
        keyed: Iterable[tuple[str | None, _Live]]
        if signal == Signal.DOMAIN:
            # Reading a domain means decrypting the address.  The signatures of a burst
            # in one domain are also a burst among all signatures, so only those in a
            # dense stretch of all of them need it: in a quiet campaign, few do.
            keyed = _domains(initiative.id, rows, _dense_stretches(rows, window, threshold))
        elif signal == Signal.CLIENT:
            keyed = ((row.client_hash, row) for row in rows)
        else:
            keyed = ((None if row.kiosk_id is None else str(row.kiosk_id), row) for row in rows)
        groups: dict[str, list[_Live]] = defaultdict(list)
        for key, row in keyed:
            if key is not None:
                groups[key].append(row)
        for key, members in groups.items():
            times = [m.created_at for m in members]
            for i, j in _clusters(times, window, threshold):
                part = members[i : j + 1]
                confirmed = sum(1 for m in part if m.confirmed)
                start, end = times[i].replace(tzinfo=UTC), times[j].replace(tzinfo=UTC)
                found.append(
                    Burst(signal, key, start, end, len(part), confirmed, len(part) - confirmed)
                )
    return sorted(found, key=lambda b: (-b.count, b.start))
