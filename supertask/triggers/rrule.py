"""RFC 5545 recurrence rules (``RRULE:FREQ=MONTHLY;BYDAY=-1FR``) with DTSTART, EXDATE and RDATE, via python-dateutil.

dateutil expands the rule on naive wall times of the rule's zone; the DST rules of
:mod:`.wall` then map them to instants (``FREQ=HOURLY`` and finer fire in both halves
of a fold, coarser ones once).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator

from ..errors import WhenError
from .base import CalendarTrigger
from .wall import next_wall_instant

__all__ = ["RRULE_FORMS", "RRuleTrigger", "looks_like_rrule", "normalize_rrule"]

RRULE_FORMS = (
    "RFC 5545 text such as 'RRULE:FREQ=MONTHLY;BYDAY=-1FR' or "
    "'DTSTART:20270101T090000 RRULE:FREQ=WEEKLY;BYDAY=MO,WE EXDATE:20270104T090000' "
    "(properties separated by spaces or newlines; DTSTART;TZID=Europe/Berlin:… sets the zone)"
)
_PROPS = ("DTSTART", "RRULE", "EXDATE", "RDATE", "EXRULE")
_STAMP = re.compile(r"(\d{8}T\d{6})(Z?)")
_DATE_VALUE = re.compile(r"\d{8}(T\d{6}Z?)?", re.IGNORECASE)
_TZID = re.compile(r"^DTSTART;TZID=([^:;]+):", re.IGNORECASE)


def looks_like_rrule(text: str) -> bool:
    """Whether *text* is meant as a recurrence rule."""
    up = text.lstrip().upper()
    return up.startswith(_PROPS) or up.startswith("FREQ=")


def _bad(text: str, why: str) -> WhenError:
    return WhenError(f"invalid recurrence rule {text!r}: {why}; expected {RRULE_FORMS}")


def normalize_rrule(text: str) -> tuple[list[str], str | None]:
    """Split *text* into property lines; return them and the zone named by ``DTSTART;TZID=`` (if any)."""
    lines = [p for p in re.split(r"\s+", text.strip()) if p]
    if lines and lines[0].upper().startswith("FREQ="):
        lines[0] = "RRULE:" + lines[0]
    zone = None
    for i, line in enumerate(lines):
        if not line.upper().startswith(_PROPS):
            raise _bad(text, f"{line!r} is not one of {', '.join(_PROPS)}")
        m = _TZID.match(line)
        if m:
            zone = m[1]
            lines[i] = "DTSTART:" + line[m.end() :]
    if not any(line.upper().startswith("RRULE") for line in lines):
        raise _bad(text, "it has no RRULE")
    return lines, zone


def _date_list_tzid(line: str, tz: _dt.tzinfo) -> str:
    """Turn ``EXDATE;TZID=Zone:…`` / ``RDATE;TZID=Zone:…`` into wall times of *tz* without the parameter.

    dateutil would make those times aware (they then cannot be compared with the rule's
    naive times) or refuse the parameter (RDATE).
    """
    head, sep, value = line.partition(":")
    name, *params = head.split(";")
    if not sep or name.upper() not in ("EXDATE", "RDATE"):
        return line
    zones = [p[5:] for p in params if p.upper().startswith("TZID=")]
    if not zones:
        return line
    from ..timezones import get_zone

    src = get_zone(zones[-1])

    def convert(m: re.Match[str]) -> str:
        if m[2]:
            return m[0]  # a UTC time: converted below like every other
        wall = _dt.datetime.strptime(m[1], "%Y%m%dT%H%M%S").replace(tzinfo=src)
        return wall.astimezone(tz).strftime("%Y%m%dT%H%M%S")

    kept = [p for p in params if not p.upper().startswith("TZID=")]
    return ";".join([name, *kept]) + ":" + _STAMP.sub(convert, value)


class RRuleTrigger(CalendarTrigger):
    """Fires at the instants of a recurrence rule, in one zone.

    Without ``DTSTART`` the rule starts at *dtstart* (the job's ``--start``), else at
    midnight of today in the zone: give ``DTSTART`` when ``INTERVAL`` or the weekday of
    ``FREQ=WEEKLY`` must not depend on the day the job was added. Times in ``Z`` (UTC)
    are converted to the zone's wall time.
    """

    def __init__(self, text: str, tz: _dt.tzinfo, *, dtstart: _dt.datetime | None = None) -> None:
        from dateutil import rrule as _rrule

        from ..timezones import get_zone

        lines, zone = normalize_rrule(text)
        if zone is not None:
            tz = get_zone(zone)
        self.text = text
        self.tz = tz

        def wall(m: re.Match[str]) -> str:
            if not m[2]:
                return m[1]
            utc = _dt.datetime.strptime(m[1], "%Y%m%dT%H%M%S").replace(tzinfo=_dt.UTC)
            return utc.astimezone(tz).strftime("%Y%m%dT%H%M%S")

        for line in lines:
            head, _, value = line.partition(":")
            if head.split(";")[0].upper() in ("DTSTART", "EXDATE", "RDATE"):
                for v in value.split(","):
                    if not _DATE_VALUE.fullmatch(v):
                        # dateutil would guess (DTSTART:2027 became today's month and day in 2027)
                        raise _bad(text, f"{head.split(';')[0]} value {v!r} is not 20270131, 20270131T090000 or …Z")
        lines = [_STAMP.sub(wall, _date_list_tzid(line, tz)) for line in lines]
        if dtstart is not None:
            default_start = dtstart.astimezone(tz).replace(tzinfo=None) if dtstart.tzinfo else dtstart
        else:
            default_start = _dt.datetime.now(tz).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
        try:
            self._set = _rrule.rrulestr("\n".join(lines), forceset=True, dtstart=default_start, ignoretz=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _bad(text, str(exc).strip().rstrip(".") or type(exc).__name__) from None
        rules = getattr(self._set, "_rrule", [])
        for r in [*rules, *getattr(self._set, "_exrule", [])]:
            if r._interval < 1:  # dateutil would loop forever
                raise _bad(text, f"INTERVAL must be 1 or more, got {r._interval}")
        self.interval_like = any(r._freq >= _rrule.HOURLY for r in rules)
        self._it: Iterator[_dt.datetime] | None = None
        self._cur: _dt.datetime | None = None
        self._pos = _dt.datetime.min

    def __repr__(self) -> str:
        return f"RRuleTrigger({self.text!r}, tz={self.tz})"

    def _next_naive(self, t: _dt.datetime) -> _dt.datetime | None:
        # the engine asks for ever later times: keep one iterator and move it forward
        if self._it is None or t < self._pos:
            self._it = iter(self._set)
            self._cur = next(self._it, None)
        self._pos = t
        while self._cur is not None and self._cur < t:
            self._cur = next(self._it, None)
        return self._cur

    def next_after(self, after: _dt.datetime) -> _dt.datetime | None:
        return next_wall_instant(after, self.tz, self._next_naive, both_folds=self.interval_like)
