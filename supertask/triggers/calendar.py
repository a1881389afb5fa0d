"""Calendar expressions in the style of systemd ``OnCalendar`` (``Mon..Fri *-*-* 09:00:00 Europe/Berlin``).

Form: ``[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [ZONE]``, each part optional
(a missing date is ``*-*-*``, a missing time ``00:00:00``, missing seconds ``00``).

- every component takes ``*``, a number, a list ``a,b``, a range ``a..b`` and a repetition
  ``a/n`` or ``a..b/n`` (start, then every n); seconds may be fractional (``*:*:0/0.25``);
- weekdays are names (``Mon``, ``monday``), lists and ranges (``Mon..Fri,Sun``) and must
  match *as well as* the date (systemd's AND, unlike cron's OR);
- ``~`` counts days from the end of the month: ``*-02~01`` is the last day of February,
  ``Mon *-05~07/1`` the last Monday of May;
- shorthands ``minutely hourly daily weekly monthly quarterly semiannually yearly annually``;
- a trailing IANA zone name (or ``UTC``) overrides the job's zone.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as _dt
import re
from dataclasses import dataclass

from ..errors import WhenError
from .base import CalendarTrigger
from .wall import next_field_match, next_wall_instant

__all__ = ["CALENDAR_FORMS", "CalendarExprTrigger", "CalendarSpec", "looks_like_calendar", "parse_calendar"]

CALENDAR_FORMS = (
    "[WEEKDAYS] [[YEAR-]MONTH-DAY] [HH:MM[:SS]] [ZONE], e.g. 'Mon..Fri *-*-* 09:00', '*-02-29 12:00', "
    "'*-*~01 18:00', or minutely/hourly/daily/weekly/monthly/quarterly/semiannually/yearly"
)

SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
}
_WEEKDAYS = {
    name: i
    for i, names in enumerate(
        [
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ]
    )
    for name in names
}
_WEEKDAY_TOKEN = re.compile(r"^[A-Za-z]+(?:(?:\.\.|,)[A-Za-z]+)*,?$")
_YEARS = (1970, 2199)
_USEC = 1_000_000


@dataclass(frozen=True)
class CalendarSpec:
    """A parsed calendar expression: the allowed values of each component."""

    text: str
    weekdays: frozenset[int]  # Monday = 0
    years: tuple[int, ...]
    months: tuple[int, ...]
    days: tuple[int, ...]  # from the start of the month
    last_days: tuple[int, ...]  # ``~``: 1 = the last day of the month
    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    usecs: tuple[int, ...]  # seconds in microseconds
    zone: str | None
    normalized: str


def _bad(text: str, why: str) -> WhenError:
    return WhenError(f"invalid calendar expression {text!r}: {why}; expected {CALENDAR_FORMS}")


def _number(tok: str, what: str, text: str, frac: bool) -> float:
    try:
        v = float(tok) if frac else int(tok)
    except ValueError:
        raise _bad(text, f"{what} value {tok!r} is not a number") from None
    return v


def _component(
    comp: str, what: str, low: int, high: int, text: str, *, frac: bool = False, star: tuple[int, ...] | None = None
) -> tuple[int, ...]:
    """Values of one component (seconds in microseconds when *frac*)."""
    scale = _USEC if frac else 1
    out: set[int] = set()
    if not comp:
        raise _bad(text, f"empty {what}")
    for item in comp.split(","):
        if not item:
            raise _bad(text, f"empty item in {what} {comp!r}")
        base, slash, step_text = item.partition("/")
        step = 0
        if slash:
            step = round(_number(step_text, f"{what} repetition", text, frac) * scale)
            if step <= 0:
                raise _bad(text, f"{what} repetition {step_text!r} must be greater than zero")
        if base == "*":
            if not slash:
                if star is not None:
                    out.update(star)
                else:
                    out.update(range(low * scale, high * scale + 1, scale))
                continue
            start, end = low * scale, high * scale + (scale - 1)
        elif ".." in base:
            a, _, b = base.partition("..")
            start = round(_number(a, what, text, frac) * scale)
            end = round(_number(b, what, text, frac) * scale)
            if start > end:
                raise _bad(text, f"{what} range {base!r} runs backwards")
        else:
            start = round(_number(base, what, text, frac) * scale)
            end = high * scale + (scale - 1) if slash else start
        if not (low * scale <= start and end <= high * scale + (scale - 1)):
            raise _bad(text, f"{what} {base!r} is out of range {low}-{high}")
        out.update(range(start, end + 1, step or scale) if (slash or ".." in base) else [start])
    return tuple(sorted(out))


def _last_days(comp: str, text: str) -> tuple[int, ...]:
    """Days counted from the end of the month (1 = the last); ``~07/1`` runs from the 7th last towards the end."""
    out: set[int] = set()
    for item in comp.split(","):
        base, slash, step_text = item.partition("/")
        if slash:
            step = int(_number(step_text, "day repetition", text, False))
            if step <= 0:
                raise _bad(text, f"day repetition {step_text!r} must be greater than zero")
            start = 31 if base == "*" else int(_number(base, "day", text, False))
            out.update(range(start, 0, -step))
        else:
            out.update(_component(item, "day", 1, 31, text))
    if not out or max(out) > 31 or min(out) < 1:
        raise _bad(text, f"day {comp!r} after ~ is out of range 1-31")
    return tuple(sorted(out))


def _weekdays(tok: str, text: str) -> frozenset[int]:
    out: set[int] = set()
    for item in tok.rstrip(",").split(","):
        a, dots, b = item.partition("..")
        try:
            start = _WEEKDAYS[a.lower()]
            end = _WEEKDAYS[b.lower()] if dots else start
        except KeyError:
            raise _bad(text, f"unknown weekday in {item!r}") from None
        day = start
        out.add(day)
        while day != end:
            day = (day + 1) % 7
            out.add(day)
    return frozenset(out)


def _is_zone(tok: str) -> bool:
    return tok.upper() in ("UTC", "Z") or ("/" in tok and not any(c in tok for c in ":*~"))


def looks_like_calendar(text: str) -> bool:
    """Whether *text* is meant as a calendar expression (so its parse error is the one to show)."""
    low = text.strip().lower()
    if low.split()[0:1] and low.split()[0] in SHORTHANDS:
        return True
    return any(s in low for s in (":", "..", "~")) or bool(re.search(r"(^|\s)[\d*,./]+-[\d*,./]+", low))


def parse_calendar(text: str) -> CalendarSpec:
    """Parse a calendar expression.

    Raises:
        WhenError: naming the bad part and listing the accepted forms.
    """
    tokens = text.split()
    if not tokens:
        raise _bad(text, "it is empty")
    zone: str | None = None
    if (len(tokens) > 1 or tokens[0].lower() not in SHORTHANDS) and _is_zone(tokens[-1]):
        zone = tokens.pop()
    if len(tokens) >= 1 and tokens[0].lower() in SHORTHANDS:
        if len(tokens) > 1:
            raise _bad(text, f"{tokens[0]!r} takes nothing but a zone after it")
        tokens = SHORTHANDS[tokens[0].lower()].split()
    weekdays = frozenset(range(7))
    wd_text = "*"
    if tokens and _WEEKDAY_TOKEN.match(tokens[0]) and tokens[0].lower() not in SHORTHANDS:
        wd_text = tokens[0]
        weekdays = _weekdays(tokens.pop(0), text)
    date_tok = time_tok = None
    for tok in tokens:
        if ":" in tok:
            if time_tok is not None:
                raise _bad(text, f"two times {time_tok!r} and {tok!r}")
            time_tok = tok
        elif "-" in tok or "~" in tok:
            if date_tok is not None or time_tok is not None:
                raise _bad(text, f"unexpected {tok!r} (the date comes before the time)")
            date_tok = tok
        else:
            raise _bad(text, f"{tok!r} is not a weekday, date, time or zone")
    if zone is not None:
        from ..timezones import get_zone

        try:
            get_zone(zone)
        except Exception:
            raise _bad(text, f"unknown time zone {zone!r}") from None
    # date
    year_t, month_t, day_t = "*", "*", "*"
    last = False
    if date_tok is not None:
        if "~" in date_tok:
            left, _, day_t = date_tok.rpartition("~")
            last = True
            parts = left.split("-")
        else:
            parts = date_tok.split("-")
            day_t = parts.pop()
        if len(parts) == 2:
            year_t, month_t = parts
        elif len(parts) == 1:
            month_t = parts[0]
        else:
            raise _bad(text, f"date {date_tok!r} is not YEAR-MONTH-DAY or MONTH-DAY")
    years = _component(year_t, "year", *_YEARS, text)
    months = _component(month_t, "month", 1, 12, text)
    days = _last_days(day_t, text) if last else _component(day_t, "day", 1, 31, text)
    # time
    hour_t, minute_t, second_t = "00", "00", "00"
    if time_tok is not None:
        tparts = time_tok.split(":")
        if len(tparts) == 2:
            hour_t, minute_t = tparts
        elif len(tparts) == 3:
            hour_t, minute_t, second_t = tparts
        else:
            raise _bad(text, f"time {time_tok!r} is not HH:MM or HH:MM:SS")
    hours = _component(hour_t, "hour", 0, 23, text)
    minutes = _component(minute_t, "minute", 0, 59, text)
    usecs = _component(second_t, "second", 0, 59, text, frac=True)
    date_norm = f"{year_t}-{month_t}{'~' if last else '-'}{day_t}"
    norm = f"{'' if wd_text == '*' else wd_text + ' '}{date_norm} {hour_t}:{minute_t}:{second_t}"
    if zone:
        norm += f" {zone}"
    return CalendarSpec(
        text=text,
        weekdays=weekdays,
        years=years,
        months=months,
        days=() if last else days,
        last_days=days if last else (),
        hours=hours,
        minutes=minutes,
        usecs=usecs,
        zone=zone,
        normalized=norm,
    )


class CalendarExprTrigger(CalendarTrigger):
    """Fires at the wall times a calendar expression names, in one zone (DST rules of :mod:`.wall`)."""

    def __init__(self, text: str, tz: _dt.tzinfo) -> None:
        self.spec = parse_calendar(text)
        if self.spec.zone is not None:
            from ..timezones import get_zone

            tz = get_zone(self.spec.zone)
        self.text = text
        self.tz = tz
        self.interval_like = len(self.spec.hours) == 24
        self._fractional = any(u % _USEC for u in self.spec.usecs)
        self._cache: dict[tuple[int, int], tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return f"CalendarExprTrigger({self.text!r}, tz={self.tz})"

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        key = (year, month)
        got = self._cache.get(key)
        if got is None:
            s = self.spec
            first_wd, last = _calendar.monthrange(year, month)
            days = {last + 1 - n for n in s.last_days if n <= last} | {d for d in s.days if d <= last}
            got = tuple(sorted(d for d in days if (first_wd + d - 1) % 7 in s.weekdays))
            self._cache[key] = got
        return got

    def _next_naive(self, t: _dt.datetime) -> _dt.datetime | None:
        s = self.spec
        start = (t.year, t.month, t.day, t.hour, t.minute, t.second * _USEC + t.microsecond)
        got = next_field_match(s.years, s.months, self._days, s.hours, s.minutes, s.usecs, start)
        if got is None:
            return None
        year, month, day, hour, minute, u = got
        return _dt.datetime(year, month, day, hour, minute, u // _USEC, u % _USEC)

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        resolution = _dt.timedelta(microseconds=1) if self._fractional else _dt.timedelta(seconds=1)
        return next_wall_instant(after, self.tz, self._next_naive, both_folds=self.interval_like, resolution=resolution)
