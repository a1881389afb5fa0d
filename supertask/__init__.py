"""Supertask: a punctual task runner for time-driven work, from once a year to ten thousand times a second.

The public API is re-exported here lazily, so ``supertask --help`` does not pay for importing trio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.0.1.dev0"

_EXPORTS = {
    "open_scheduler": "supertask.api",
    "every": "supertask.api",
    "cron": "supertask.api",
    "at": "supertask.api",
    "once": "supertask.api",
    "Schedule": "supertask.schedule",
    "calendar": "supertask.schedule",
    "rrule": "supertask.schedule",
    "hourly": "supertask.schedule",
    "daily": "supertask.schedule",
    "weekly": "supertask.schedule",
    "monthly": "supertask.schedule",
    "yearly": "supertask.schedule",
    "reboot": "supertask.schedule",
    "Scheduler": "supertask.engine",
    "Job": "supertask.engine",
    "JobStats": "supertask.engine",
    "Task": "supertask.engine",
    "PreciseClock": "supertask.engine",
    "TrioClock": "supertask.engine",
    "parse_when": "supertask.when",
    "parse_duration": "supertask.durations",
    "SupertaskError": "supertask.errors",
    "SpecError": "supertask.errors",
    "load_timetable": "supertask.timetable",
    "open_store": "supertask.store",
    "StoreSink": "supertask.sinks.store",
    "Sink": "supertask.sinks",
    "StdoutSink": "supertask.sinks",
    "parse_sink": "supertask.sinks",
    "JsonlSink": "supertask.sinks.jsonl",
    "MqttSink": "supertask.sinks.mqtt",
}

__all__ = [*sorted(_EXPORTS), "__version__"]

if TYPE_CHECKING:
    from .api import at as at
    from .api import cron as cron
    from .api import every as every
    from .api import once as once
    from .api import open_scheduler as open_scheduler
    from .durations import parse_duration as parse_duration
    from .engine import Job as Job
    from .engine import JobStats as JobStats
    from .engine import PreciseClock as PreciseClock
    from .engine import Scheduler as Scheduler
    from .engine import Task as Task
    from .engine import TrioClock as TrioClock
    from .errors import SpecError as SpecError
    from .errors import SupertaskError as SupertaskError
    from .schedule import Schedule as Schedule
    from .schedule import calendar as calendar
    from .schedule import daily as daily
    from .schedule import hourly as hourly
    from .schedule import monthly as monthly
    from .schedule import reboot as reboot
    from .schedule import rrule as rrule
    from .schedule import weekly as weekly
    from .schedule import yearly as yearly
    from .sinks import Sink as Sink
    from .sinks import StdoutSink as StdoutSink
    from .sinks import parse_sink as parse_sink
    from .sinks.jsonl import JsonlSink as JsonlSink
    from .sinks.mqtt import MqttSink as MqttSink
    from .sinks.store import StoreSink as StoreSink
    from .store import open_store as open_store
    from .timetable import load_timetable as load_timetable
    from .when import parse_when as parse_when


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'supertask' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
