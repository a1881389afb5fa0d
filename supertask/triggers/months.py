"""Calendar intervals: every N months or years (``1mo``, ``3mo``, ``1y``), unlike the fixed-length ``30d``.

Fire k is ``anchor + k·N months`` at the anchor's wall time, always counted from the
anchor (never from the previous fire), with the day clamped to the month's last day:
from Jan 31 the fires are Feb 28 (29 in leap years), Mar 31, Apr 30 …; from Feb 29
yearly, Feb 28 in common years and Feb 29 in leap years. Wall times in a DST gap or fold
follow :mod:`.wall` (gap: the instant it ends; fold: the first occurrence).
"""

from __future__ import annotations

import calendar
import datetime as _dt

from .base import CalendarTrigger
from .wall import resolve

__all__ = ["CalendarIntervalTrigger", "add_months"]


def add_months(naive: _dt.datetime, months: int) -> _dt.datetime:
    """*naive* moved by *months* calendar months, the day clamped to the month's end."""
    total = naive.year * 12 + naive.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    day = min(naive.day, calendar.monthrange(year, month)[1])
    return naive.replace(year=year, month=month, day=day)


class CalendarIntervalTrigger(CalendarTrigger):
    """Fires every *months* calendar months from *anchor* (an aware datetime; its wall time in *tz* is kept)."""

    def __init__(self, months: int, anchor: _dt.datetime, tz: _dt.tzinfo) -> None:
        if months < 1:
            raise ValueError(f"months must be at least 1, got {months!r}")
        if anchor.tzinfo is None:
            raise ValueError("anchor must be an aware datetime")
        self.months = months
        self.tz = tz
        self.anchor = anchor
        self._naive = anchor.astimezone(tz).replace(tzinfo=None, fold=0)

    def __repr__(self) -> str:
        return f"CalendarIntervalTrigger(months={self.months}, anchor={self.anchor.isoformat()}, tz={self.tz})"

    def fire(self, k: int) -> _dt.datetime:
        """The k-th fire instant (k = 0 is the anchor)."""
        return resolve(add_months(self._naive, k * self.months), self.tz)[0]

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        ts = after.timestamp()
        local = after.astimezone(self.tz)
        months_apart = (local.year - self._naive.year) * 12 + local.month - self._naive.month
        k = max(0, months_apart // self.months - 1)
        while True:
            t = self.fire(k)
            if t.timestamp() > ts:
                return t
            k += 1
