"""The ``--when`` language: one string that says when a job runs, parsed into a trigger record of the model.

Accepted forms (all case-insensitive where it makes sense):

========================================  ==========================================
``once``                                   run once, now (the default)
``2026-12-24T18:00:00+01:00``              once at that instant (ISO 8601; no offset = local time)
``20ms``, ``1.5s``, ``1h30m``, ``every 5s``  a monotonic interval (units ns us µs ms s m h d w)
``PT20M``                                  an ISO 8601 duration (days or smaller)
``50Hz``, ``10kHz``                        a frequency: the interval is its inverse
``@every 1h30m``                           the same as ``every 1h30m``
``@yearly`` ``@annually`` ``@monthly``      calendar shorthands (cron at midnight local time)
``@weekly`` ``@daily`` ``@midnight`` ``@hourly``
``*/5 * * * *``                            cron, 5 fields (minute hour day-of-month month day-of-week)
``*/5 * * * * *``                          cron, 6 fields: seconds first
``0 0 12 * * MON-FRI 2027``                cron, 7 fields: seconds … year
``0 0 L * *``, ``0 9 * * 5L``, ``H/15 * * * *``  cron extensions: L, L-n, nW, LW, d#n, dL, ? and H
``@reboot``                                once, when the scheduler starts
``Mon..Fri *-*-* 09:00:00``, ``daily``       systemd ``OnCalendar`` calendar expressions
``RRULE:FREQ=MONTHLY;BYDAY=-1FR``           RFC 5545 recurrence rules (DTSTART, EXDATE, RDATE)
``1mo``, ``3mo``, ``1y``, ``@every 1mo``, ``P1M``  calendar intervals (months and years)
========================================  ==========================================
"""

from __future__ import annotations

import datetime as _dt
import re

from .durations import _try_duration, try_frequency
from .errors import CronError, DurationError, WhenError
from .model import AnyOf, At, Calendar, CalendarEvery, Cron, Every, Once, RRule, TriggerSpec
from .timezones import get_zone
from .triggers.calendar import SHORTHANDS as CALENDAR_SHORTHANDS
from .triggers.calendar import looks_like_calendar, parse_calendar
from .triggers.cron import parse_cron
from .triggers.rrule import looks_like_rrule

__all__ = ["INSTANT_FORMS", "SHORTHANDS", "WHEN_FORMS", "parse_instant", "parse_when", "parse_whens"]

WHEN_FORMS = (
    "once, an ISO datetime (2026-12-24T18:00:00+01:00), a duration (20ms, 1h30m, every 5s, PT20M), "
    "a frequency (50Hz, 10kHz), a calendar interval (1mo, 1y), @yearly/@monthly/@weekly/@daily/@hourly/"
    "@reboot/@every <duration>, cron with 5-7 fields ('*/5 * * * *', seconds first with 6; L W # H), "
    "a calendar expression ('Mon..Fri *-*-* 09:00', daily) or an RRULE ('RRULE:FREQ=MONTHLY;BYDAY=-1FR')"
)

_MONTHS_FORM = re.compile(r"^(?:(\d+)\s*(?:y|yr|years?))?\s*(?:(\d+)\s*(?:mo|months?))?$", re.IGNORECASE)
_ISO_MONTHS = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?$", re.IGNORECASE)


def _calendar_months(text: str) -> int | None:
    """Months of a calendar interval (``1mo``, ``2y``, ``1y6mo``, ``P1Y``, ``P3M``), or None."""
    s = text.strip()
    m = _MONTHS_FORM.fullmatch(s) or _ISO_MONTHS.fullmatch(s)
    if not m or not (m[1] or m[2]):
        return None
    return int(m[1] or 0) * 12 + int(m[2] or 0)


#: calendar shorthands, as 6-field cron (seconds first)
SHORTHANDS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * SUN",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}

_CRON_TOKEN = re.compile(r"^[0-9A-Za-z*?/,\-#()]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ].*)?$")


def _bad(spec: str, why: str | None = None) -> WhenError:
    reason = f"{why}; " if why else ""
    return WhenError(f"invalid --when {spec!r}: {reason}expected {WHEN_FORMS}")


