"""Cron expressions with 5, 6 (seconds first) or 7 (… year) fields: parse once, then step forward in wall time.

Beyond the classic fields this accepts the Quartz/Jenkins extensions: ``L`` (last day of the month),
``L-n`` (n days before it), ``nW`` (weekday nearest day n), ``LW`` (last weekday), ``d#n``
(n-th weekday d of the month), ``dL`` (last weekday d of the month), ``?`` and the hash
spread ``H`` (a stable value per job: ``H``, ``H/15``, ``H(0-29)``, ``H(0-29)/10``).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import hashlib
import re
from dataclasses import dataclass

from ..errors import CronError
from .base import CalendarTrigger
from .wall import next_field_match, next_wall_instant

__all__ = ["CronFields", "CronTrigger", "parse_cron"]

_MONTHS = {
    n: i for i, n in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)
}
_DAYS = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}

#: (low, high, names)
_SPECS = {
    "second": (0, 59, None),
    "minute": (0, 59, None),
    "hour": (0, 23, None),
    "day-of-month": (1, 31, None),
    "month": (1, 12, _MONTHS),
    "day-of-week": (0, 7, _DAYS),
    "year": (1970, 2199, None),
}
#: the range H picks from (day-of-month stays within 1-28 so every month has it)
_HASH_RANGE = {"day-of-month": (1, 28), "day-of-week": (0, 6)}
_LAYOUTS = {
    5: ("minute", "hour", "day-of-month", "month", "day-of-week"),
    6: ("second", "minute", "hour", "day-of-month", "month", "day-of-week"),
    7: ("second", "minute", "hour", "day-of-month", "month", "day-of-week", "year"),
}
CRON_FORMS = (
    "5 fields 'min hour dom mon dow', 6 fields with seconds first, or 7 with a year last; "
    "each field *, ?, a number or name, a-b, */n, a-b/n, a list with commas, or H; "
    "day-of-month also L, L-n, nW, LW; day-of-week also d#n, dL"
)
_HASH = re.compile(r"^H(?:\((\w+)-(\w+)\))?(?:/(\d+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class CronFields:
    """The sorted allowed values of each field of a parsed cron expression, plus the special day rules."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    years: tuple[int, ...]
    dom_restricted: bool
    dow_restricted: bool
    #: day-of-month specials: ("L", n) = n days before the last day; ("W", d) nearest weekday; ("LW", 0)
    dom_special: tuple[tuple[str, int], ...] = ()
    #: day-of-week specials: ("#", weekday, n) n-th weekday of the month; ("L", weekday, 0) the last one
    dow_special: tuple[tuple[str, int, int], ...] = ()


def _err(expr: str, what: str) -> CronError:
    return CronError(f"invalid cron expression {expr!r}: {what}")


def _value(token: str, field: str, expr: str) -> int:
    low, high, names = _SPECS[field]
    t = token.upper()
    if names and t in names:
        return names[t]
    if not t.isdigit():
        raise _err(expr, f"{field} value {token!r} is not a number or name")
    v = int(t)
    if not low <= v <= high:
        raise _err(expr, f"{field} value {v} is out of range {low}-{high}")
    return v


