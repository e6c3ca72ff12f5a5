"""Counts for the organisers' dashboard: by state, channel, source tag, area and day.

Aggregates only: no personal data leaves these functions.  Days are calendar days in
Malmö: the database counts per hour in UTC (the one expression that differs between
SQLite and PostgreSQL, ``utc_hour``) and each hour goes to its Malmö day here, where the
time-zone rules are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

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
    # (tag, channel, confirmed, all): a tag's row (channel None), or the signatures
    # without one, per channel: on the web a link passed on or typed, "(ingen)"; on the
    # stand's tablet or a paper sheet simply that channel, not "no source".
    by_source: list[tuple[str, str | None, int, int]]
    # postcode area (or "" for none) → channel → confirmed
    by_area: list[tuple[str, dict[str, int], int]]
    per_day: list[tuple[date, int]] = field(default_factory=list)

    @property
    def confirmed(self) -> int:
        return self.by_state.get(SignatureState.CONFIRMED, 0)


class utc_hour(sa.sql.functions.GenericFunction[str]):
    """A stored (naive UTC) time cut to its hour, as text: ``2026-11-27 14``."""

    type = sa.String()
    inherit_cache = True


@compiles(utc_hour, "sqlite")
def _utc_hour_sqlite(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H', {compiler.process(element.clauses, **kw)})"


@compiles(utc_hour, "postgresql")
def _utc_hour_postgresql(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD HH24')"


def dashboard(initiative: Initiative) -> Dashboard:
    """Every count the dashboard shows: one grouped pass over the initiative's signatures
    for the counts, one for the days."""
    by_channel = {c: dict.fromkeys(STATES, 0) for c in CHANNELS}
    by_state = dict.fromkeys(STATES, 0)
    # Every tag of the initiative has a row, zero included: an unused flyer shows.
    sources: dict[tuple[str, str | None], list[int]] = {
        (tag, None): [0, 0] for tag in campaign.tags(initiative)
    }
    areas: dict[str, dict[str, int]] = {}
    columns = (Signature.channel, Signature.state, Signature.source_tag, Signature.postcode_area)
    grouped = (
        sa.select(*columns, sa.func.count(Signature.id))
        .where(Signature.initiative_id == initiative.id)
        .group_by(*columns)
    )
    for channel, state, tag, area, count in db.session.execute(grouped).all():
        by_channel.setdefault(channel, dict.fromkeys(STATES, 0))[state] += count
        by_state[state] = by_state.get(state, 0) + count
        source = sources.setdefault((tag, None) if tag else ("", channel), [0, 0])
        source[1] += count
        if state == SignatureState.CONFIRMED:
            source[0] += count
            areas.setdefault(area or "", dict.fromkeys(CHANNELS, 0))[channel] += count
    by_source = sorted(
        ((tag, channel, ok, total) for (tag, channel), (ok, total) in sources.items()),
        key=lambda r: (-r[2], r[0], r[1] or ""),
    )
    by_area = sorted(
        ((area, counts, sum(counts.values())) for area, counts in areas.items()),
        key=lambda r: (-r[2], r[0]),
    )
    return Dashboard(by_state, by_channel, by_source, by_area, per_day(initiative))


def per_day(initiative: Initiative) -> list[tuple[date, int]]:
    """Confirmed signatures per day, from the opening day to today (or the closing day).

    The database counts them per hour (UTC), so what comes back is at most 24 rows a day
    however many signed; each hour then goes to its day in Malmö.  Malmö is a whole
    number of hours from UTC all year, so an hour never straddles two of its days.
    """
    if initiative.opens_at is None:
        return []
    hour = utc_hour(Signature.confirmed_at)
    hourly = (
        sa.select(hour, sa.func.count(Signature.id))
        .where(
            Signature.initiative_id == initiative.id,
            Signature.state == SignatureState.CONFIRMED,
            Signature.confirmed_at.is_not(None),
        )
        .group_by(hour)
    )
    counts: Counter[date] = Counter()
    for started, count in db.session.execute(hourly).all():
        moment = datetime.strptime(started, "%Y-%m-%d %H").replace(tzinfo=UTC)
        counts[local_date(moment)] += count
    first = local_date(initiative.opens_at)
    last = local_date(clock.utcnow())
    if initiative.closes_at is not None:
        last = min(last, local_date(initiative.closes_at))
    if counts:
        first = min(first, min(counts))
        last = max(last, max(counts))
    days = (last - first).days + 1
    return [(first + timedelta(days=i), counts[first + timedelta(days=i)]) for i in range(days)]
