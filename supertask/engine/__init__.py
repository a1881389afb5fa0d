"""The engine: the only code that uses trio's low-level API (clock, deadline heap, dispatch loop, statistics)."""

from __future__ import annotations

from .clock import EngineClock as EngineClock
from .clock import PreciseClock as PreciseClock
from .clock import TrioClock as TrioClock
from .scheduler import Job as Job
from .scheduler import Scheduler as Scheduler
from .scheduler import parse_overrun as parse_overrun
from .spin import auto_spin as auto_spin
from .stats import JobStats as JobStats
from .task import Elapsed as Elapsed
from .task import Task as Task

__all__ = [
    "Elapsed",
    "EngineClock",
    "Job",
    "JobStats",
    "PreciseClock",
    "Scheduler",
    "Task",
    "TrioClock",
    "auto_spin",
    "parse_overrun",
]
