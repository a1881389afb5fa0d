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
========================================  ==========================================
"""

from __future__ import annotations

import datetime as _dt
import re

from .durations import _try_duration, try_frequency
from .errors import CronError, DurationError, WhenError
from .model import At, Cron, Every, Once, TriggerSpec
from .timezones import get_zone
from .triggers.cron import parse_cron

__all__ = ["SHORTHANDS", "WHEN_FORMS", "parse_when"]

WHEN_FORMS = (
    "once, an ISO datetime (2026-12-24T18:00:00+01:00), a duration (20ms, 1h30m, every 5s, PT20M), "
    "a frequency (50Hz, 10kHz), @yearly/@monthly/@weekly/@daily/@hourly/@every <duration>, "
    "or cron with 5-7 fields ('*/5 * * * *', seconds first with 6)"
)

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

_CRON_TOKEN = re.compile(r"^[0-9A-Za-z*?/,\-]+$")
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
    if low == "once":
        return Once()
    if low in SHORTHANDS:
        return Cron(expr=SHORTHANDS[low], tz=tz)
    if low.startswith("@every"):
        rest = text[len("@every") :].strip()
        return _interval(spec, rest)
    if low.startswith("@"):
        raise _bad(spec, f"unknown shorthand {text.split()[0]!r}")
    if low.startswith("every "):
        return _interval(spec, text[len("every ") :].strip())
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
    raise _bad(spec)


def _interval(spec: str, rest: str) -> Every:
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
        at = at.replace(tzinfo=get_zone(tz))
    return At(at=at)