def _hash(seed: str, field: str, n: int) -> int:
    digest = hashlib.sha256(f"{seed}\0{field}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def _field(
    text: str, field: str, expr: str, seed: str
) -> tuple[set[int], bool, list[tuple[str, int]], list[tuple[str, int, int]]]:
    """Return (allowed values, restricted?, day-of-month specials, day-of-week specials) for one field."""
    low, high, _ = _SPECS[field]
    out: set[int] = set()
    dom_sp: list[tuple[str, int]] = []
    dow_sp: list[tuple[str, int, int]] = []
    restricted = True
    items = text.split(",")
    for item in items:
        if not item:
            raise _err(expr, f"empty item in {field} field {text!r}")
        up = item.upper()
        m = _HASH.match(up)
        if m:
            a, b = _HASH_RANGE.get(field, (low, min(high, 6) if field == "day-of-week" else high))
            if m[1] is not None:
                a, b = _value(m[1], field, expr), _value(m[2], field, expr)
                if a > b:
                    raise _err(expr, f"{field} range {item!r} runs backwards")
            if m[3] is not None:
                step = int(m[3])
                if step == 0:
                    raise _err(expr, f"{field} step {m[3]!r} must be a positive number")
                out.update(range(a + _hash(seed, field, min(step, b - a + 1)), b + 1, step))
            else:
                out.add(a + _hash(seed, field, b - a + 1))
            continue
        if field == "day-of-month" and ("L" in up or "W" in up):
            if up == "L":
                dom_sp.append(("L", 0))
            elif up == "LW":
                dom_sp.append(("LW", 0))
            elif re.fullmatch(r"L-\d+", up):
                n = int(up[2:])
                if n > 30:
                    raise _err(expr, f"day-of-month offset {item!r} must be L-0 to L-30")
                dom_sp.append(("L", n))
            elif re.fullmatch(r"\d+W", up):
                dom_sp.append(("W", _value(up[:-1], field, expr)))
            else:
                raise _err(expr, f"day-of-month value {item!r}: expected L, L-n, nW or LW")
            continue
        if field == "day-of-week" and ("#" in up or "L" in up):
            if "#" in up:
                wd_text, _, nth = up.partition("#")
                if not nth.isdigit() or not 1 <= int(nth) <= 5:
                    raise _err(expr, f"day-of-week {item!r}: the n in d#n must be 1 to 5")
                dow_sp.append(("#", _value(wd_text, field, expr) % 7, int(nth)))
            elif up == "L":
                dow_sp.append(("L", 6, 0))  # Quartz: L alone is the last day of the week, Saturday
            elif up.endswith("L"):
                dow_sp.append(("L", _value(up[:-1], field, expr) % 7, 0))
            elif up.startswith("L"):
                dow_sp.append(("L", _value(up[1:], field, expr) % 7, 0))
            else:
                raise _err(expr, f"day-of-week value {item!r}: expected d#n or dL")
            continue
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise _err(expr, f"{field} step {step_text!r} must be a positive number")
            step = int(step_text)
        if base in ("*", "?"):
            if base == "?" and field not in ("day-of-month", "day-of-week"):
                raise _err(expr, "'?' is only allowed in day-of-month or day-of-week")
            start, end = low, high
            if step == 1 and len(items) == 1:
                restricted = False  # only *, ? or */1 leave the day rule to the other field
        elif "-" in base:
            a_text, _, b_text = base.partition("-")
            start, end = _value(a_text, field, expr), _value(b_text, field, expr)
            if start > end:
                raise _err(expr, f"{field} range {base!r} runs backwards")
        else:
            start = _value(base, field, expr)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return out, restricted, dom_sp, dow_sp


def parse_cron(expr: str, *, seed: str | None = None) -> CronFields:
    """Parse a cron expression.

    Args:
        expr: the expression.
        seed: what ``H`` hashes (a job's id or name); default: the expression itself.

    Raises:
        CronError: naming the bad field and value.
    """
    parts = expr.split()
    layout = _LAYOUTS.get(len(parts))
    if layout is None:
        raise _err(expr, f"has {len(parts)} fields; expected {CRON_FORMS}")
    key = expr if seed is None else seed
    values = {name: _field(text, name, expr, key) for name, text in zip(layout, parts, strict=False)}
    for name, (vals, _, dsp, wsp) in values.items():
        if not vals and not dsp and not wsp:
            raise _err(expr, f"{name} field matches nothing")
    dow, dow_restricted, _, dow_special = values.get("day-of-week", (set(range(7)), False, [], []))
    weekdays = frozenset(d % 7 for d in dow)
    dom, dom_restricted, dom_special, _ = values["day-of-month"]
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
        dom_special=tuple(dom_special),
        dow_special=tuple(dow_special),
    )


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """Quartz ``nW``: the weekday (Mon-Fri) nearest *day*, without leaving the month."""
    day = min(day, last)
    wd = _dt.date(year, month, day).weekday()  # Monday = 0
    if wd == 5:  # Saturday: Friday before, or Monday after on the 1st
        return day - 1 if day > 1 else day + 2
    if wd == 6:  # Sunday: Monday after, or Friday before on the last day
        return day + 1 if day < last else day - 2
    return day


