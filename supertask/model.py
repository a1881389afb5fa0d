"""The data model: what a job is (schedule, payload, metadata), kept as plain msgspec records.

Records here never import the engine; the engine, runners and CLI all read them.
Durations are stored as float seconds; the human text a user typed is kept
beside them (``when``) so a job can be shown back the way it was written.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "AnyOf",
    "At",
    "Base",
    "Calendar",
    "CalendarEvery",
    "Cron",
    "DockerRun",
    "Every",
    "ExecArgv",
    "Isolation",
    "JobSpec",
    "Metadata",
    "Misfire",
    "Namespace",
    "NodeScript",
    "Once",
    "Origin",
    "Overrun",
    "PayloadSpec",
    "Policy",
    "PythonCode",
    "PythonEntrypoint",
    "PythonFile",
    "RRule",
    "Run",
    "RunAggregate",
    "RunOutcome",
    "Runtime",
    "ShellCommand",
    "Step",
    "Steps",
    "TriggerSpec",
    "UvScript",
]


class Base(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Common options of every record: unknown fields are errors, records are immutable."""


# ---------------------------------------------------------------- schedule: when


class Once(Base, frozen=True, tag="once", tag_field="kind"):
    """Run once, as soon as the job starts."""


class At(Base, frozen=True, tag="at", tag_field="kind"):
    """Run once at a wall-clock instant."""

    at: _dt.datetime


class Every(Base, frozen=True, tag="every", tag_field="kind"):
    """Run on a monotonic grid: run k is due at ``anchor + k·period`` (never drifts)."""

    period: Annotated[float, msgspec.Meta(gt=0)]


class Cron(Base, frozen=True, tag="cron", tag_field="kind"):
    """Run at wall-clock times matching a cron expression (5, 6 or 7 fields)."""

    expr: str
    tz: str | None = None
    #: what ``H`` fields hash (the job's name); None = the expression
    seed: str | None = None
    #: ``or`` (classic cron): when day-of-month and day-of-week are both restricted, either matches;
    #: ``and``: both must match
    days: Literal["or", "and"] = "or"


class Calendar(Base, frozen=True, tag="calendar", tag_field="kind"):
    """Run at the wall-clock times of a systemd-style calendar expression (``Mon..Fri 09:00``)."""

    expr: str
    tz: str | None = None


class RRule(Base, frozen=True, tag="rrule", tag_field="kind"):
    """Run at the times of an RFC 5545 recurrence rule (``RRULE:…``, optional ``DTSTART``/``EXDATE``/``RDATE``)."""

    rule: str
    tz: str | None = None


class CalendarEvery(Base, frozen=True, tag="calendar-every", tag_field="kind"):
    """Run every N calendar months (``1mo``, ``1y`` = 12) from an anchor, at the anchor's wall time.

    Month k is ``anchor + k months``, its day clamped to the month's last day
    (Jan 31 → Feb 28/29 → Mar 31); no anchor means the job's start (or ``--start``).
    """

    months: Annotated[int, msgspec.Meta(ge=1)]
    anchor: _dt.datetime | None = None
    tz: str | None = None


class AnyOf(Base, frozen=True, tag="any", tag_field="kind"):
    """Several triggers: the job fires on their union, once per instant even where they coincide."""

    triggers: list[Once | At | Every | Cron | Calendar | RRule | CalendarEvery]


TriggerSpec = Once | At | Every | Cron | Calendar | RRule | CalendarEvery | AnyOf

OverrunKind = Literal["skip", "queue", "concurrent", "cancel", "catchup"]


class Overrun(Base, frozen=True):
    """What happens when a run is due while the previous one is still going.

    - ``skip`` (default): the due tick is skipped and counted; the job resumes on the next grid point.
    - ``queue``: one due tick waits and starts as soon as the running one ends; further ones are skipped.
    - ``concurrent``: start another run alongside, up to ``limit`` at once; beyond that, skip.
    - ``cancel``: cancel the running one (recorded as cancelled) and start the new one.
    - ``catchup``: every due tick waits (up to a bounded backlog) and they run back to back
      once the running one ends, until the grid is caught up (procps ``watch -p`` before 4.0.5).
    """

    kind: OverrunKind = "skip"
    limit: Annotated[int, msgspec.Meta(ge=1)] = 1


