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
    "At",
    "Base",
    "Cron",
    "DockerRun",
    "Every",
    "ExecArgv",
    "Isolation",
    "JobSpec",
    "Metadata",
    "NodeScript",
    "Once",
    "Overrun",
    "PayloadSpec",
    "Policy",
    "PythonCode",
    "PythonEntrypoint",
    "PythonFile",
    "Run",
    "RunOutcome",
    "Runtime",
    "ShellCommand",
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


TriggerSpec = Once | At | Every | Cron

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


class Policy(Base, frozen=True):
    """Timing policy of a job."""

    mode: Literal["precise", "relaxed"] = "precise"
    overrun: Overrun = Overrun()
    count: Annotated[int, msgspec.Meta(ge=1)] | None = None
    duration: Annotated[float, msgspec.Meta(gt=0)] | None = None
    #: seconds of final busy-wait before each deadline; None = automatic
    spin: Annotated[float, msgspec.Meta(ge=0)] | None = None


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


# ---------------------------------------------------------------- metadata: who/why


class Metadata(Base, frozen=True):
    """Who and why: name and description of a job."""

    name: str
    description: str | None = None
    enabled: bool = True


class JobSpec(Base, frozen=True):
    """A job = schedule + payload + metadata."""

    when: str
    trigger: TriggerSpec
    payload: PayloadSpec
    meta: Metadata
    policy: Policy = Policy()
    runtime: Runtime = Runtime()


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
