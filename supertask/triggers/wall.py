"""Wall-clock arithmetic shared by calendar triggers: the DST rules for times that do not exist or exist twice.

The rules (stated in the README and ``--help``):

- **Gap** (spring forward): a wall time that does not exist fires once, at the first
  valid instant after it, i.e. the instant the gap ends (``02:30`` on the day Berlin
  jumps from 02:00 to 03:00 fires at 03:00 CEST). Several wall times in one gap, and a
  real match at the gap's end, fire once together.
- **Fold** (fall back): a wall time that exists twice fires once, at its first
  occurrence, unless the trigger is *interval-like* (it fires every hour or more often:
  ``*/15 * * * *``, ``FREQ=HOURLY``), which fires at both occurrences to keep its spacing.

Every function compares instants by their timestamps: Python compares two aware
datetimes of the same zone by wall time and ignores ``fold``, which is wrong in a fold.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections.abc import Callable, Sequence

__all__ = ["SPAN", "gap_end", "next_field_match", "next_in", "next_wall_instant", "resolve", "transition_near"]

UTC = _dt.UTC
#: longest DST shift handled (real zones shift by 30 min to 2 h)
SPAN = _dt.timedelta(hours=3)
_ONE_S = _dt.timedelta(seconds=1)


def resolve(naive: _dt.datetime, tz: _dt.tzinfo) -> tuple[_dt.datetime, _dt.datetime | None]:
    """Map a naive wall time to (first instant, second instant of a fold or None).

    A wall time inside a DST gap maps to the instant the gap ends.
    """
    a0 = naive.replace(tzinfo=tz, fold=0)
    off0 = a0.utcoffset()
    a1 = naive.replace(tzinfo=tz, fold=1)
    off1 = a1.utcoffset()
    if off0 == off1:
        return a0, None
    assert off0 is not None and off1 is not None
    if off0 > off1:  # fold: fold=0 is the earlier occurrence
        return a0, a1
    return gap_end(naive, tz), None


def gap_end(naive: _dt.datetime, tz: _dt.tzinfo) -> _dt.datetime:
    """The instant a DST gap containing the wall time *naive* ends (found by bisection to the second)."""
    off_before = naive.replace(tzinfo=tz, fold=0).utcoffset()
    off_after = naive.replace(tzinfo=tz, fold=1).utcoffset()
    assert off_before is not None and off_after is not None
    lo = int((naive - off_after).replace(tzinfo=UTC).timestamp())  # before the transition
    hi = int(-(-(naive - off_before).replace(tzinfo=UTC).timestamp() // 1))  # after it
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _dt.datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == off_before:
            lo = mid
        else:
            hi = mid
    return _dt.datetime.fromtimestamp(hi, UTC).astimezone(tz)


def transition_near(instant: _dt.datetime, tz: _dt.tzinfo, span: _dt.timedelta = SPAN) -> _dt.timedelta:
    """The size of a UTC-offset change within *span* of *instant* (zero when there is none)."""
    u = instant.astimezone(UTC)
    before = (u - span).astimezone(tz).utcoffset()
    after = (u + span).astimezone(tz).utcoffset()
    assert before is not None and after is not None
    return abs(after - before)


def next_wall_instant(
    after: _dt.datetime,
    tz: _dt.tzinfo,
    next_naive: Callable[[_dt.datetime], _dt.datetime | None],
    *,
    both_folds: bool,
    resolution: _dt.timedelta = _ONE_S,
) -> _dt.datetime | None:
    """The first instant strictly after *after* whose wall time in *tz* matches, with the DST rules above.

    Args:
        after: an aware datetime.
        tz: the zone the wall times are in.
        next_naive: returns the smallest matching naive wall time ``>= t``, or None when there is none.
        both_folds: fire at both occurrences of a repeated wall time (interval-like triggers).
        resolution: the smallest step between two matching wall times.
    """
    after_ts = after.timestamp()
    local = after.astimezone(tz).replace(tzinfo=None, fold=0)
    if both_folds:
        shift = transition_near(after, tz)
        t = local - shift + resolution if shift else local + resolution
    else:
        t = local + resolution
    if resolution >= _ONE_S:
        t = t.replace(microsecond=0)  # the next whole second after *after*
    best: _dt.datetime | None = None
    best_ts = 0.0
    for _ in range(1_000_000):
        n = next_naive(t)
        if n is None:
            return best
        a0, a1 = resolve(n, tz)
        ts0 = a0.timestamp()
        if best is not None and ts0 >= best_ts:
            return best
        if ts0 > after_ts:
            return a0  # fold-0 instants grow with the wall time: nothing later can be earlier
        if both_folds and a1 is not None:
            ts1 = a1.timestamp()
            if ts1 > after_ts and (best is None or ts1 < best_ts):
                best, best_ts = a1, ts1
        t = n + resolution
    raise RuntimeError(f"no next wall time found after {after.isoformat()}")  # pragma: no cover


def next_in(values: Sequence[int], v: int) -> int | None:
    """The smallest of the sorted *values* that is >= *v*, or None."""
    i = bisect.bisect_left(values, v)
    return values[i] if i < len(values) else None


def next_field_match(
    years: Sequence[int],
    months: Sequence[int],
    days: Callable[[int, int], Sequence[int]],
    hours: Sequence[int],
    minutes: Sequence[int],
    finest: Sequence[int],
    start: tuple[int, int, int, int, int, int],
) -> tuple[int, int, int, int, int, int] | None:
    """The first (year, month, day, hour, minute, finest) >= *start* whose every field is allowed.

    An odometer over sorted allowed values: a field with no allowed value left carries into the
    next larger one and resets the smaller ones. *days(year, month)* gives the allowed days of a
    month; *finest* is the last field (seconds for cron, microseconds for calendar expressions).
    """
    year, month, day, hour, minute, small = start
    while True:
        y = next_in(years, year)
        if y is None:
            return None
        if y != year:
            year, month, day, hour, minute, small = y, 1, 1, 0, 0, 0
        mo = next_in(months, month)
        if mo is None:
            year, month, day, hour, minute, small = year + 1, 1, 1, 0, 0, 0
            continue
        if mo != month:
            month, day, hour, minute, small = mo, 1, 0, 0, 0
        d = next_in(days(year, month), day)
        if d is None:
            month, day, hour, minute, small = month + 1, 1, 0, 0, 0
            if month > 12:
                year, month = year + 1, 1
            continue
        if d != day:
            day, hour, minute, small = d, 0, 0, 0
        h = next_in(hours, hour)
        if h is None:
            day, hour, minute, small = day + 1, 0, 0, 0
            continue
        if h != hour:
            hour, minute, small = h, 0, 0
        mi = next_in(minutes, minute)
        if mi is None:
            hour, minute, small = hour + 1, 0, 0
            continue
        if mi != minute:
            minute, small = mi, 0
        f = next_in(finest, small)
        if f is None:
            minute, small = minute + 1, 0
            continue
        return year, month, day, hour, minute, f