def month_days(f: CronFields, year: int, month: int, *, day_and: bool = False) -> tuple[int, ...]:
    """The days of one month that match the day-of-month and day-of-week fields.

    Classic OR rule when both are restricted; with *day_and*, a day must match both.
    """
    last = _days_in_month(year, month)
    first_wd = (_dt.date(year, month, 1).isoweekday()) % 7  # 0 = Sunday
    dom: set[int] = {d for d in f.days if d <= last}
    for kind, n in f.dom_special:
        if kind == "L":
            if last - n >= 1:
                dom.add(last - n)
        elif kind == "W":
            if n <= last:
                dom.add(_nearest_weekday(year, month, n, last))
        else:  # LW: the last day, or the Friday before when it falls on a weekend
            wd = _dt.date(year, month, last).weekday()
            dom.add(last if wd < 5 else last - (wd - 4))
    dow: set[int] = {d for d in range(1, last + 1) if (first_wd + d - 1) % 7 in f.weekdays}
    for kind, wd, n in f.dow_special:
        first = 1 + (wd - first_wd) % 7
        if kind == "#":
            d = first + 7 * (n - 1)
            if d <= last:
                dow.add(d)
        else:
            dow.add(first + 7 * ((last - first) // 7))
    dom_r = f.dom_restricted or bool(f.dom_special)
    dow_r = f.dow_restricted or bool(f.dow_special)
    if dom_r and dow_r:
        days = (dom & dow) if day_and else (dom | dow)
    elif dom_r:
        days = dom
    elif dow_r:
        days = dow
    else:
        days = set(range(1, last + 1))
    return tuple(sorted(days))


class CronTrigger(CalendarTrigger):
    """Fires at wall-clock times matching a cron expression, in one time zone.

    Day-of-month and day-of-week follow classic cron: when both are restricted
    (neither is ``*``, ``*/1`` or ``?``; ``*/2`` and ``1-31`` are restricted), a day
    matches if *either* matches. DST gaps and folds follow :mod:`supertask.triggers.wall`:
    an expression that fires every hour (hour field ``*``) fires in both halves of a fold;
    any other fires once.
    """

    def __init__(self, expr: str, tz: _dt.tzinfo, *, seed: str | None = None, day_and: bool = False) -> None:
        self.expr = expr
        self.tz = tz
        self.fields = parse_cron(expr, seed=seed)
        #: require both day-of-month and day-of-week (like Quartz/croniter's day_or=False) instead of either
        self.day_and = day_and
        self.interval_like = len(self.fields.hours) == 24
        self._month_cache: dict[tuple[int, int], tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return f"CronTrigger({self.expr!r}, tz={self.tz})"

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        key = (year, month)
        days = self._month_cache.get(key)
        if days is None:
            days = self._month_cache[key] = month_days(self.fields, year, month, day_and=self.day_and)
        return days

    def _day_matches(self, d: _dt.date) -> bool:
        return d.day in self._days(d.year, d.month)

    def _next_naive(self, t: _dt.datetime) -> _dt.datetime | None:
        """Smallest naive wall time >= t (whole seconds) matching the fields."""
        f = self.fields
        if t.microsecond:
            t = t.replace(microsecond=0) + _dt.timedelta(seconds=1)
        start = (t.year, t.month, t.day, t.hour, t.minute, t.second)
        got = next_field_match(f.years, f.months, self._days, f.hours, f.minutes, f.seconds, start)
        return None if got is None else _dt.datetime(*got)

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        """Return the first matching instant strictly after *after* (aware), in this trigger's zone."""
        return next_wall_instant(after, self.tz, self._next_naive, both_folds=self.interval_like)
