"""How results and run events become bytes: text, JSON or msgpack, shared by every sink."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..model import Run

__all__ = ["FORMATS", "Format", "encode_value", "event_name", "event_record", "result_record"]

Format = Literal["auto", "text", "json", "msgpack"]
FORMATS: tuple[str, ...] = ("auto", "text", "json", "msgpack")


def _fallback(obj: Any) -> Any:
    """Anything msgspec does not know is sent as its ``str``; subclasses of float/int
    (``task.elapsed.total_seconds``) as the number."""
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, _dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    return str(obj)


_json = msgspec.json.Encoder(enc_hook=_fallback)
_msgpack = msgspec.msgpack.Encoder(enc_hook=_fallback)


def encode_value(value: Any, fmt: Format) -> bytes:
    """A result as a message body.

    ``auto``: strings and numbers as text (``0.5``), bytes as they are, anything else
    (dicts, lists, Structs, dataclasses) as JSON. ``text``: ``str(value)``.
    ``json`` / ``msgpack``: the value encoded (unknown types as their ``str``).
    """
    if fmt == "auto":
        cls = type(value)
        if cls is str:
            return value.encode()  # type: ignore[no-any-return]
        if cls is float or cls is int:
            return repr(value).encode()
        if cls is bytes:
            return value  # type: ignore[no-any-return]
        if isinstance(value, float) or (isinstance(value, int) and cls is not bool):
            return repr(float(value) if isinstance(value, float) else int(value)).encode()
        return _json.encode(value)
    if fmt == "json":
        return _json.encode(value)
    if fmt == "msgpack":
        return _msgpack.encode(value)
    return str(value).encode()


def encode_record(record: dict[str, Any], fmt: Format) -> bytes:
    """A record (run event, result with metadata) as JSON, or msgpack when that is the format."""
    return _msgpack.encode(record) if fmt == "msgpack" else _json.encode(record)


_EVENTS = {
    "running": "started",
    "ok": "finished",
    "failed": "failed",
    "timed-out": "failed",
    "cancelled": "cancelled",
    "skipped": "skipped",
}


def event_name(run: Run) -> str:
    """``started``, ``finished``, ``failed`` (also timed out), ``cancelled`` or ``skipped``."""
    return _EVENTS.get(run.outcome, run.outcome)


def event_record(run: Run) -> dict[str, Any]:
    """A run record as a flat dict for a sink: ``event`` first, then the non-empty fields of the Run."""
    record: dict[str, Any] = {"event": event_name(run)}
    for field in run.__struct_fields__:
        value = getattr(run, field)
        if value is None or (field == "skipped" and not value):
            continue
        record[field] = value.isoformat() if isinstance(value, _dt.datetime) else value
    return record


def result_record(task: Task, value: Any) -> dict[str, Any]:
    """A result with the run it came from, as JSON lines carry it."""
    return {
        "job": task.name,
        "count": task.count,
        "tick": task.tick,
        "scheduled": task.scheduled.isoformat(),
        "lateness": task.lateness.total_seconds(),
        "value": value,
    }
