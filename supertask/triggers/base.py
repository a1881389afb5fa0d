"""What every trigger is: pure time arithmetic, validated at construction, no I/O and no sleeping."""

from __future__ import annotations

import abc
import datetime as _dt

__all__ = ["AtTrigger", "CalendarTrigger", "IntervalTrigger", "OnceTrigger", "Trigger"]


class Trigger(abc.ABC):
    """Base of all triggers. A trigger answers *when*; the engine decides *how* to wait."""


class OnceTrigger(Trigger):
    """Fires once, as soon as the job starts."""

    def __repr__(self) -> str:
        return "OnceTrigger()"


class IntervalTrigger(Trigger):
    """Fires on a monotonic grid: tick k is due at ``anchor + k·period``; wall-clock changes do not move it."""

    def __init__(self, period: float) -> None:
        if not period > 0:
            raise ValueError(f"period must be greater than zero, got {period!r}")
        self.period = float(period)

    def __repr__(self) -> str:
        return f"IntervalTrigger(period={self.period!r})"

    def offset(self, k: int) -> float:
        """Seconds from the anchor to tick *k*."""
        return k * self.period


class CalendarTrigger(Trigger):
    """Fires at wall-clock instants; the engine converts each to a monotonic deadline."""

    @abc.abstractmethod
    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        """Return the first fire instant strictly after *after* (aware datetime), or None when done."""


class AtTrigger(CalendarTrigger):
    """Fires once at one wall-clock instant."""

    def __init__(self, at: _dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("at must be an aware datetime")
        self.at = at

    def __repr__(self) -> str:
        return f"AtTrigger({self.at.isoformat()})"

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        return self.at if self.at > after else None
