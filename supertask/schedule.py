"""A small fluent builder for schedules in Python code; it produces the same model records as ``--when``.

::

    every(20, "ms")                        # Every(period=0.02)
    every(1, "mo").starting("2027-01-31")  # CalendarEvery(months=1), anchored at --start
    cron("0 9 * * MON-FRI").tz("Europe/Berlin")
    daily().at("09:00")                    # Calendar("*-*-* 09:00:00")
    weekly("Mon", "Fri").at("18:30").tz("UTC")
    monthly(-1).at("23:00")                # the last day of every month
    rrule("RRULE:FREQ=MONTHLY;BYDAY=-1FR") | daily().at("12:00")   # a union: once per instant

Pass a schedule to :meth:`supertask.Scheduler.add` (its bounds, jitter, count and misfire
policy come along), read ``.spec`` for the model record, or preview with ``.next(5)``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal

import msgspec

from .errors import SpecError
from .model import AnyOf, At, Calendar, CalendarEvery, Cron, Every, Misfire, Once, RRule, TriggerSpec

__all__ = [
    "Schedule",
    "at",
    "calendar",
    "cron",
    "daily",
    "every",
    "hourly",
    "monthly",
    "once",
    "reboot",
    "rrule",
    "weekly",
    "yearly",
]

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "hz": -1.0,
    "khz": -1e3,
}
_MONTH_UNITS = {"mo": 1, "month": 1, "months": 1, "y": 12, "year": 12, "years": 12}
_Member = Once | At | Every | Cron | Calendar | RRule | CalendarEvery


class Schedule:
    """When a job runs: a trigger record plus its bounds, jitter, count and misfire policy. Immutable."""

    __slots__ = ("_calendar", "_opts", "_spec")

    def __init__(self, spec: TriggerSpec, *, calendar: tuple[str, str] | None = None, **opts: Any) -> None:
        self._spec = spec
        #: for daily()/weekly()/…: (weekdays, date) of a calendar expression whose time .at() sets
        self._calendar = calendar
        self._opts: dict[str, Any] = opts

    def _with(self, spec: TriggerSpec | None = None, **opts: Any) -> Schedule:
        return Schedule(self._spec if spec is None else spec, calendar=self._calendar, **{**self._opts, **opts})

    @property
    def spec(self) -> TriggerSpec:
        """The model record (what ``--when`` parsing produces)."""
        return self._spec

    @property
    def options(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`Scheduler.add` (start, end, jitter, jitter_mode, misfire, count)."""
        return dict(self._opts)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self._opts.items())
        return f"Schedule({self._spec!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and (self._spec, self._opts) == (other._spec, other._opts)

    def __hash__(self) -> int:
        return hash(repr(self))

    def tz(self, name: str) -> Schedule:
        """The same schedule in time zone *name* (IANA name, ``UTC`` or ``local``)."""
        from .timezones import get_zone

        get_zone(name)  # raises SpecError for an unknown zone

        def zoned(s: TriggerSpec) -> TriggerSpec:
            if isinstance(s, Cron | Calendar | RRule | CalendarEvery):
                return msgspec.structs.replace(s, tz=name)
            if isinstance(s, AnyOf):
                return AnyOf(triggers=[zoned(t) for t in s.triggers])  # type: ignore[misc]
            raise SpecError(f"{type(s).__name__.lower()} schedules have no time zone: only calendar forms do")

        return self._with(zoned(self._spec))

    def at(self, time: str | _dt.time) -> Schedule:
        """Set the time of day of ``daily()``, ``weekly()``, ``monthly()`` or ``yearly()`` (``"09:00"``)."""
        if self._calendar is None or not isinstance(self._spec, Calendar):
            raise SpecError("at() sets the time of daily(), weekly(), monthly() or yearly() only")
        text = time.isoformat() if isinstance(time, _dt.time) else str(time).strip()
        if text.count(":") not in (1, 2):
            raise SpecError(f"invalid time {text!r}: expected HH:MM or HH:MM:SS")
        weekdays, date = self._calendar
        expr = f"{weekdays} {date} {text}".strip()
        from .triggers.calendar import parse_calendar

        parse_calendar(expr)
        return self._with(msgspec.structs.replace(self._spec, expr=expr))

    def starting(self, when: _dt.datetime | str) -> Schedule:
        """No run before *when* (intervals and calendar intervals count from it)."""
        return self._with(start=_instant(when))

    def until(self, when: _dt.datetime | str) -> Schedule:
        """No run after *when*."""
        return self._with(end=_instant(when))

    def jitter(self, seconds: float | str, mode: Literal["random", "hash"] = "random") -> Schedule:
        """Delay each run by up to *seconds*: ``random`` per run, or one fixed ``hash`` of the job name."""
        if isinstance(seconds, str):
            from .durations import parse_duration

            seconds = parse_duration(seconds, what="jitter", allow_zero=True)
        return self._with(jitter=float(seconds), jitter_mode=mode)

    def misfire(self, policy: str | Misfire, grace: float | None = None) -> Schedule:
        """``run-once``, ``catch-up[:N]`` or ``skip`` (see :class:`supertask.model.Misfire`)."""
        if isinstance(policy, str):
            from .triggers.misfire import parse_misfire

            policy = parse_misfire(policy, grace)
        return self._with(misfire=policy)

    def count(self, n: int) -> Schedule:
        """Stop after *n* runs."""
        if n < 1:
            raise SpecError(f"invalid count {n!r}: expected a whole number >= 1")
        return self._with(count=n)

    def __or__(self, other: Schedule) -> Schedule:
        """A union: fires at every instant of either, once where they meet."""
        members: list[_Member] = []
        for s in (self._spec, other._spec):
            members.extend(s.triggers if isinstance(s, AnyOf) else [s])
        return Schedule(AnyOf(triggers=members), **{**other._opts, **self._opts})

    def next(self, n: int = 5, after: _dt.datetime | None = None) -> list[_dt.datetime]:
        """Preview the next *n* fire instants after *after* (default now); intervals count from *after*."""
        from .triggers import CalendarTrigger, build_trigger
        from .triggers.combine import BoundedTrigger

        origin = after or _dt.datetime.now(_dt.UTC)
        start, end = self._opts.get("start"), self._opts.get("end")
        spec = self._spec
        if isinstance(spec, Once):
            return [origin]
        if isinstance(spec, Every):
            first = start if start is not None and start > origin else origin
            return [first + _dt.timedelta(seconds=k * spec.period) for k in range(n)]
        trigger = build_trigger(spec, now=origin, start=start)
        assert isinstance(trigger, CalendarTrigger)
        if start is not None or end is not None:
            trigger = BoundedTrigger(trigger, start, end)
        out: list[_dt.datetime] = []
        t: _dt.datetime | None = origin - _dt.timedelta(microseconds=1)
        while len(out) < n and t is not None:
            t = trigger.next_after(t)
            if t is not None:
                out.append(t)
        return out


