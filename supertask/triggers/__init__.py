"""Triggers: pure time arithmetic that says when a job is due (interval, once, at, cron)."""

from __future__ import annotations

from ..model import At, Cron, Every, Once, TriggerSpec
from ..timezones import get_zone
from .base import AtTrigger as AtTrigger
from .base import CalendarTrigger as CalendarTrigger
from .base import IntervalTrigger as IntervalTrigger
from .base import OnceTrigger as OnceTrigger
from .base import Trigger as Trigger
from .cron import CronTrigger as CronTrigger


def build_trigger(spec: TriggerSpec) -> Trigger:
    """Turn a trigger record of the model into the trigger that computes its fire times."""
    if isinstance(spec, Once):
        return OnceTrigger()
    if isinstance(spec, Every):
        return IntervalTrigger(spec.period)
    if isinstance(spec, At):
        return AtTrigger(spec.at)
    if isinstance(spec, Cron):
        return CronTrigger(spec.expr, get_zone(spec.tz))
    raise TypeError(f"unknown trigger spec {spec!r}")
