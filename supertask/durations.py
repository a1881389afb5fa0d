"""Parse and format the human durations and frequencies used everywhere (``20ms``, ``1h30m``, ``PT20M``, ``10kHz``)."""

from __future__ import annotations

import re

from .errors import DurationError

__all__ = ["DURATION_FORMS", "UNITS", "format_duration", "parse_duration", "parse_frequency"]

#: seconds per unit; the duration language accepts exactly these suffixes
UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,  # GREEK SMALL LETTER MU, what many keyboards type
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}

DURATION_FORMS = "a duration like 20ms, 1.5s, 1h30m, 2d or PT20M (units ns us µs ms s m h d w)"

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_COMPONENT = re.compile(rf"({_NUMBER})\s*(ns|us|µs|μs|ms|s|m|h|d|w)(?![a-zA-Z])")
_COMPOUND = re.compile(rf"(?:{_NUMBER}\s*(?:ns|us|µs|μs|ms|s|m|h|d|w)(?![a-zA-Z])\s*)+")
_ISO = re.compile(
    rf"P(?:(?P<y>{_NUMBER})Y)?(?:(?P<mo>{_NUMBER})M)?(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<mi>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?",
    re.IGNORECASE,
)
_FREQUENCY = re.compile(rf"({_NUMBER})\s*(Hz|kHz|MHz)", re.IGNORECASE)
_FREQ_UNITS = {"hz": 1.0, "khz": 1e3, "mhz": 1e6}


def _try_duration(text: str) -> float | None:
    """Return seconds for a unit or ISO 8601 duration, or None when *text* is neither."""
    s = text.strip()
    if not s:
        return None
    if _COMPOUND.fullmatch(s):
        return sum(float(n) * UNITS[u] for n, u in _COMPONENT.findall(s))
    if s[:1] in "pP" and len(s) > 1:
        m = _ISO.fullmatch(s)
        if m and any(m.groupdict().values()) and not s.upper().endswith("T"):
            if m["y"] or m["mo"]:
                raise DurationError(
                    f"ISO duration {text!r} has years or months, which have no fixed length; "
                    "expected days or smaller (e.g. P1DT2H, PT20M)"
                )
            parts = {k: float(v) for k, v in m.groupdict().items() if v}
            return (
                parts.get("w", 0.0) * 604800
                + parts.get("d", 0.0) * 86400
                + parts.get("h", 0.0) * 3600
                + parts.get("mi", 0.0) * 60
                + parts.get("s", 0.0)
            )
    return None


def parse_duration(text: str, *, what: str = "duration", allow_zero: bool = False) -> float:
    """Parse a duration into seconds.

    Args:
        text: ``20ms``, ``1.5s``, ``1h30m``, ``2d``, ``PT20M`` …
        what: the name of the value, used in the error message.
        allow_zero: accept ``0s`` (and a bare ``0``).

    Raises:
        DurationError: with the bad value and the accepted forms.
    """
    seconds = _try_duration(text)
    if seconds is None and allow_zero and text.strip() in ("0", "0.0"):
        seconds = 0.0  # no unit needed for nothing
    if seconds is None:
        raise DurationError(f"invalid {what} {text!r}: expected {DURATION_FORMS}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise DurationError(f"invalid {what} {text!r}: must be greater than zero")
    return seconds


def try_frequency(text: str) -> float | None:
    """Return the period in seconds of a frequency like ``50Hz`` or ``10kHz``, or None."""
    m = _FREQUENCY.fullmatch(text.strip())
    if not m:
        return None
    hz = float(m[1]) * _FREQ_UNITS[m[2].lower()]
    if hz <= 0:
        raise DurationError(f"invalid frequency {text!r}: must be greater than zero")
    return 1.0 / hz


def parse_frequency(text: str) -> float:
    """Parse ``50Hz``/``10kHz`` into a period in seconds.

    Raises:
        DurationError: with the bad value and the accepted forms.
    """
    period = try_frequency(text)
    if period is None:
        raise DurationError(f"invalid frequency {text!r}: expected a number with Hz or kHz, e.g. 50Hz, 10kHz")
    return period


def format_duration(seconds: float) -> str:
    """Format seconds compactly with a fitting unit: ``20ms``, ``1.5s``, ``37.2µs``, ``2h``."""
    a = abs(seconds)
    if a == 0:
        return "0s"
    if a < 1e-6:
        return f"{seconds * 1e9:.4g}ns"
    if a < 1e-3:
        return f"{seconds * 1e6:.4g}µs"
    if a < 1:
        return f"{seconds * 1e3:.4g}ms"
    if a < 60:
        return f"{seconds:.4g}s"
    if a < 3600:
        return f"{seconds / 60:.4g}m"
    if a < 86400:
        return f"{seconds / 3600:.4g}h"
    return f"{seconds / 86400:.4g}d"
