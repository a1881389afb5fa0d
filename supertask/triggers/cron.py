"""Cron expressions with 5, 6 (seconds first) or 7 (… year) fields: parse once, then step forward in wall time."""

from __future__ import annotations

import bisect
import datetime as _dt
from dataclasses import dataclass

from ..errors import CronError
from .base import CalendarTrigger

__all__ = ["CronFields", "CronTrigger", "parse_cron"]

_MONTHS = {
    n: i for i, n in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)
}
_DAYS = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}

#: (name, low, high, names)
_SPECS = {
    "second": (0, 59, None),
    "minute": (0, 59, None),
    "hour": (0, 23, None),
    "day-of-month": (1, 31, None),
    "month": (1, 12, _MONTHS),
    "day-of-week": (0, 7, _DAYS),
    "year": (1970, 2199, None),
}
_LAYOUTS = {
    5: ("minute", "hour", "day-of-month", "month", "day-of-week"),
    6: ("second", "minute", "hour", "day-of-month", "month", "day-of-week"),
    7: ("second", "minute", "hour", "day-of-month", "month", "day-of-week", "year"),
}
CRON_FORMS = (
    "5 fields 'min hour dom mon dow', 6 fields with seconds first, or 7 with a year last; "
    "each field *, ?, a number or name, a-b, */n, a-b/n or a list with commas"
)


