"""One place that says what time it is, so tests can move it (retention, expiry)."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

# Malmö's time: the days of an initiative's period, its deadlines, a stand's "today",
# dates in the lists handed to the city.
LOCAL_ZONE_NAME = "Europe/Stockholm"
LOCAL_TZ = ZoneInfo(LOCAL_ZONE_NAME)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def parse_utc(value: str | None) -> datetime | None:
    """An ISO 8601 time with its offset ("…Z" included, as a browser's ``toISOString``
    writes it), in UTC; None for nothing, a time without an offset, or no time at all
    (a device's clock or script sent it: a reading, never a reason for an error)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            return None
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or one that UTC cannot hold
        return None


def add_months(start: datetime, months: int) -> datetime:
    """The same day and time in Malmö ``months`` calendar months later, clamped to the
    month's last day, in ``start``'s time zone.

    Counted in Malmö's calendar, not UTC's: near midnight the two name different days,
    and summer time would move the end across midnight into another day.
    """
    local = start.astimezone(LOCAL_TZ)
    year = local.year + (local.month - 1 + months) // 12
    month = (local.month - 1 + months) % 12 + 1
    day = min(local.day, monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(start.tzinfo)


def local_moment(wall: datetime, *, latest: bool = False) -> datetime:
    """A time read off Malmö's clocks (naive, or with ``LOCAL_TZ`` attached) as the moment
    it names, aware in ``LOCAL_TZ``.

    When summer time ends, 02:00–02:59 happens twice: this is the first of the two, or
    with ``latest`` the second, so that a range "from … to and including …" covers both.
    A time that never happened (skipped when summer time starts) is the moment the
    clocks jumped.  Python's own reading (``fold=0``) would make the repeated hour
    impossible to select and move a skipped time an hour on.
    """
    naive = wall.replace(tzinfo=None, fold=0)
    moments = [naive.replace(tzinfo=LOCAL_TZ, fold=fold).astimezone(UTC) for fold in (0, 1)]
    real = [m for m in moments if m.astimezone(LOCAL_TZ).replace(tzinfo=None) == naive]
    if real:
        return (max(real) if latest else min(real)).astimezone(LOCAL_TZ)
    # Skipped: the jump lies between the two readings; find it to the microsecond.
    before, after = min(moments), max(moments)
    offset = before.astimezone(LOCAL_TZ).utcoffset()
    while after - before > timedelta(microseconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(LOCAL_TZ).utcoffset() == offset:
            before = middle
        else:
            after = middle
    return after.astimezone(LOCAL_TZ)
