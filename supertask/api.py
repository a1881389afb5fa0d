"""The library API: open a scheduler inside your own trio code and describe when jobs run."""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .durations import parse_duration
from .engine import Scheduler
from .timezones import get_zone
from .triggers import AtTrigger, CronTrigger, IntervalTrigger, OnceTrigger

__all__ = ["at", "cron", "every", "once", "open_scheduler"]


@asynccontextmanager
async def open_scheduler(**kwargs: Any) -> AsyncIterator[Scheduler]:
    """Run a :class:`Scheduler` for the duration of an ``async with`` block.

    Like a nursery, leaving the block waits until every job is done (jobs without
    ``count``/``duration`` run until cancelled); then the scheduler stops.
    Keyword arguments go to :class:`Scheduler`.

    Example::

        async with supertask.open_scheduler() as sched:
            sched.add(supertask.every("20ms"), my_async_fn, count=50)
    """
    scheduler = Scheduler(**kwargs)
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.serve)
        try:
            yield scheduler
            await scheduler.wait_idle()
        finally:
            scheduler.stop()


def every(period: str | float | _dt.timedelta) -> IntervalTrigger:
    """A monotonic interval: ``every("20ms")``, ``every(0.5)``, ``every("10kHz")``."""
    if isinstance(period, _dt.timedelta):
        return IntervalTrigger(period.total_seconds())
    if isinstance(period, str):
        from .durations import try_frequency

        freq = try_frequency(period)
        return IntervalTrigger(freq if freq is not None else parse_duration(period, what="interval"))
    return IntervalTrigger(float(period))


def cron(expr: str, tz: str | None = None) -> CronTrigger:
    """A cron trigger (5, 6 or 7 fields) in zone *tz* (default: local)."""
    return CronTrigger(expr, get_zone(tz))


def at(when: _dt.datetime | str) -> AtTrigger:
    """Once at a wall-clock instant; a naive datetime is local time."""
    if isinstance(when, str):
        when = _dt.datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=get_zone(None))
    return AtTrigger(when)


def once() -> OnceTrigger:
    """Once, as soon as the job starts."""
    return OnceTrigger()
