"""Find time zones by name and the machine's local zone (a real, DST-aware zone, not a fixed offset)."""

from __future__ import annotations

import datetime as _dt
import functools
import os
import zoneinfo

from .errors import SpecError

__all__ = ["get_zone", "local_zone"]


@functools.cache
def local_zone() -> _dt.tzinfo:
    """Return the local time zone: ``$TZ``, else ``/etc/localtime``, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    real = os.path.realpath("/etc/localtime")
    key = real.split("zoneinfo/", 1)[1] if "zoneinfo/" in real else "localtime"
    try:
        with open("/etc/localtime", "rb") as f:
            return zoneinfo.ZoneInfo.from_file(f, key=key)
    except OSError:
        return _dt.UTC


def get_zone(name: str | None) -> _dt.tzinfo:
    """Return the zone called *name* (IANA name, ``UTC`` or ``local``); None means local.

    Raises:
        SpecError: the name is not a known zone.
    """
    if name is None or name == "local":
        return local_zone()
    if name.upper() in ("UTC", "Z"):
        return _dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SpecError(f"unknown time zone {name!r}: expected an IANA name like Europe/Berlin, UTC or local") from None
