"""The ``task`` object a payload sees: which run, when it was due, how late it started, state across runs."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import EngineClock

__all__ = ["Elapsed", "Seconds", "Task"]


class Seconds(float):
    """A float of seconds that can also be called: ``x.total_seconds`` and ``x.total_seconds()`` both work."""

    __slots__ = ()

    def __call__(self) -> float:
        return float(self)


class Elapsed(_dt.timedelta):
    """A ``timedelta`` with nanosecond-exact ``total_seconds`` usable as attribute or method.

    Arithmetic and comparisons behave as for ``timedelta`` (at its µs resolution).
    """

    __slots__ = ("_seconds",)
    _seconds: float

    def __new__(cls, seconds: float) -> Elapsed:
        self = super().__new__(cls, seconds=seconds)
        self._seconds = seconds
        return self

    @property  # type: ignore[override]
    def total_seconds(self) -> Seconds:
        return Seconds(self._seconds)

    def __repr__(self) -> str:
        return f"Elapsed({self._seconds!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Elapsed, (self._seconds,))


class Task:
    """One run of a job, as seen by its payload.

    Attributes:
        name: the job's name.
        namespace: the job's namespace (None for jobs given on the command line without ``--ns``).
        count: 0-based index of this run among the job's runs.
        tick: 0-based index of the due time this run serves (skipped ticks make it exceed ``count``).
        state: a dict kept across the runs of this job.
    """

    __slots__ = (
        "_clock",
        "_due",
        "_due_wall",
        "_first",
        "_offset",
        "_start",
        "count",
        "name",
        "namespace",
        "state",
        "tick",
    )

    def __init__(
        self,
        name: str,
        count: int,
        tick: int,
        state: dict[str, Any],
        due: float,
        start: float,
        first: float,
        clock: EngineClock,
        due_wall: _dt.datetime | None = None,
        namespace: str | None = None,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.count = count
        self.tick = tick
        self.state = state
        self._due = due
        self._start = start
        self._first = first
        self._clock = clock
        self._due_wall = due_wall
        self._offset: float | None = None

    @property
    def elapsed(self) -> Elapsed:
        """Time from the job's first scheduled run to this run's scheduled time (exact, free of jitter)."""
        return Elapsed(self._due - self._first)

    @property
    def lateness(self) -> Elapsed:
        """How late this run started after its scheduled time."""
        return Elapsed(self._start - self._due)

    def _wall_ts(self, mono: float) -> float:
        """Epoch seconds of a monotonic instant of this run. The wall-minus-monotonic offset is
        read once per run, so ``scheduled`` and ``started`` give the same instants however often
        they are asked (each reading of two clocks differs by a microsecond or so)."""
        offset = self._offset
        if offset is None:
            offset = self._offset = self._clock.wall() - self._clock.now()
        return offset + mono

    def _to_wall(self, mono: float) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self._wall_ts(mono)).astimezone()

    @property
    def scheduled(self) -> _dt.datetime:
        """When this run was due, as an aware local datetime (exact for calendar triggers)."""
        if self._due_wall is not None:
            return self._due_wall.astimezone()
        return self._to_wall(self._due)

    @property
    def started(self) -> _dt.datetime:
        """When this run started, as an aware local datetime."""
        return self._to_wall(self._start)

    def __repr__(self) -> str:
        return f"<Task {self.name!r} count={self.count} lateness={self._start - self._due:.6f}s>"
