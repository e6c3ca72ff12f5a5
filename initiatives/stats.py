"""Counts for the organisers' dashboard: by state, channel, source tag, area and day.

Aggregates only: no personal data leaves these functions.  Days are calendar days in
Malmö.  The per-day series is bucketed in Python from the confirmation times, which
keeps the SQL identical on SQLite and PostgreSQL (their date functions differ).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from . import campaign, clock
from .extensions import db
from .lifecycle import local_date
from .models import Channel, Initiative, Signature, SignatureState

STATES = [s.value for s in SignatureState]
CHANNELS = [c.value for c in Channel]


@dataclass
class Dashboard:
    by_state: dict[str, int]
    # channel → state → count
    by_channel: dict[str, dict[str, int]]
    # tag (or "" for none) → (confirmed, all)
    by_source: list[tuple[str, int, int]]
    # postcode area (or "" for none) → channel → confirmed
    by_area: list[tuple[str, dict[str, int], int]]
    per_day: list[tuple[date, int]] = field(default_factory=list)

    @property
    def confirmed(self) -> int:
        return self.by_state.get(SignatureState.CONFIRMED, 0)


def _grouped(initiative_id: int, *columns: sa.ColumnElement[object]) -> list[tuple]:
    query = (
        sa.select(*columns, sa.func.count(Signature.id))
        .where(Signature.initiative_id == initiative_id)
        .group_by(*columns)
    )
    return [tuple(row) for row in db.session.execute(query).all()]


def dashboard(initiative: Initiative) -> Dashboard:
    """Every count the dashboard shows, in a handful of grouped queries."""
    by_channel = {c: dict.fromkeys(STATES, 0) for c in CHANNELS}
    by_state = dict.fromkeys(STATES, 0)
    for channel, state, count in _grouped(initiative.id, Signature.channel, Signature.state):
        by_channel.setdefault(channel, dict.fromkeys(STATES, 0))[state] = count
        by_state[state] = by_state.get(state, 0) + count

    # Every tag of the initiative has a row, zero included: an unused flyer shows.
    sources: dict[str, list[int]] = {tag: [0, 0] for tag in campaign.tags(initiative)}
    for tag, state, count in _grouped(initiative.id, Signature.source_tag, Signature.state):
        entry = sources.setdefault(tag or "", [0, 0])
        entry[1] += count
        if state == SignatureState.CONFIRMED:
            entry[0] += count
    by_source = sorted(
        ((tag, ok, total) for tag, (ok, total) in sources.items()), key=lambda r: (-r[1], r[0])
    )

    areas: dict[str, dict[str, int]] = {}
    confirmed_by_area = (
        sa.select(Signature.postcode_area, Signature.channel, sa.func.count(Signature.id))
        .where(
            Signature.initiative_id == initiative.id,
            Signature.state == SignatureState.CONFIRMED,
        )
        .group_by(Signature.postcode_area, Signature.channel)
    )
    for area, channel, count in db.session.execute(confirmed_by_area).all():
        areas.setdefault(area or "", dict.fromkeys(CHANNELS, 0))[channel] = count
    by_area = sorted(
        ((area, counts, sum(counts.values())) for area, counts in areas.items()),
        key=lambda r: (-r[2], r[0]),
    )
    return Dashboard(by_state, by_channel, by_source, by_area, per_day(initiative))


def per_day(initiative: Initiative) -> list[tuple[date, int]]:
    """Confirmed signatures per day, from the opening day to today (or the closing day)."""
    if initiative.opens_at is None:
        return []
    counts: Counter[date] = Counter()
    times = db.session.scalars(
        sa.select(Signature.confirmed_at).where(
            Signature.initiative_id == initiative.id,
            Signature.state == SignatureState.CONFIRMED,
            Signature.confirmed_at.is_not(None),
        )
    )
    for moment in times:
        counts[local_date(moment)] += 1
    first = local_date(initiative.opens_at)
    last = local_date(clock.utcnow())
    if initiative.closes_at is not None:
        last = min(last, local_date(initiative.closes_at))
    if counts:
        first = min(first, min(counts))
        last = max(last, max(counts))
    days = (last - first).days + 1
    return [(first + timedelta(days=i), counts[first + timedelta(days=i)]) for i in range(days)]
