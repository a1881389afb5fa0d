"""Triggers built from triggers: a union (several triggers, one fire per instant) and start/end bounds."""

from __future__ import annotations

import datetime as _dt

from .base import CalendarTrigger

__all__ = ["BoundedTrigger", "UnionTrigger", "WallGridTrigger"]


class UnionTrigger(CalendarTrigger):
    """Fires at every instant of any of its triggers; instants shared by several fire once."""

    def __init__(self, triggers: list[CalendarTrigger]) -> None:
        if not triggers:
            raise ValueError("a union needs at least one trigger")
        self.triggers = list(triggers)
        self.tz = getattr(triggers[0], "tz", None)
        self.interval_like = any(getattr(t, "interval_like", False) for t in triggers)

    def __repr__(self) -> str:
        return f"UnionTrigger({self.triggers!r})"

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        best: _dt.datetime | None = None
        best_ts = 0.0
        for trigger in self.triggers:
            t = trigger.next_after(after)
            if t is not None and (best is None or t.timestamp() < best_ts):
                best, best_ts = t, t.timestamp()
        return best


class BoundedTrigger(CalendarTrigger):
    """Another calendar trigger limited to ``start <= t <= end`` (either bound optional)."""

    def __init__(
        self, trigger: CalendarTrigger, start: _dt.datetime | None = None, end: _dt.datetime | None = None
    ) -> None:
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be an aware datetime")
        self.trigger = trigger
        self.tz = getattr(trigger, "tz", None)
        self.start = start
        self.end = end
        self.interval_like = getattr(trigger, "interval_like", False)

    def __repr__(self) -> str:
        return f"BoundedTrigger({self.trigger!r}, start={self.start}, end={self.end})"

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        if self.start is not None and after.timestamp() < self.start.timestamp():
            after = self.start - _dt.timedelta(microseconds=1)
        t = self.trigger.next_after(after)
        if t is None or (self.end is not None and t.timestamp() > self.end.timestamp()):
            return None
        return t


class WallGridTrigger(CalendarTrigger):
    """An interval counted on the wall clock from an anchor (``anchor + k·period``).

    Used for an interval that is one of several triggers of a job: plain interval jobs
    keep the monotonic clock instead.
    """

    def __init__(self, period: float, anchor: _dt.datetime, *, include_anchor: bool = True) -> None:
        if not period > 0:
            raise ValueError(f"period must be greater than zero, got {period!r}")
        self.period = period
        self.anchor = anchor
        self.tz = anchor.tzinfo
        self._a = anchor.timestamp()
        self.interval_like = True

    def __repr__(self) -> str:
        return f"WallGridTrigger(period={self.period!r}, anchor={self.anchor.isoformat()})"

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        ts = after.timestamp()
        if ts < self._a:
            return self.anchor
        k = int((ts - self._a) // self.period) + 1
        while self._a + (k - 1) * self.period > ts:
            k -= 1
        return _dt.datetime.fromtimestamp(self._a + k * self.period, _dt.UTC).astimezone(self.anchor.tzinfo)