MisfireKind = Literal["run-once", "catch-up", "skip"]


class Misfire(Base, frozen=True):
    """What a calendar job does about instants that passed while the scheduler was stopped or blocked.

    - ``run-once`` (default): one run now, for the latest missed instant; the others are counted as skipped.
    - ``catch-up``: run the latest ``limit`` missed instants one after another (bounded); skip the rest.
    - ``skip``: run none of them; only an instant less than ``grace`` (default 1 s) late still runs.

    ``grace`` (seconds): missed instants older than this never run, under any policy.
    """

    kind: MisfireKind = "run-once"
    limit: Annotated[int, msgspec.Meta(ge=1)] = 1
    grace: Annotated[float, msgspec.Meta(ge=0)] | None = None


class Policy(Base, frozen=True):
    """Timing policy of a job."""

    mode: Literal["precise", "relaxed"] = "precise"
    overrun: Overrun = Overrun()
    count: Annotated[int, msgspec.Meta(ge=1)] | None = None
    duration: Annotated[float, msgspec.Meta(gt=0)] | None = None
    #: seconds of final busy-wait before each deadline; None = automatic
    spin: Annotated[float, msgspec.Meta(ge=0)] | None = None
    #: no run before this instant (intervals start their grid here)
    start: _dt.datetime | None = None
    #: no run after this instant
    end: _dt.datetime | None = None
    #: delay each run by up to this many seconds
    jitter: Annotated[float, msgspec.Meta(ge=0)] | None = None
    #: ``random`` (uniform per run) or ``hash`` (a fixed delay derived from the job's name)
    jitter_mode: Literal["random", "hash"] = "random"
    misfire: Misfire = Misfire()


# ---------------------------------------------------------------- payload: what


class PythonCode(Base, frozen=True, tag="python", tag_field="kind"):
    """Python expression or statements, run in-process with ``task`` and the stdlib in scope."""

    code: str


class ShellCommand(Base, frozen=True, tag="shell", tag_field="kind"):
    """A command line run by ``sh -c``."""

    script: str


class ExecArgv(Base, frozen=True, tag="exec", tag_field="kind"):
    """An argv run directly, without a shell."""

    argv: list[str]


class PythonFile(Base, frozen=True, tag="python-file", tag_field="kind"):
    """A Python file run as a script (``python:./path.py``), with arguments."""

    path: str
    args: list[str] = []
    #: a function of the file to call (with ``args`` and ``kwargs``) instead of running it as a script
    entrypoint: str | None = None
    kwargs: dict[str, Any] = {}


class PythonEntrypoint(Base, frozen=True, tag="python-entrypoint", tag_field="kind"):
    """A Python callable named ``module:function`` (or ``module.function``), called with args and kwargs."""

    target: str
    args: list[Any] = []
    kwargs: dict[str, Any] = {}


class UvScript(Base, frozen=True, tag="uv", tag_field="kind"):
    """A Python script run by ``uv run --script``, honouring its PEP 723 dependencies."""

    path: str
    args: list[str] = []


class DockerRun(Base, frozen=True, tag="docker", tag_field="kind"):
    """``docker run --rm IMAGE ARGV…``."""

    image: str
    argv: list[str] = []


class NodeScript(Base, frozen=True, tag="node", tag_field="kind"):
    """A JavaScript/TypeScript file run by ``node`` (or ``deno``/``bun``)."""

    path: str
    args: list[str] = []
    interpreter: Literal["node", "deno", "bun"] = "node"


PayloadSpec = PythonCode | ShellCommand | ExecArgv | PythonFile | PythonEntrypoint | UvScript | DockerRun | NodeScript


class Step(Base, frozen=True, kw_only=True):
    """One step of a :class:`Steps` payload; ``enabled=False`` (the original format's ``if: false``) skips it."""

    name: str | None = None
    payload: PayloadSpec
    enabled: bool = True


class Steps(Base, frozen=True, tag="steps", tag_field="kind"):
    """Several payloads run in order within one run (the original Supertask's ``steps``); a failure ends the run."""

    steps: list[Step]


Isolation = Literal["inprocess", "thread", "actor", "process"]


