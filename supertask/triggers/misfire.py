"""Misfire handling for calendar triggers: fire times missed while no scheduler ran are made up for once."""

from __future__ import annotations

import datetime as _dt

from .base import CalendarTrigger

__all__ = ["MisfireTrigger"]


class MisfireTrigger(CalendarTrigger):
    """Wraps a calendar trigger with the instant it last fired (from the store).

    Its first answer is the first fire time after *last_fired*: when that lies in
    the past (the job missed fire times while nothing ran), the engine runs the
    job once at start, keeping only the latest missed instant and counting the
    others as skipped. Later answers are the inner trigger's.
    """

    def __init__(self, inner: CalendarTrigger, last_fired: _dt.datetime) -> None:
        if last_fired.tzinfo is None:
            raise ValueError("last_fired must be an aware datetime")
        self.inner = inner
        self.last_fired = last_fired
        self._first = True

    def __repr__(self) -> str:
        return f"MisfireTrigger({self.inner!r}, last_fired={self.last_fired.isoformat()})"

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        if self._first:
            self._first = False
            if self.last_fired < after:
                return self.inner.next_after(self.last_fired)
        return self.inner.next_after(after)
