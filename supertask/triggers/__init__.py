"""Triggers: pure time arithmetic that says when a job is due (interval, once, at, cron, calendar, rrule, unions)."""

from __future__ import annotations

import datetime as _dt

from ..model import AnyOf, At, Calendar, CalendarEvery, Cron, Every, Once, RRule, TriggerSpec
from ..timezones import get_zone
from .base import AtTrigger as AtTrigger
from .base import CalendarTrigger as CalendarTrigger
from .base import IntervalTrigger as IntervalTrigger
from .base import OnceTrigger as OnceTrigger
from .base import Trigger as Trigger
from .calendar import CalendarExprTrigger as CalendarExprTrigger
from .combine import BoundedTrigger as BoundedTrigger
from .combine import UnionTrigger as UnionTrigger
from .combine import WallGridTrigger as WallGridTrigger
from .cron import CronTrigger as CronTrigger
from .months import CalendarIntervalTrigger as CalendarIntervalTrigger
from .rrule import RRuleTrigger as RRuleTrigger


def _ceil_second(t: _dt.datetime) -> _dt.datetime:
    return t if t.microsecond == 0 else t.replace(microsecond=0) + _dt.timedelta(seconds=1)


def build_trigger(
    spec: TriggerSpec,
    *,
    now: _dt.datetime | None = None,
    start: _dt.datetime | None = None,
    seed: str | None = None,
) -> Trigger:
    """Turn a trigger record of the model into the trigger that computes its fire times.

    Args:
        spec: the record.
        now: the wall-clock time the job is added (default: now); anchors calendar intervals
            and an RRULE without DTSTART, when *start* is not given.
        start: the job's ``--start``: the anchor of calendar intervals and of an RRULE without DTSTART.
        seed: what a cron ``H`` hashes when the record has no seed (the job's name).
    """
    if isinstance(spec, Once):
        return OnceTrigger()
    if isinstance(spec, Every):
        return IntervalTrigger(spec.period)
    if isinstance(spec, At):
        return AtTrigger(spec.at)
    if isinstance(spec, AnyOf):
        return UnionTrigger([_calendar_member(s, now=now, start=start, seed=seed) for s in spec.triggers])
    return _calendar_member(spec, now=now, start=start, seed=seed)


def _calendar_member(
    spec: TriggerSpec, *, now: _dt.datetime | None, start: _dt.datetime | None, seed: str | None
) -> CalendarTrigger:
    wall_now = now if now is not None else _dt.datetime.now(_dt.UTC)
    if isinstance(spec, Cron):
        return CronTrigger(spec.expr, get_zone(spec.tz), seed=spec.seed or seed, day_and=spec.days == "and")
    if isinstance(spec, Calendar):
        return CalendarExprTrigger(spec.expr, get_zone(spec.tz))
    if isinstance(spec, RRule):
        zone = get_zone(spec.tz)
        dtstart = (
            start if start is not None else wall_now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        )
        return RRuleTrigger(spec.rule, zone, dtstart=dtstart)
    if isinstance(spec, CalendarEvery):
        zone = get_zone(spec.tz)
        anchor = spec.anchor or start or _ceil_second(wall_now)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=zone)
        return CalendarIntervalTrigger(spec.months, anchor, zone)
    if isinstance(spec, At):
        return AtTrigger(spec.at)
    # in a union, "once" and intervals count on the wall clock from the start
    anchor = start or _ceil_second(wall_now)
    if isinstance(spec, Once):
        return AtTrigger(anchor)
    if isinstance(spec, Every):
        return WallGridTrigger(spec.period, anchor)
    raise TypeError(f"unknown trigger spec {spec!r}")
