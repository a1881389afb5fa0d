"""The library API: open a scheduler inside your own trio code and describe when jobs run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .engine import Scheduler
from .schedule import at as at
from .schedule import cron as cron
from .schedule import every as every
from .schedule import once as once

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