class Runtime(Base, frozen=True):
    """Where and in what environment a payload runs.

    ``env`` is added to the environment of this job's runs only (never to the
    scheduler's own); ``timeout`` (seconds) cancels a run that takes longer.
    """

    isolation: Isolation = "inprocess"
    env: dict[str, str] = {}
    cwd: str | None = None
    timeout: Annotated[float, msgspec.Meta(gt=0)] | None = None
    #: subprocess output goes straight to the scheduler's stdout/stderr (no capture, no tail)
    passthrough: bool = False
    #: warm actors kept for the job with ``isolation="actor"``
    actors: Annotated[int, msgspec.Meta(ge=1)] = 1
    #: seconds between SIGTERM and SIGKILL when a run's process group is stopped
    kill_grace: Annotated[float, msgspec.Meta(ge=0)] = 1.0


# ---------------------------------------------------------------- metadata: who/why


class Origin(Base, frozen=True):
    """Where a job or namespace came from: the source file or URL, and the host and user that loaded it."""

    source: str | None = None
    host: str | None = None
    user: str | None = None


class Metadata(Base, frozen=True):
    """Who and why: name and description of a job."""

    name: str
    description: str | None = None
    enabled: bool = True
    #: stable identifier within the namespace (default: the name)
    id: str | None = None
    authors: list[str] = []
    created: _dt.datetime | None = None
    updated: _dt.datetime | None = None
    origin: Origin | None = None


class Namespace(Base, frozen=True):
    """The multi-tenant unit: the jobs of one timetable (or ``--ns``), traced to their origin.

    Without an explicit id, it is derived as a digest of ``hostname-user-resource``
    (resource = the absolute path or URL of the job source).
    """

    id: str
    name: str | None = None
    description: str | None = None
    origin: Origin = Origin()
    created: _dt.datetime | None = None
    updated: _dt.datetime | None = None


class JobSpec(Base, frozen=True):
    """A job = schedule + payload + metadata."""

    when: str
    trigger: TriggerSpec
    payload: PayloadSpec | Steps
    meta: Metadata
    policy: Policy = Policy()
    runtime: Runtime = Runtime()
    #: the namespace the job belongs to (None: jobs given on the command line without --ns)
    namespace: str | None = None
    #: "all": every run is recorded by the store; "aggregate": one summary per interval;
    #: "auto" (default): every run for jobs slower than 1 Hz, summaries for faster ones
    history: Literal["auto", "all", "aggregate", "none"] = "auto"
    #: where this job's results go (sink URLs as for ``--emit``; empty: the scheduler's default)
    emit: list[str] = []
    #: also send this job's run events (started, finished, failed, skipped) to its ``emit`` sinks
    emit_events: bool = False


# ---------------------------------------------------------------- runs: what happened

RunOutcome = Literal["running", "ok", "failed", "timed-out", "cancelled", "skipped"]


class Run(Base, frozen=True):
    """One firing of a job (a job execution), as sinks and the store receive it.

    A sink that asks for runs gets one record with ``outcome="running"`` when a run
    starts and one with the final outcome when it ends. Ticks that were skipped
    (overrun, or the scheduler fell behind) come as one ``"skipped"`` record whose
    ``skipped`` field says how many ticks it stands for.
    Times are aware UTC datetimes; ``lateness`` and ``duration`` are seconds.
    """

    job: str
    tick: int
    scheduled: _dt.datetime
    outcome: RunOutcome
    #: 0-based index among the job's runs (None for skipped ticks)
    count: int | None = None
    namespace: str | None = None
    started: _dt.datetime | None = None
    ended: _dt.datetime | None = None
    lateness: float | None = None
    duration: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    #: the exception or failure message of a failed run
    error: str | None = None
    #: the payload's non-None result
    result: Any = None
    skipped: int = 0
    #: the last few KiB of the run's output (stdout and stderr, as they came), when captured
    output: str | None = None
    #: where the job was defined (file path or URL)
    source: str | None = None
    #: digest of the job definition the run executed
    version: str | None = None


class RunAggregate(Base, frozen=True):
    """A summary of one job's runs over an interval, recorded instead of a row per run for fast jobs."""

    job: str
    start: _dt.datetime
    end: _dt.datetime
    namespace: str | None = None
    runs: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    lateness_p50: float | None = None
    lateness_p99: float | None = None
    lateness_max: float | None = None
    duration_p50: float | None = None
    duration_max: float | None = None
    last_error: str | None = None
    version: str | None = None