@dataclass(frozen=True)
class CronFields:
    """The sorted allowed values of each field of a parsed cron expression."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    years: tuple[int, ...]
    dom_restricted: bool
    dow_restricted: bool


def _value(token: str, field: str, expr: str) -> int:
    low, high, names = _SPECS[field]
    t = token.upper()
    if names and t in names:
        return names[t]
    if not t.isdigit():
        raise CronError(f"invalid cron expression {expr!r}: {field} value {token!r} is not a number or name")
    v = int(t)
    if not low <= v <= high:
        raise CronError(f"invalid cron expression {expr!r}: {field} value {v} is out of range {low}-{high}")
    return v


def _field(text: str, field: str, expr: str) -> tuple[set[int], bool]:
    """Return (allowed values, restricted?) for one field."""
    low, high, _ = _SPECS[field]
    out: set[int] = set()
    restricted = True
    for item in text.split(","):
        if not item:
            raise CronError(f"invalid cron expression {expr!r}: empty item in {field} field {text!r}")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(
                    f"invalid cron expression {expr!r}: {field} step {step_text!r} must be a positive number"
                )
            step = int(step_text)
        if base in ("*", "?"):
            if base == "?" and field not in ("day-of-month", "day-of-week"):
                raise CronError(f"invalid cron expression {expr!r}: '?' is only allowed in day-of-month or day-of-week")
            start, end = low, high
            if step == 1 and len(text.split(",")) == 1:
                restricted = False
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, field, expr), _value(b, field, expr)
            if start > end:
                raise CronError(f"invalid cron expression {expr!r}: {field} range {base!r} runs backwards")
        else:
            start = _value(base, field, expr)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return out, restricted


def parse_cron(expr: str) -> CronFields:
    """Parse a cron expression.

    Raises:
        CronError: naming the bad field and value.
    """
    parts = expr.split()
    layout = _LAYOUTS.get(len(parts))
    if layout is None:
        raise CronError(f"invalid cron expression {expr!r}: has {len(parts)} fields; expected {CRON_FORMS}")
    values = {name: _field(text, name, expr) for name, text in zip(layout, parts, strict=False)}
    dow, dow_restricted = values.get("day-of-week", (set(range(7)), False))
    weekdays = frozenset(d % 7 for d in dow)
    dom, dom_restricted = values["day-of-month"]
    return CronFields(
        seconds=tuple(sorted(values["second"][0])) if "second" in values else (0,),
        minutes=tuple(sorted(values["minute"][0])),
        hours=tuple(sorted(values["hour"][0])),
        days=tuple(sorted(dom)),
        months=tuple(sorted(values["month"][0])),
        weekdays=weekdays,
        years=tuple(sorted(values["year"][0])) if "year" in values else tuple(range(1970, 2200)),
        dom_restricted=dom_restricted,
        dow_restricted=dow_restricted,
    )


def _next_in(values: tuple[int, ...], v: int) -> int | None:
    i = bisect.bisect_left(values, v)
    return values[i] if i < len(values) else None


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (_dt.date(year, month + 1, 1) - _dt.timedelta(days=1)).day


class CronTrigger(CalendarTrigger):
    """Fires at wall-clock times matching a cron expression, in one time zone.

    Day-of-month and day-of-week follow classic cron: when both are restricted
    (neither ``*`` nor ``?``), a day matches if *either* matches.
    """

    def __init__(self, expr: str, tz: _dt.tzinfo) -> None:
        self.expr = expr
        self.tz = tz
        self.fields = parse_cron(expr)

    def __repr__(self) -> str:
        return f"CronTrigger({self.expr!r}, tz={self.tz})"

    def _day_matches(self, d: _dt.date) -> bool:
        f = self.fields
        dom_ok = d.day in f.days
        dow_ok = (d.isoweekday() % 7) in f.weekdays
        if f.dom_restricted and f.dow_restricted:
            return dom_ok or dow_ok
        return dom_ok and dow_ok

    def _next_naive(self, t: _dt.datetime) -> _dt.datetime | None:
        """Smallest naive wall time >= t (whole seconds) matching the fields."""
        f = self.fields
        year, month, day, hour, minute, second = t.year, t.month, t.day, t.hour, t.minute, t.second
        while True:
            y = _next_in(f.years, year)
            if y is None:
                return None
            if y != year:
                year, month, day, hour, minute, second = y, 1, 1, 0, 0, 0
            mo = _next_in(f.months, month)
            if mo is None:
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if mo != month:
                month, day, hour, minute, second = mo, 1, 0, 0, 0
            last = _days_in_month(year, month)
            while day <= last and not self._day_matches(_dt.date(year, month, day)):
                day, hour, minute, second = day + 1, 0, 0, 0
            if day > last:
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                if month > 12:
                    year, month = year + 1, 1
                continue
            h = _next_in(f.hours, hour)
            if h is None:
                day, hour, minute, second = day + 1, 0, 0, 0
                if day > last:
                    month, day = month + 1, 1
                    if month > 12:
                        year, month = year + 1, 1
                continue
            if h != hour:
                hour, minute, second = h, 0, 0
            mi = _next_in(f.minutes, minute)
            if mi is None:
                hour, minute, second = hour + 1, 0, 0
                if hour > 23:
                    day, hour = day + 1, 0
                    if day > last:
                        month, day = month + 1, 1
                        if month > 12:
                            year, month = year + 1, 1
                continue
            if mi != minute:
                minute, second = mi, 0
            s = _next_in(f.seconds, second)
            if s is None:
                minute, second = minute + 1, 0
                if minute > 59:
                    hour, minute = hour + 1, 0
                    if hour > 23:
                        day, hour = day + 1, 0
                        if day > last:
                            month, day = month + 1, 1
                            if month > 12:
                                year, month = year + 1, 1
                continue
            return _dt.datetime(year, month, day, hour, minute, s)

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        """Return the first matching instant strictly after *after* (aware), in this trigger's zone."""
        local = after.astimezone(self.tz)
        t = local.replace(tzinfo=None, microsecond=0) + _dt.timedelta(seconds=1)
        while True:
            naive = self._next_naive(t)
            if naive is None:
                return None
            candidate = naive.replace(tzinfo=self.tz)
            if candidate > after:
                return candidate
            # a wall time repeated by a DST fold maps before `after`: look further
            t = naive + _dt.timedelta(seconds=1)
