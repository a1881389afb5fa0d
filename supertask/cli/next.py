"""``supertask next``: preview the next fire times of a schedule and validate it (like ``systemd-analyze calendar``)."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from typing import Annotated, Literal

from cyclopts import Parameter

from ._params import OptionalWholeNumber, WholeNumber

__all__ = ["next_"]


def _describe(spec: object, tz: _dt.tzinfo) -> str:
    from ..model import AnyOf, At, Calendar, CalendarEvery, Cron, Every, Once, RRule

    if isinstance(spec, Once):
        return "once, when the job starts"
    if isinstance(spec, Every):
        from ..durations import format_duration

        return f"every {format_duration(spec.period)} on the monotonic clock (DST and clock steps never move it)"
    if isinstance(spec, At):
        return f"once at {spec.at.isoformat()}"
    if isinstance(spec, Cron):
        rule = "; day-of-month AND day-of-week" if spec.days == "and" else ""
        return f"cron {spec.expr!r} in {tz}{rule}"
    if isinstance(spec, Calendar):
        from ..triggers.calendar import parse_calendar

        c = parse_calendar(spec.expr)
        return f"calendar {c.normalized!r}" + ("" if c.zone else f" in {tz}")
    if isinstance(spec, RRule):
        return f"recurrence rule {spec.rule!r} in {tz}"
    if isinstance(spec, CalendarEvery):
        n = spec.months
        unit = f"{n // 12} year(s)" if n % 12 == 0 else f"{n} month(s)"
        return f"every {unit} on the calendar in {tz} (day clamped to the month's end)"
    if isinstance(spec, AnyOf):
        return "any of: " + "; ".join(_describe(s, tz) for s in spec.triggers)
    return repr(spec)


def _gap(seconds: float) -> str:
    future = seconds >= 0
    if abs(seconds) < 60:
        from ..durations import format_duration

        text = format_duration(abs(seconds))
        return f"in {text}" if future else f"{text} ago"
    s = round(abs(seconds))
    parts: list[str] = []
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if s >= size or (unit == "s" and not parts):
            parts.append(f"{s // size}{unit}")
            s %= size
        if len(parts) == 2:
            break
    text = " ".join(parts)
    return f"in {text}" if future else f"{text} ago"


def next_(
    *,
    when: Annotated[list[str], Parameter(consume_multiple=False, negative="")],
    iterations: Annotated[WholeNumber, Parameter(name=["--iterations", "-n"])] = 5,
    tz: str | None = None,
    from_: Annotated[str | None, Parameter(name="--from")] = None,
    start: str | None = None,
    end: str | None = None,
    count: OptionalWholeNumber = None,
    name: str | None = None,
    cron_days: Literal["or", "and"] = "or",
    json_: Annotated[bool, Parameter(name="--json", negative="")] = False,
) -> int:
    """Show the next fire times of a schedule (local, UTC, gap to now) and validate it.

    Takes every --when form of `supertask run` (see `supertask run --help`);
    several --when make a union. Calendar times are wall-clock times in --tz
    (default local).
    DST: a time that does not exist runs once, when the gap ends (02:30 -> 03:00);
    a time that exists twice runs once, at its first occurrence, unless the
    expression runs every hour or more often (then in both, to keep its spacing).
    Cron days: when both day-of-month and day-of-week are restricted, a day
    matching either runs (classic cron OR); calendar expressions need both (AND).

    Examples:
      supertask next --when='0 9 * * MON-FRI' -n 5 --tz Europe/Berlin
      supertask next --when='Mon..Fri *-*-* 09:00:00' -n 3
      supertask next --when='RRULE:FREQ=MONTHLY;BYDAY=-1FR' -n 12
      supertask next --when='0 30 2 * * *' --tz Europe/Berlin --from 2027-03-27 -n 3

    Parameters
    ----------
    when
        The schedule (repeat for a union).
    iterations
        How many fire times to show.
    tz
        Time zone of calendar forms and of the times shown (default local).
    from_
        Show the times from this instant on instead of now (2027-03-27, '2027-03-27 09:00', ISO with offset).
    start
        The job's --start: no time before it; intervals, 1mo/1y and RRULEs without DTSTART count from it.
    end
        The job's --end: no time after it.
    count
        The job's --count: at most this many times in all.
    name
        The job's name: what H in cron hashes (give the job's --name to see its times; default: the expression).
    cron_days
        or (classic cron): when both day fields are restricted, either may match; and: both must.
    json_
        Print one JSON object per line instead of a table.
    """
    from ..errors import SpecError
    from ..model import Every, Once
    from ..timezones import get_zone
    from ..triggers import CalendarTrigger, build_trigger
    from ..triggers.combine import BoundedTrigger
    from ..when import parse_instant, parse_whens, with_cron_days

    if iterations < 1:
        raise SpecError(f"invalid --iterations {iterations}: expected a whole number >= 1")
    if count is not None and count < 1:
        raise SpecError(f"invalid --count {count}: expected a whole number >= 1")
    zone = get_zone(tz)
    spec = with_cron_days(parse_whens(when, tz=tz), cron_days)
    real_now = _dt.datetime.now(_dt.UTC)
    origin = parse_instant(from_, tz=tz, what="--from") if from_ is not None else real_now
    start_at = parse_instant(start, tz=tz, what="--start") if start is not None else None
    end_at = parse_instant(end, tz=tz, what="--end") if end is not None else None
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise SpecError(f"invalid --end {end!r}: it is not after --start {start!r}")  # as `run` says
    limit = iterations if count is None else min(iterations, count)
    times: list[_dt.datetime] = []
    note = ""
    if isinstance(spec, Once):
        times = [max(origin, start_at) if start_at else origin]
        note = "once, when the job starts (@reboot: when the scheduler starts)"
    elif isinstance(spec, Every):
        first = start_at if start_at is not None and start_at > origin else origin
        k = 0
        while len(times) < limit:
            t = first + _dt.timedelta(seconds=k * spec.period)
            if end_at is not None and t > end_at:
                break
            times.append(t)
            k += 1
        note = "a monotonic interval: times assume the job starts at the first one"
    else:
        trigger = build_trigger(spec, now=origin, start=start_at, seed=name)
        assert isinstance(trigger, CalendarTrigger)
        if start_at is not None or end_at is not None:
            trigger = BoundedTrigger(trigger, start_at, end_at)
        zone = getattr(trigger, "tz", None) or zone
        cursor: _dt.datetime | None = origin - _dt.timedelta(microseconds=1)
        while len(times) < limit and cursor is not None:
            cursor = trigger.next_after(cursor)
            if cursor is not None:
                times.append(cursor)
    out = sys.stdout
    if json_:
        for i, t in enumerate(times, 1):
            row = {
                "n": i,
                "local": t.astimezone(zone).isoformat(),
                "utc": t.astimezone(_dt.UTC).isoformat(),
                "from_now": round(t.timestamp() - real_now.timestamp(), 6),
            }
            print(json.dumps(row), file=out)
        return 0
    print(f"  Original form: {' | '.join(when)}", file=out)
    print(f"        Meaning: {_describe(spec, zone)}", file=out)
    if note:
        print(f"           Note: {note}", file=out)
    if not times:
        print("    Next elapse: never (nothing matches after the start, up to the year 2199)", file=out)
        return 0
    rows = []
    for i, t in enumerate(times, 1):
        loc = t.astimezone(zone)
        frac = f".{loc.microsecond:06d}".rstrip("0") if loc.microsecond else ""
        rows.append(
            (
                str(i),
                loc.strftime("%a %Y-%m-%d %H:%M:%S") + frac + " " + (loc.tzname() or ""),
                t.astimezone(_dt.UTC).strftime("%a %Y-%m-%d %H:%M:%S") + frac + " UTC",
                _gap(t.timestamp() - real_now.timestamp()),
            )
        )
    header = ("#", "local time", "UTC", "from now")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join([r[0].rjust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]), r[3]]), file=out)
    if len(times) < limit:
        print(f"(no more times: {len(times)} in all)", file=out)
    elif count is not None and count < iterations:
        print(f"(no more runs: --count {count})", file=out)
    return 0
