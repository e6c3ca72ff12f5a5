"""One place that says what time it is, so tests can move it (retention, expiry)."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Malmö's time: the days of an initiative's period, its deadlines, a stand's "today",
# dates in the lists handed to the city.
LOCAL_ZONE_NAME = "Europe/Stockholm"
LOCAL_TZ = ZoneInfo(LOCAL_ZONE_NAME)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


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
