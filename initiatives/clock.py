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
    """The same day ``months`` calendar months later, clamped to the month's last day."""
    year = start.year + (start.month - 1 + months) // 12
    month = (start.month - 1 + months) % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, monthrange(year, month)[1]))