def parse_when(spec: str, *, tz: str | None = None) -> TriggerSpec:
    """Parse a ``--when`` value into a trigger record.

    Args:
        spec: the text, e.g. ``20ms``, ``@daily``, ``*/5 * * * * *``.
        tz: time zone for calendar forms (None = local).

    Raises:
        WhenError: one line quoting *spec* and listing the accepted forms.
    """
    text = spec.strip()
    low = text.lower()
    if not text:
        raise _bad(spec, "it is empty")
    if low in ("once", "@reboot"):
        return Once()
    if low in SHORTHANDS:
        return Cron(expr=SHORTHANDS[low], tz=tz)
    if low.startswith("@every"):
        rest = text[len("@every") :].strip()
        return _interval(spec, rest, tz)
    if low.startswith("@"):
        raise _bad(spec, f"unknown shorthand {text.split()[0]!r}")
    if low.startswith("every "):
        return _interval(spec, text[len("every ") :].strip(), tz)
    months = _calendar_months(text)
    if months is not None:
        return _calendar_every(spec, months, tz)
    if looks_like_rrule(text):
        return _rrule(spec, text, tz)
    try:
        seconds = _try_duration(text)
        if seconds is None:
            seconds = try_frequency(text)
    except DurationError as exc:
        raise WhenError(f"invalid --when {spec!r}: {exc}") from None
    if seconds is not None:
        if seconds <= 0:
            raise _bad(spec, "an interval must be greater than zero")
        return Every(period=seconds)
    if _ISO_DATE.match(text):
        return _at(spec, text, tz)
    fields = text.split()
    if 5 <= len(fields) <= 7 and all(_CRON_TOKEN.match(f) for f in fields):
        try:
            parse_cron(text)
        except CronError as exc:
            raise WhenError(str(exc).replace("invalid cron expression", "invalid --when", 1)) from None
        return Cron(expr=" ".join(fields), tz=tz)
    if low.split()[0] in CALENDAR_SHORTHANDS or looks_like_calendar(text):
        parse_calendar(text)  # raises WhenError naming the bad part
        return Calendar(expr=" ".join(fields), tz=tz)
    raise _bad(spec)


def _calendar_every(spec: str, months: int, tz: str | None) -> CalendarEvery:
    if months <= 0:
        raise _bad(spec, "an interval must be greater than zero")
    return CalendarEvery(months=months, tz=tz)


def _rrule(spec: str, text: str, tz: str | None) -> RRule:
    from .triggers.rrule import RRuleTrigger

    RRuleTrigger(text, get_zone(tz), dtstart=_dt.datetime(2000, 1, 1))  # raises WhenError when it does not parse
    return RRule(rule=text, tz=tz)


def _interval(spec: str, rest: str, tz: str | None = None) -> Every | CalendarEvery:
    """An interval after ``every``/``@every``: monotonic, or calendar months and years."""
    months = _calendar_months(rest)
    if months is not None:
        return _calendar_every(spec, months, tz)
    try:
        seconds = _try_duration(rest)
        if seconds is None:
            seconds = try_frequency(rest)
    except DurationError as exc:
        raise WhenError(f"invalid --when {spec!r}: {exc}") from None
    if seconds is None:
        raise _bad(spec, f"{rest!r} is not a duration")
    if seconds <= 0:
        raise _bad(spec, "an interval must be greater than zero")
    return Every(period=seconds)


def _at(spec: str, text: str, tz: str | None) -> At:
    try:
        at = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise _bad(spec, "not a valid ISO datetime") from None
    if at.tzinfo is None:
        from .triggers.wall import resolve

        at = resolve(at, get_zone(tz))[0]  # DST: a time in a gap runs when it ends; in a fold, the first
    return At(at=at)


def with_cron_days(spec: TriggerSpec, days: str) -> TriggerSpec:
    """Apply ``--cron-days or|and`` to the cron parts of *spec*.

    Raises:
        WhenError: *days* is neither ``or`` nor ``and``.
    """
    import msgspec

    if days not in ("or", "and"):
        raise WhenError(f"invalid --cron-days {days!r}: expected or (classic cron: either day field) or and (both)")
    if isinstance(spec, Cron):
        return msgspec.structs.replace(spec, days=days)  # type: ignore[arg-type]
    if isinstance(spec, AnyOf):
        return AnyOf(triggers=[with_cron_days(t, days) for t in spec.triggers])  # type: ignore[misc]
    return spec


def parse_whens(specs: list[str] | tuple[str, ...], *, tz: str | None = None) -> TriggerSpec:
    """Parse one or several ``--when`` values; several make a union (fires once per instant where they meet).

    Raises:
        WhenError: for the first value that does not parse.
    """
    if not specs:
        return Once()
    triggers = [parse_when(s, tz=tz) for s in specs]
    if len(triggers) == 1:
        return triggers[0]
    members: list[Once | At | Every | Cron | Calendar | RRule | CalendarEvery] = []
    for t in triggers:
        assert not isinstance(t, AnyOf)
        members.append(t)
    return AnyOf(triggers=members)


INSTANT_FORMS = "an ISO date or datetime such as 2027-01-31, '2027-01-31 09:00' or 2027-01-31T09:00:00+01:00, or now"


def parse_instant(text: str, *, tz: str | None = None, what: str = "time") -> _dt.datetime:
    """Parse ``2027-01-31``, ``2027-01-31 09:00``, an ISO datetime with offset, or ``now`` into an aware datetime.

    A date means its midnight; without an offset the time is in *tz* (default local).

    Raises:
        WhenError: naming the option and the accepted forms.
    """
    s = text.strip()
    if s.lower() == "now":
        return _dt.datetime.now(get_zone(tz))
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            value = _dt.datetime.combine(_dt.date.fromisoformat(s), _dt.time())
        else:
            value = _dt.datetime.fromisoformat(s)
    except ValueError:
        raise WhenError(f"invalid {what} {text!r}: expected {INSTANT_FORMS}") from None
    if value.tzinfo is None:
        from .triggers.wall import resolve

        value = resolve(value, get_zone(tz))[0]
    return value