def _instant(when: _dt.datetime | str) -> _dt.datetime:
    if isinstance(when, str):
        from .when import parse_instant

        return parse_instant(when)
    if when.tzinfo is None:
        from .timezones import local_zone
        from .triggers.wall import resolve

        return resolve(when, local_zone())[0]
    return when


def every(amount: float | str | _dt.timedelta, unit: str | None = None) -> Schedule:
    """An interval: ``every(20, "ms")``, ``every("1h30m")``, ``every(10, "kHz")``, ``every(1, "mo")``.

    Seconds-based units run on the monotonic clock; ``mo``/``y`` are calendar months and years.
    """
    if isinstance(amount, _dt.timedelta):
        return Schedule(Every(period=amount.total_seconds()))
    if isinstance(amount, str):
        if unit is not None:
            raise SpecError(f"give the unit once: every({amount!r}, {unit!r})")
        from .when import parse_when

        spec = parse_when(amount if amount.strip().lower().startswith("every") else f"every {amount}")
        return Schedule(spec)
    u = (unit or "s").strip().lower()
    if u in _MONTH_UNITS:
        if amount != int(amount) or amount < 1:
            raise SpecError(f"invalid calendar interval {amount!r} {unit}: expected a whole number >= 1")
        return Schedule(CalendarEvery(months=int(amount) * _MONTH_UNITS[u]))
    scale = _UNITS.get(u)
    if scale is None:
        raise SpecError(f"invalid unit {unit!r}: expected one of {', '.join(sorted(set(_UNITS) | set(_MONTH_UNITS)))}")
    if not amount > 0:
        raise SpecError(f"invalid interval {amount!r}: must be greater than zero")
    period = 1.0 / (amount * -scale) if scale < 0 else amount * scale
    return Schedule(Every(period=period))


def cron(expr: str, tz: str | None = None) -> Schedule:
    """A cron expression (5, 6 or 7 fields, with L W # H); ``.tz()`` sets its zone."""
    from .when import parse_when

    spec = parse_when(expr, tz=tz)
    if not isinstance(spec, Cron):
        raise SpecError(f"invalid cron expression {expr!r}: expected 5 to 7 fields")
    return Schedule(spec)


def calendar(expr: str, tz: str | None = None) -> Schedule:
    """A systemd-style calendar expression (``"Mon..Fri *-*-* 09:00"``)."""
    from .triggers.calendar import parse_calendar

    parse_calendar(expr)
    return Schedule(Calendar(expr=expr, tz=tz))


def rrule(text: str, tz: str | None = None) -> Schedule:
    """An RFC 5545 recurrence rule (``"RRULE:FREQ=MONTHLY;BYDAY=-1FR"``)."""
    from .when import parse_when

    spec = parse_when(text, tz=tz)
    if not isinstance(spec, RRule):
        raise SpecError(f"invalid recurrence rule {text!r}: expected RRULE:…")
    return Schedule(spec)


def _cal(weekdays: str, date: str, time: str = "00:00:00") -> Schedule:
    return Schedule(Calendar(expr=f"{weekdays} {date} {time}".strip()), calendar=(weekdays, date))


def hourly(minute: int = 0) -> Schedule:
    """Every hour at *minute*."""
    return Schedule(Calendar(expr=f"*-*-* *:{minute:02d}:00"))


def daily() -> Schedule:
    """Every day at midnight; ``.at("09:00")`` sets the time."""
    return _cal("", "*-*-*")


def weekly(*days: str) -> Schedule:
    """On these weekdays (default Monday) at midnight: ``weekly("Mon", "Fri").at("18:30")``."""
    return _cal(",".join(days or ("Mon",)), "*-*-*")


def monthly(day: int = 1) -> Schedule:
    """On this day of every month (negative: from the end, ``-1`` = the last day) at midnight."""
    if day == 0 or not -31 <= day <= 31:
        raise SpecError(f"invalid day {day!r}: expected 1 to 31, or -1 to -31 counted from the month's end")
    return _cal("", f"*-*~{-day:02d}" if day < 0 else f"*-*-{day:02d}")


def yearly(month: int = 1, day: int = 1) -> Schedule:
    """On this date of every year at midnight."""
    return _cal("", f"*-{month:02d}-{day:02d}")


def at(when: _dt.datetime | str) -> Schedule:
    """Once at a wall-clock instant; a naive datetime is local time."""
    if isinstance(when, str):
        when = _dt.datetime.fromisoformat(when)
    return Schedule(At(at=_instant(when)))


def once() -> Schedule:
    """Once, as soon as the job starts."""
    return Schedule(Once())


def reboot() -> Schedule:
    """Once, when the scheduler starts (``@reboot``)."""
    return Schedule(Once())
