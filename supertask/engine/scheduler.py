"""The scheduler: one deadline heap for all jobs, woken by the engine clock, dispatching runs to runners.

Data flow of one tick::

    heap (deadline, seq, job) ──pop──▶ _dispatch ──▶ sync runner: called inline
                                          │          async runner: a trio task in the run nursery
                                          └──▶ next deadline pushed (O(log n))

Interval jobs keep a grid: tick k is due at ``anchor + k·period`` on the
monotonic clock, so they never drift. Calendar jobs (cron, at) compute each
wall-clock instant and convert it to a monotonic deadline when it is scheduled.
A tick that could not start within one period (and at least 1 ms) of its due
time is *skipped* (counted): the job resumes at the latest due grid point
instead of bursting; smaller delays are caught up.
"""

from __future__ import annotations

import collections
import datetime as _dt
import hashlib
import heapq
import itertools
import logging
import math
import random
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import trio

from ..durations import format_duration
from ..errors import SchedulerError, SpecError
from ..model import JobSpec, Misfire, Overrun, Run, Runtime, TriggerSpec
from ..runners import Completed, PayloadFailed, Runner, build_runner, killed_returncode, run_timer
from ..sinks import Sink, StdoutSink
from ..triggers import BoundedTrigger, CalendarTrigger, IntervalTrigger, OnceTrigger, Trigger, build_trigger
from ..triggers.misfire import ON_TIME, MisfirePlan, plan_misfires
from .clock import EngineClock, PreciseClock, TrioClock
from .spin import SpinTuner, auto_spin
from .stats import JobCounters, JobStats
from .task import Task

if TYPE_CHECKING:
    from ..schedule import Schedule

__all__ = ["Job", "Scheduler", "auto_spin", "default_clock", "parse_overrun"]

log = logging.getLogger(__name__)

#: an interval tick less late than this (or than one period) still runs, to catch up: a short
#: stall (a VM hiccup, a garbage collection) does not cost a fast job its ticks (at 10 kHz a
#: 20 ms stall is 200 of them); beyond it the job skips to the latest due grid point and counts
#: the ticks it skipped
CATCH_UP_WITHIN = 0.1
#: a tick this late is being caught up (the loop was stalled), not merely dispatched
CATCHING_UP = 1e-3
#: most dispatches in a row of jobs due at the same time before trio gets a pass
MAX_BURST = 64
#: a job due within this after the one just dispatched is dispatched next, before trio's turn
BURST_WINDOW = 20e-6
#: a burst ends when its dispatches have taken this long (slow in-process payloads): trio's turn
BURST_TIME = 1e-3
#: failures logged one by one per job before they are only summarised
FAILURES_LOGGED = 5
#: seconds between failure summaries of one job
FAILURE_SUMMARY_EVERY = 10.0
#: a change of the wall-clock/monotonic offset larger than this is a clock step
CLOCK_STEP_THRESHOLD = 0.5
#: most ticks an overrun policy ``catchup`` keeps waiting; beyond that they are skipped
CATCH_UP_BACKLOG = 1000


def default_clock() -> EngineClock:
    """Virtual time under a trio ``MockClock`` (tests), else the precise real-time clock."""
    import trio.testing

    if isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock):
        return TrioClock()
    return PreciseClock()


def parse_overrun(text: str) -> Overrun:
    """Parse ``skip``, ``queue``, ``cancel``, ``catchup`` or ``concurrent[:N]`` (N defaults to 4).

    Raises:
        SpecError: naming the value and the accepted forms.
    """
    kind, _, n = text.strip().lower().partition(":")
    if kind in ("skip", "queue", "cancel", "catchup") and not n:
        return Overrun(kind=kind)  # type: ignore[arg-type]
    if kind == "concurrent":
        if not n:
            return Overrun(kind="concurrent", limit=4)
        if n.isdigit() and int(n) >= 1:
            return Overrun(kind="concurrent", limit=int(n))
    raise SpecError(f"invalid --overrun {text!r}: expected skip, queue, cancel, catchup or concurrent[:N] with N >= 1")


class _FailureLog:
    """Rate-limits failure logging per job: the first few one by one, then a summary every 10 s."""

    __slots__ = ("last_message", "last_summary", "logged", "unreported")

    def __init__(self) -> None:
        self.logged = 0
        self.unreported = 0
        self.last_summary = 0.0
        self.last_message = ""


class Job:
    """A job inside a running scheduler: its trigger, runner, policy and live state.

    Obtain one from :meth:`Scheduler.add`; read :meth:`statistics`, await :meth:`wait`,
    or :meth:`cancel` it.
    """

    def __init__(
        self,
        name: str,
        trigger: Trigger,
        runner: Runner,
        *,
        mode: Literal["precise", "relaxed"],
        overrun: Overrun,
        count: int | None,
        duration: float | None,
        spin: float,
        auto: bool = False,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        jitter: float | None = None,
        jitter_mode: Literal["random", "hash"] = "random",
        misfire: Misfire | None = None,
        last_fired: _dt.datetime | None = None,
        namespace: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.name = name
        #: seconds after which a run is cancelled and recorded as timed out (None: never)
        self.timeout = timeout
        #: the namespace the job belongs to (names are unique within a namespace)
        self.namespace = namespace
        self.trigger = trigger
        self.runner = runner
        self.mode = mode
        self.overrun = overrun
        self.count = count
        self.duration = duration
        self.spin = spin
        #: sizes the spin from observed wake-up delays when it is automatic (None: a fixed spin)
        self.spin_tuner = SpinTuner(spin) if auto and 0 < spin < getattr(trigger, "period", 0.0) else None
        #: wall-clock bounds: no run before start or after end
        self.start = start
        self.end = end
        #: seconds each run is delayed by at most, and how (random per run, or a fixed hash of the name)
        self.jitter = jitter
        self.jitter_mode = jitter_mode
        #: what to do about calendar instants missed while stopped, blocked or across a clock jump
        self.misfire = misfire or Misfire()
        #: the latest calendar instant this job fired for: give it (from the store) when re-adding a
        #: job after a restart, so that instants missed while the scheduler was down follow ``misfire``
        self.last_fired = last_fired
        self.state: dict[str, Any] = {}
        self.counters = JobCounters()
        #: the exception of the most recent failed run (a PayloadFailed carries the exit code)
        self.last_error: BaseException | None = None
        self._failures = _FailureLog()
        self._period = trigger.period if isinstance(trigger, IntervalTrigger) else 0.0
        self._interval = isinstance(trigger, IntervalTrigger)
        self._calendar = isinstance(trigger, CalendarTrigger)
        self._anchor = 0.0
        self._first_due = 0.0
        #: due "now" when it started: the first run is due when the loop first reaches it, and the
        #: grid is anchored there (the loop's own start-up does not count as lateness)
        self._due_at_first_look = False
        self._due_wall: _dt.datetime | None = None
        #: missed instants still to run (catch-up) and the wall time up to which instants are handled
        self._catchup: list[_dt.datetime] = []
        self._resume_after: _dt.datetime | None = None
        self._jitter_now = 0.0
        self._catching = False
        self._peek: tuple[_dt.datetime, _dt.datetime | None] | None = None
        #: how to rebuild the trigger when the job starts (anchors "now" at the real start)
        self._rebuild: Callable[[_dt.datetime], Trigger] | None = None
        self._end_at: float | None = None
        #: the monotonic time of ``end`` (a wall-clock instant), for interval jobs
        self._end_by_wall: float | None = None
        self._tick = 0
        self._runs = 0
        self._token = -1
        self._running = 0
        self._scopes: set[trio.CancelScope] = set()
        self._queued: tuple[int, float] | None = None
        self._backlog: collections.deque[tuple[int, float]] = collections.deque()
        self._scheduling = False
        self._done = trio.Event()

    def __repr__(self) -> str:
        return f"<Job {self.name!r} {self.trigger!r} runs={self._runs}>"

    @property
    def done(self) -> bool:
        """True once the job will run no more and no run of it is in flight."""
        return self._done.is_set()

    def statistics(self) -> JobStats:
        """A snapshot of this job's statistics."""
        return self.counters.snapshot(self.name, self._running)

    async def wait(self) -> None:
        """Wait until the job is done."""
        await self._done.wait()


class Scheduler:
    """A punctual scheduler running inside the caller's trio loop.

    Start it with ``await nursery.start(scheduler.serve)`` or use
    :func:`supertask.open_scheduler`. Jobs can be added before or while it serves.

    Args:
        clock: the engine clock; default: :class:`PreciseClock` (timerfd + spin),
            or virtual time when trio runs under a ``MockClock``.
        sinks: where results and output go (default: stdout).
        shutdown_grace: seconds running payloads get to finish after :meth:`stop`
            before they are cancelled (subprocess groups are then killed).
    """

    def __init__(
        self,
        *,
        clock: EngineClock | None = None,
        sinks: Iterable[Sink] | None = None,
        shutdown_grace: float = 2.0,
        max_processes: int | None = None,
    ) -> None:
        if max_processes is not None and max_processes < 1:
            raise SpecError(f"invalid max_processes {max_processes!r}: expected a whole number >= 1")
        #: at most this many payload processes at once, over all jobs (None: no limit)
        self.max_processes = max_processes
        self._process_limit = trio.CapacityLimiter(max_processes) if max_processes else None
        self._services: trio.Nursery | None = None
        self._service_values: dict[str, Any] = {}
        self._service_starting: dict[str, trio.Event] = {}
        self._clock = clock
        self._own_clock = False
        self.sinks: list[Sink] = [StdoutSink()] if sinks is None else list(sinks)
        #: the sinks that receive run records (fixed when serving starts)
        self._run_sinks: list[Sink] = []
        self.shutdown_grace = shutdown_grace
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._jobs: dict[str, Job] = {}
        self._pending: list[Job] = []
        self._state: Literal["new", "running", "stopping", "stopped"] = "new"
        self._wake = trio.Event()
        self._sleeping = False
        self._sleep_target = float("inf")
        self._nursery: trio.Nursery | None = None
        self._in_flight = 0
        self._runs_idle = trio.Event()
        self._runs_idle.set()
        self._active_jobs = 0
        self._all_done = trio.Event()
        self._all_done.set()
        self._grace_scope: trio.CancelScope | None = None
        self._closed_sinks: set[Sink] = set()
        self._closing_sinks = False
        self._stop_grace: float | None = None
        #: set when a sink or payload found stdout closed (``| head``)
        self.stdout_closed = False
        #: wall clock minus monotonic clock, to notice wall-clock steps
        self._wall_offset = 0.0
        #: wall-clock steps noticed so far
        self.clock_steps = 0

    # ------------------------------------------------------------ public API

    @property
    def clock(self) -> EngineClock | None:
        """The engine clock (chosen when serving starts, unless given)."""
        return self._clock

    @property
    def jobs(self) -> Sequence[Job]:
        """All jobs added, in order."""
        return list(self._jobs.values())

    def add(
        self,
        when: Trigger | TriggerSpec | Schedule | str,
        payload: Runner | Callable[..., Any] | str | Any,
        *,
        name: str | None = None,
        count: int | None = None,
        duration: float | None = None,
        mode: Literal["precise", "relaxed"] = "precise",
        overrun: Overrun | str = "skip",
        spin: float | None = None,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        jitter: float | None = None,
        jitter_mode: Literal["random", "hash"] = "random",
        misfire: Misfire | str | None = None,
        last_fired: _dt.datetime | None = None,
        namespace: str | None = None,
        isolation: Literal["inprocess", "thread", "actor", "process"] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        passthrough: bool = False,
        actors: int = 1,
        kill_grace: float = 1.0,
    ) -> Job:
        """Add a job; it starts at once if the scheduler is serving, else when it starts.

        Args:
            when: a schedule (:func:`supertask.every`, :func:`supertask.cron`, ``daily().at("09:00")``, …),
                a trigger, a trigger record, or ``--when`` text such as ``"20ms"`` or ``"@daily"``.
            payload: a Python callable or coroutine function (receives the ``task``), a
                runner, a payload record, or payload text (``"python:…"``, ``"cmd:…"``).
            name: unique job name (default: derived from the payload).
            count: stop after this many runs.
            duration: stop scheduling this many seconds after the job starts.
            mode: ``precise`` (grid, start-to-start) or ``relaxed`` (period counted from the
                end of the previous run, like plain ``watch``).
            overrun: ``skip`` (default), ``queue``, ``cancel``, ``catchup`` or ``concurrent[:N]``.
            spin: seconds of final busy-wait before each deadline (None: automatic).
            start: no run before this aware datetime; intervals start their grid there.
            end: no run after this aware datetime.
            jitter: delay each run by up to this many seconds.
            jitter_mode: ``random`` (uniform, per run) or ``hash`` (a fixed delay from the job's name).
            misfire: ``run-once`` (default), ``catch-up[:N]`` or ``skip`` (or a :class:`Misfire`):
                what a calendar job does about instants that passed while it could not run.
            last_fired: the latest instant the job fired for before (from a store, after a restart):
                instants between it and now are misfires.
            namespace: the namespace of the job; names need only be unique within one.
            isolation: where Python code runs: ``inprocess`` (default), ``thread``, ``actor``
                (a warm tractor actor) or ``process`` (a fresh interpreter per run).
            env: environment variables for this job's runs only.
            cwd: working directory of this job's runs.
            timeout: seconds after which a run is cancelled (process groups killed) and
                recorded as ``timed-out``.
            passthrough: subprocess output goes straight to this process's stdout/stderr.
            actors: warm actors kept for this job with ``isolation="actor"``.
            kill_grace: seconds between SIGTERM and SIGKILL when a run's process group is stopped.

        Raises:
            SpecError: a bad *when*, *payload* or policy value.
            SchedulerError: the scheduler has stopped.
        """
        if self._state in ("stopping", "stopped"):
            raise SchedulerError("cannot add a job to a stopped scheduler")
        from ..schedule import Schedule

        if isinstance(when, Schedule):
            # a fluent schedule carries its own bounds and policies; explicit arguments win
            opts = when.options
            when = when.spec
            start = start if start is not None else opts.get("start")
            end = end if end is not None else opts.get("end")
            count = count if count is not None else opts.get("count")
            jitter = jitter if jitter is not None else opts.get("jitter")
            jitter_mode = opts.get("jitter_mode", jitter_mode)
            misfire = misfire if misfire is not None else opts.get("misfire")
        for label, value in (("start", start), ("end", end), ("last_fired", last_fired)):
            if value is not None and value.tzinfo is None:
                raise SpecError(f"invalid {label} {value.isoformat()!r}: expected an aware datetime (with a zone)")
        if start is not None and end is not None and end <= start:
            raise SpecError(f"invalid end {end.isoformat()!r}: it is not after start {start.isoformat()!r}")
        if jitter is not None and jitter < 0:
            raise SpecError(f"invalid jitter {jitter!r}: expected seconds >= 0")
        if jitter_mode not in ("random", "hash"):
            raise SpecError(f"invalid jitter mode {jitter_mode!r}: expected random or hash")
        if isinstance(misfire, str):
            from ..triggers.misfire import parse_misfire

            misfire = parse_misfire(misfire)
        if timeout is not None and not timeout > 0:
            raise SpecError(f"invalid timeout {timeout!r}: expected seconds > 0")
        runtime = Runtime(
            isolation=isolation or "inprocess", env=dict(env or {}), cwd=cwd, timeout=timeout, kill_grace=kill_grace
        )
        runner = build_runner(payload, runtime, passthrough=passthrough, actors=actors)
        seed = name or runner.description
        wall_now = self._clock.wall_datetime() if self._clock is not None else _dt.datetime.now(_dt.UTC)
        trigger = _as_trigger(when, now=wall_now, start=start, seed=seed)
        rebuild: Callable[[_dt.datetime], Trigger] | None = None
        if not isinstance(when, Trigger):

            def rebuild(now: _dt.datetime) -> Trigger:
                return _bounded(_as_trigger(when, now=now, start=start, seed=seed), start, end)

        trigger = _bounded(trigger, start, end)
        if isinstance(overrun, str):
            overrun = parse_overrun(overrun)
        if mode not in ("precise", "relaxed"):
            raise SpecError(f"invalid mode {mode!r}: expected precise or relaxed")
        if mode == "relaxed" and not isinstance(trigger, IntervalTrigger):
            raise SpecError("relaxed mode needs an interval (e.g. 20ms); calendar and once jobs are always precise")
        if count is not None and count < 1:
            raise SpecError(f"invalid count {count!r}: expected a whole number >= 1")
        if duration is not None and not duration > 0:
            raise SpecError(f"invalid duration {duration!r}: expected seconds > 0")
        if spin is not None and spin < 0:
            raise SpecError(f"invalid spin {spin!r}: expected seconds >= 0")
        base = name or runner.description
        unique, n = base, 1
        while _job_key(namespace, unique) in self._jobs:
            n += 1
            unique = f"{base}#{n}"
        job = Job(
            unique,
            trigger,
            runner,
            mode=mode,
            overrun=overrun,
            count=count,
            duration=duration,
            spin=auto_spin(trigger) if spin is None else spin,
            auto=spin is None,
            start=start,
            end=end,
            jitter=jitter or None,
            jitter_mode=jitter_mode,
            misfire=misfire,
            last_fired=last_fired,
            namespace=namespace,
            timeout=timeout,
        )
        job._rebuild = rebuild
        self._jobs[_job_key(namespace, unique)] = job
        self._active_jobs += 1
        self._all_done = trio.Event() if self._all_done.is_set() else self._all_done
        if self._state == "running":
            self._start_job(job)
        else:
            self._pending.append(job)
        return job

    def add_spec(self, spec: JobSpec, *, last_fired: _dt.datetime | None = None, runner: Runner | None = None) -> Job:
        """Add a job described by a model record (what the CLI and timetables produce).

        Args:
            spec: the job.
            runner: the job's runner if it was built before (default: built from the record).
            last_fired: the latest instant the job fired for in an earlier life of the scheduler
                (the store keeps it): missed instants since then follow the job's misfire policy.

        Raises:
            SpecError: a bad value in the record.
            SchedulerError: the scheduler has stopped.
        """
        p, rt = spec.policy, spec.runtime
        return self.add(
            spec.trigger,
            runner or build_runner(spec.payload, spec.runtime),
            name=spec.meta.name,
            count=p.count,
            duration=p.duration,
            mode=p.mode,
            overrun=p.overrun,
            spin=p.spin,
            start=p.start,
            end=p.end,
            jitter=p.jitter,
            jitter_mode=p.jitter_mode,
            misfire=p.misfire,
            last_fired=last_fired,
            namespace=spec.namespace,
            isolation=rt.isolation,
            env=rt.env,
            cwd=rt.cwd,
            timeout=rt.timeout,
            passthrough=rt.passthrough,
            actors=rt.actors,
            kill_grace=rt.kill_grace,
        )

    def get_job(self, name: str, namespace: str | None = None) -> Job | None:
        """The job named *name* in *namespace*, or None."""
        return self._jobs.get(_job_key(namespace, name))

    def remove(self, job: Job) -> None:
        """Stop scheduling *job* and forget it (its name can be reused); a run in flight may finish."""
        key = _job_key(job.namespace, job.name)
        if self._jobs.get(key) is not job:
            return
        del self._jobs[key]
        if job in self._pending:
            self._pending.remove(job)
            job._scheduling = False
        if job._scheduling:
            self._finish_scheduling(job)
        elif not job._done.is_set() and not job._running:
            self._maybe_done(job)

    def statistics(self) -> list[JobStats]:
        """Snapshots of every job's statistics."""
        return [job.statistics() for job in self._jobs.values()]

    async def start_service(self, key: str, fn: Callable[..., Any]) -> Any:
        """Start ``fn(task_status=…)`` once per scheduler under *key* and return what it passes to
        ``task_status.started``; later calls return the same value. Services (e.g. the actor
        runtime) run until the scheduler stops, after the last run ended.

        Raises:
            SchedulerError: the scheduler is not serving.
        """
        while True:
            if key in self._service_values:
                return self._service_values[key]
            starting = self._service_starting.get(key)
            if starting is None:
                break
            await starting.wait()
        if self._services is None:
            raise SchedulerError("services start only while the scheduler serves")
        event = self._service_starting[key] = trio.Event()
        try:
            value = await self._services.start(fn, name=f"supertask service {key}")
            self._service_values[key] = value
            return value
        finally:
            del self._service_starting[key]
            event.set()

    async def wait_idle(self) -> None:
        """Wait until every job added so far is done (or the scheduler has stopped)."""
        while not self._all_done.is_set() and self._state != "stopped":
            await self._all_done.wait()

    def stop(self, grace: float | None = None) -> None:
        """Stop scheduling; running payloads get *grace* seconds (default ``shutdown_grace``)
        to finish, then they are cancelled. Calling it again with a smaller grace shortens it."""
        grace = self.shutdown_grace if grace is None else max(0.0, grace)
        self._stop_grace = grace if self._stop_grace is None else min(self._stop_grace, grace)
        if self._grace_scope is not None:
            self._grace_scope.deadline = min(self._grace_scope.deadline, trio.current_time() + grace)
        if self._closing_sinks:  # the runs are over and the sinks flush: their waiting too gets *grace*
            for sink in self.sinks:
                try:
                    sink.cut_flush(grace)
                except Exception:
                    log.debug("sink %r failed to cut its flush", sink, exc_info=True)
        if self._state in ("new", "running"):
            self._state = "stopping"
            self._wake.set()
            if self._sleeping and self._clock is not None:
                self._clock.interrupt()

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the scheduler until :meth:`stop` (or cancellation); the run nursery lives here.

        The sinks' background tasks (:meth:`Sink.serve`) start first and outlive the
        jobs, so a sink can still flush in its ``aclose``.
        """
        if self._state != "new":
            raise SchedulerError(f"a scheduler serves only once (it is {self._state})")
        async with trio.open_nursery() as services:
            for sink in self.sinks:
                await services.start(_serve_sink, sink)
            await self._serve_jobs(task_status)
            services.cancel_scope.cancel()

    async def _serve_jobs(self, task_status: Any) -> None:
        if self._state != "new":
            raise SchedulerError(f"a scheduler serves only once (it is {self._state})")
        if self._clock is None:
            self._clock = default_clock()
            self._own_clock = True
        try:
            self._run_sinks = [sink for sink in self.sinks if sink.wants_runs]
            async with trio.open_nursery() as services:
                self._services = services
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    self._state = "running"
                    self._wall_offset = self._clock.wall() - self._clock.now()
                    nursery.start_soon(self._watch_wall_clock, name="supertask wall-clock watch")
                    task_status.started(self)
                    # let the tasks just started take their first steps, so that a job due "now"
                    # is anchored after that start-up, not made late by it
                    await trio.lowlevel.checkpoint()
                    pending, self._pending = self._pending, []
                    for job in pending:
                        self._start_job(job)
                    await self._loop()
                    grace = self.shutdown_grace if self._stop_grace is None else self._stop_grace
                    began = trio.current_time()
                    with trio.move_on_at(began + grace) as scope:
                        self._grace_scope = scope
                        if self._in_flight:
                            await self._runs_idle.wait()
                    if scope.cancelled_caught:
                        waited = trio.current_time() - began
                        (log.debug if self.stdout_closed else log.info)(
                            "shutdown grace %s: cancelling %d running payload(s)",
                            f"of {grace:.3g}s over" if waited >= grace - 1e-3 else f"cut short after {waited:.3g}s",
                            self._in_flight,
                        )
                    nursery.cancel_scope.cancel()
                # services (warm actors) end after the last run; those with aclose() end gracefully
                self._services = None
                for key, value in list(self._service_values.items()):
                    if hasattr(value, "aclose"):
                        try:
                            await value.aclose()
                        except Exception:
                            log.exception("service %r failed to close", key)
                services.cancel_scope.cancel()
            self._state = "stopped"
            await self._close_sinks()
        finally:
            self._state = "stopped"
            for job in self._jobs.values():
                self._flush_failures(job)
                job._done.set()
            self._all_done.set()
            for sink in self.sinks:
                if sink not in self._closed_sinks:
                    self._closed_sinks.add(sink)
                    try:
                        sink.close()
                    except Exception:
                        log.debug("sink %r failed to close", sink, exc_info=True)
            if self._own_clock and self._clock is not None:
                self._clock.close()

    async def _close_sinks(self) -> None:
        for job in self._jobs.values():
            self._flush_failures(job)
        self._closing_sinks = True
        try:
            for sink in self.sinks:
                self._closed_sinks.add(sink)
                try:
                    await sink.aclose()
                except BrokenPipeError:
                    self.stdout_closed = True
                except Exception:
                    log.exception("sink %r failed to close", sink)
        finally:
            self._closing_sinks = False

    # ------------------------------------------------------------ the loop

    def _spin(self, job: Job) -> float:
        """The final busy-wait before the job's next deadline."""
        if not self._clock or not self._clock.can_spin:
            return 0.0
        tuner = job.spin_tuner
        return job.spin if tuner is None else tuner.spin

    async def _loop(self) -> None:
        heap = self._heap
        clock = self._clock
        assert clock is not None
        # jobs due at the same time are dispatched in a row (a burst), with no trio pass between them
        burst = 0  # dispatches so far in the current burst
        burst_began = 0.0  # when its first dispatch began
        while self._state == "running":
            if not heap:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            deadline, token, job = heap[0]
            if job._token != token:
                heapq.heappop(heap)
                continue
            tuner = job.spin_tuner
            spin = self._spin(job)
            target = deadline - spin
            delay = -1.0
            # due now, right after the job just dispatched: trio's turn comes after this one (a clock
            # that cannot spin, i.e. virtual time, only takes jobs already due: no run starts early)
            in_burst = burst > 0 and deadline <= clock.now() + (BURST_WINDOW if clock.can_spin else 0.0)
            if not in_burst:
                burst = 0
                self._sleep_target = deadline
                self._sleeping = True
                waits = tuner is not None and clock.now() < target
                reached = await clock.wait_until(target, spin > 0)
                self._sleeping = False
                self._sleep_target = float("inf")
                if not reached or self._state != "running":
                    continue
                if waits:
                    delay = clock.now() - target
            if not heap or heap[0][1] != token:
                continue  # the head changed while we waited
            if job._token != token:
                heapq.heappop(heap)
                continue  # rescheduled to a later time while we waited (a wall-clock step)
            if job._calendar and self._check_wall_step():
                continue  # calendar deadlines were recomputed
            if job._running and job.runner.is_async and clock.now() - deadline > CATCHING_UP:
                # catching up after a stall: the job's previous run, started a moment ago, may not
                # have had its trio turn yet; give it that turn before taking it for an overrun
                await trio.lowlevel.checkpoint()
                await trio.lowlevel.checkpoint()
                if not heap or heap[0][1] != token or self._state != "running":
                    continue
            heapq.heappop(heap)
            # the last stretch is busy-waited; nothing but the dispatch lies after it
            now = clock.spin_until(deadline) if spin or in_burst else clock.now()
            if not burst:
                burst_began = now
            self._dispatch(job, deadline, now)
            if delay >= 0.0:
                tuner.observe(delay)  # type: ignore[union-attr]  # after the dispatch: it sorts now and then
            # another job due at the same time (many jobs on the minute) is dispatched before trio
            # runs what this one started (spawning a process takes a millisecond); a burst ends
            # when its jobs' payloads have taken BURST_TIME, and after MAX_BURST dispatches
            if (
                heap
                and heap[0][2] is not job
                and heap[0][0] <= clock.now() + BURST_WINDOW
                and burst < MAX_BURST
                and clock.now() - burst_began < BURST_TIME
            ):
                burst += 1
            else:
                burst = 0

    async def _watch_wall_clock(self) -> None:
        """Recompute calendar deadlines when the wall clock is stepped (see :meth:`EngineClock.wait_wall_step`)."""
        clock = self._clock
        assert clock is not None
        while True:
            await clock.wait_wall_step()
            if self._state == "running":
                self._check_wall_step()

    def _check_wall_step(self) -> bool:
        """If the wall clock moved against the monotonic clock, move the calendar deadlines; return whether it did.

        Forward steps make passed instants due at once (they follow the misfire policy);
        after a backward step a job waits for its next instant, and instants it already
        fired for are not fired again. Interval jobs keep their monotonic grid.
        """
        clock = self._clock
        assert clock is not None
        now = clock.now()
        wall = clock.wall()
        delta = (wall - now) - self._wall_offset
        if abs(delta) < CLOCK_STEP_THRESHOLD:
            return False
        self._wall_offset = wall - now
        self.clock_steps += 1
        wall_now = _dt.datetime.fromtimestamp(wall, _dt.UTC)
        moved = 0
        for job in self._jobs.values():
            if (
                job._interval
                and job._runs == 0
                and job._token != -1
                and job.start is not None
                and job.start.timestamp() > wall
            ):
                # an interval waiting for its --start: the start is a wall-clock time
                job._anchor = job._first_due = now + (job.start.timestamp() - wall)
                self._push(job, job._anchor + job._jitter_now)
                moved += 1
                continue
            if not (job._calendar and job._scheduling and job._token != -1 and job._due_wall is not None):
                continue
            if job._catching:
                continue  # a planned catch-up run: due at once anyway
            trigger = job.trigger
            assert isinstance(trigger, CalendarTrigger)
            if delta < 0:
                # back in time: the next instant after now, but never one already fired for
                after = wall_now - _dt.timedelta(microseconds=1)
                if job.last_fired is not None and job.last_fired.timestamp() > after.timestamp():
                    after = job.last_fired
                nxt = trigger.next_after(after)
                if nxt is None:
                    self._finish_scheduling(job)
                    continue
                job._due_wall = nxt
            self._push(job, now + (job._due_wall.timestamp() - wall) + job._jitter_now)
            moved += 1
        log.warning(
            "wall clock stepped by %+.3fs (now %s): %d calendar deadline(s) recomputed; intervals keep their grid",
            delta,
            wall_now.isoformat(timespec="seconds"),
            moved,
        )
        return True

    def _push(self, job: Job, deadline: float) -> None:
        token = next(self._seq)
        job._token = token
        heapq.heappush(self._heap, (deadline, token, job))
        if deadline < self._sleep_target and self._sleeping:
            self._clock.interrupt()  # type: ignore[union-attr]
        if not self._wake.is_set():  # Event.set is KI-protected: a wrapper call per tick otherwise
            self._wake.set()

    def _start_job(self, job: Job) -> None:
        clock = self._clock
        assert clock is not None
        now = clock.now()
        wall = clock.wall()
        wall_now = _dt.datetime.fromtimestamp(wall, _dt.UTC)
        job._scheduling = True
        if job._rebuild is not None:
            job.trigger = job._rebuild(wall_now)  # "now" anchors (calendar intervals, unions) at the real start
        job._anchor = now
        if job.duration is not None:
            job._end_at = now + job.duration
        if job.end is not None and not job._calendar:
            end_at = job._end_by_wall = now + (job.end.timestamp() - wall) + 1e-6  # a run exactly at the end runs
            job._end_at = end_at if job._end_at is None else min(job._end_at, end_at)
        if isinstance(job.trigger, CalendarTrigger):
            trigger = job.trigger
            first: _dt.datetime | None = None
            deadline = now
            if job.last_fired is not None:
                missed = trigger.next_after(job.last_fired)
                if missed is not None and missed.timestamp() <= wall:
                    plan = plan_misfires(trigger, missed, wall_now, job.misfire, on_time=ON_TIME + (job.jitter or 0.0))
                    job._resume_after = wall_now
                    self._note_misfires(job, plan, "while the scheduler was stopped")
                    if plan.run:
                        first, job._catchup = plan.run[0], plan.run[1:]
                        job._catching = True
                        job._tick += plan.skipped
            if first is None:
                # an instant exactly now fires now
                after = job._resume_after or (wall_now - _dt.timedelta(microseconds=1))
                first = trigger.next_after(after)
                if first is None:
                    log.warning("job %r never fires: its trigger has no time after now", job.name)
                    self._finish_scheduling(job)
                    return
                deadline = now + (first.timestamp() - wall) + self._jitter(job)
            job._due_wall = first
        else:
            deadline = now
            if job.start is not None and job.start.timestamp() > wall:
                deadline = job._anchor = now + (job.start.timestamp() - wall)
            deadline += self._jitter(job)
            job._due_at_first_look = deadline == now
        job._first_due = deadline
        if job._end_at is not None and deadline >= job._end_at:
            log.info("job %r: its first time is after its end: it does not run", job.name)
            self._finish_scheduling(job)
            return
        if deadline - now >= 1.0:
            due = job._due_wall or _dt.datetime.fromtimestamp(wall + deadline - now, _dt.UTC)
            log.info(
                "job %r: first run at %s (in %s)",
                job.name,
                _format_instant(due, getattr(job.trigger, "tz", None)),
                format_duration(deadline - now),
            )
        self._push(job, deadline)

    def _jitter(self, job: Job) -> float:
        """The delay of the next run: uniform in [0, jitter), or a fixed fraction hashed from the job's name."""
        j = job.jitter
        if not j:
            return 0.0
        if job.jitter_mode == "hash":
            digest = hashlib.sha256(job.name.encode()).digest()
            offset = int.from_bytes(digest[:8], "big") / 2**64 * j
        else:
            offset = random.uniform(0.0, j)
        job._jitter_now = offset
        return offset

    def _note_misfires(self, job: Job, plan: MisfirePlan, why: str) -> None:
        """Count and report the instants a misfire plan skips."""
        if plan.skipped:
            job.counters.skipped += plan.skipped
            if self._run_sinks:
                self._skipped(job, job._tick, plan.skipped, None, plan.first_skipped or job._due_wall)
        if plan.skipped or len(plan.run) > 1 or why != "late":
            log.info(
                "job %r: %s%d calendar instant(s) missed %s; misfire policy %s: %d run now, %d skipped",
                job.name,
                "at least " if plan.approximate else "",
                plan.skipped + len(plan.run),
                why,
                job.misfire.kind,
                len(plan.run),
                plan.skipped,
            )

    def _dispatch(self, job: Job, deadline: float, now: float) -> None:
        """Start (or skip, or queue) the job's run due at *deadline*; *now* is the moment the wait for it ended."""
        clock = self._clock
        assert clock is not None
        if job._due_at_first_look:
            job._due_at_first_look = False
            if job.duration is not None:
                # "--for" counts from the first run, like the grid (an --end stays where it is)
                job._end_at = now + job.duration
                if job._end_by_wall is not None:
                    job._end_at = min(job._end_at, job._end_by_wall)
            job._anchor = job._first_due = deadline = now
        if job._interval:
            if job.mode == "precise":
                late = now - deadline
                period = job._period
                if late >= period and late >= CATCH_UP_WITHIN:
                    missed = int(late // period)
                    if job._end_at is not None:
                        # only ticks before the job's end count as skipped
                        before_end = math.ceil((job._end_at - job._anchor) / period - 1e-9)
                        missed = min(missed, max(0, before_end - job._tick))
                    if self._run_sinks:
                        self._skipped(job, job._tick, missed, deadline)
                    job._tick += missed
                    job.counters.skipped += missed
                    deadline = job._anchor + job._tick * period
        elif job._calendar and job._due_wall is not None:
            if job._catching:
                job._catching = False  # this instant comes from a misfire plan: it runs as planned
            else:
                trigger = job.trigger
                assert isinstance(trigger, CalendarTrigger)
                wall_now = clock.wall_datetime()
                wall_ts = wall_now.timestamp()
                late = wall_ts - job._due_wall.timestamp() - job._jitter_now
                nxt = trigger.next_after(job._due_wall)
                job._peek = (job._due_wall, nxt)  # _schedule_next reuses it
                if late > ON_TIME or (nxt is not None and nxt.timestamp() <= wall_ts):
                    on_time = ON_TIME + (job.jitter or 0.0)
                    plan = plan_misfires(trigger, job._due_wall, wall_now, job.misfire, on_time=on_time)
                    job._resume_after = wall_now
                    self._note_misfires(job, plan, "late")
                    if not plan.run:
                        job._tick += plan.skipped - 1
                        self._schedule_next(job, now)
                        return
                    job._tick += plan.skipped
                    job._due_wall, job._catchup = plan.run[0], plan.run[1:]
                    deadline = now
        if job._end_at is not None and deadline >= job._end_at:
            self._finish_scheduling(job)
            return
        runner = job.runner
        if runner.is_async and job._running >= job.overrun.limit:
            kind = job.overrun.kind
            if kind == "cancel":
                for scope in list(job._scopes):
                    scope.cancel()
            else:
                if kind == "queue" and job._queued is None:
                    job._queued = (job._tick, deadline)
                elif kind == "catchup" and len(job._backlog) < CATCH_UP_BACKLOG:
                    job._backlog.append((job._tick, deadline))
                else:
                    job.counters.skipped += 1
                    if self._run_sinks:
                        self._skipped(job, job._tick, 1, deadline)
                self._schedule_next(job, now)
                return
        self._start_run(job, job._tick, deadline, now)

    def _start_run(self, job: Job, tick: int, due: float, start: float, *, queued: bool = False) -> None:
        clock = self._clock
        assert clock is not None
        task = Task(
            job.name, job._runs, tick, job.state, due, start, job._first_due, clock, job._due_wall, job.namespace
        )
        job._runs += 1
        if job._due_wall is not None:
            job.last_fired = job._due_wall
        last = (job.count is not None and job._runs >= job.count) or isinstance(job.trigger, OnceTrigger)
        job.counters.lateness.add(start - due if start > due else 0.0)
        if self._run_sinks:
            self._run_event(job, task, "running", start, None, None)
        if not job.runner.is_async:
            value: Any = None
            try:
                value = job.runner.call(task)
            except BrokenPipeError:
                self._stdout_gone()
                self._record(job, task, start, clock.now(), "stdout-closed", None)
            except Exception as exc:
                self._record(job, task, start, clock.now(), "failed", exc)
            else:
                self._record(job, task, start, clock.now(), "ok", value)
            if last:
                self._finish_scheduling(job)
            else:
                self._schedule_next(job, clock.now())
            return
        assert self._nursery is not None
        job._running += 1
        self._in_flight += 1
        if self._runs_idle.is_set():
            self._runs_idle = trio.Event()
        runner = job.runner
        if runner.prestarts and (self._process_limit is None or not runner.spawns_process):
            runner.prestart(task)  # e.g. spawn the process now, not one loop pass later
        self._nursery.start_soon(self._run_async, job, task, start, name=f"supertask run {job.name}")
        if last:
            self._finish_scheduling(job)
        elif job.mode == "precise" and not queued:
            self._schedule_next(job, start)

    async def _run_async(self, job: Job, task: Task, start: float) -> None:
        clock = self._clock
        assert clock is not None
        scope = trio.CancelScope()
        job._scopes.add(scope)
        outcome: Literal["ok", "failed", "cancelled", "timed-out"] = "cancelled"
        value: Any = None
        limit = self._process_limit if job.runner.spawns_process else None
        try:
            with scope:
                with trio.move_on_after(job.timeout if job.timeout is not None else math.inf) as timer:
                    run_timer.set(timer)
                    if limit is not None:
                        async with limit:
                            value = await job.runner.acall(task, self)
                    else:
                        value = await job.runner.acall(task, self)
                    outcome = "ok"
                if timer.cancelled_caught:
                    outcome = "timed-out"
                    value = _timed_out(job.timeout)
        except Exception as exc:
            outcome = "failed"
            value = exc
        finally:
            job._scopes.discard(scope)
            job._running -= 1
            self._in_flight -= 1
            self._record(job, task, start, clock.now(), outcome, value)
            queued, job._queued = job._queued, None
            if queued is None and job._backlog:
                queued = job._backlog.popleft()
            if queued is not None and job.count is not None and job._runs >= job.count:
                job._backlog.clear()
                queued = None  # the count is reached: a waiting tick no longer runs
            if self._state == "running":
                if queued is not None:
                    # a tick that came due while this run went on; it still runs after the job's last tick
                    self._start_run(job, queued[0], queued[1], clock.now(), queued=True)
                elif job.mode == "relaxed" and job._scheduling:
                    self._schedule_next(job, clock.now())
            self._maybe_done(job)
            if self._in_flight == 0:
                self._runs_idle.set()

    def _schedule_next(self, job: Job, now: float) -> None:
        """Push the job's next due time; *now* is the end of the run in relaxed mode."""
        clock = self._clock
        assert clock is not None
        if job.count is not None and job._runs >= job.count:
            self._finish_scheduling(job)
            return
        trigger = job.trigger
        job._tick += 1
        if job._interval:
            deadline = job._anchor + job._tick * job._period if job.mode == "precise" else now + job._period
            deadline += self._jitter(job)
        elif isinstance(trigger, CalendarTrigger):
            assert job._due_wall is not None
            if job._catchup:
                # the next missed instant of a catch-up: at once
                job._due_wall = job._catchup.pop(0)
                job._catching = True
                self._push(job, clock.now())
                return
            after = job._due_wall
            if job._resume_after is not None:
                if job._resume_after.timestamp() > after.timestamp():
                    after = job._resume_after
                job._resume_after = None
            peek, job._peek = job._peek, None
            nxt = peek[1] if peek is not None and peek[0] is after else trigger.next_after(after)
            if nxt is None:
                self._finish_scheduling(job)
                return
            job._due_wall = nxt
            deadline = clock.now() + (nxt.timestamp() - clock.wall()) + self._jitter(job)
        else:
            self._finish_scheduling(job)
            return
        if job._end_at is not None and deadline >= job._end_at:
            self._finish_scheduling(job)
            return
        self._push(job, deadline)

    def _finish_scheduling(self, job: Job) -> None:
        job._scheduling = False
        job._token = -1
        self._maybe_done(job)

    def _maybe_done(self, job: Job) -> None:
        if job._scheduling or job._running or job._done.is_set():
            return
        self._flush_failures(job)
        job._done.set()
        self._active_jobs -= 1
        if self._active_jobs == 0:
            self._all_done.set()

    # ------------------------------------------------------------ outcomes and output

    def _record(self, job: Job, task: Task, start: float, end: float, outcome: str, value: Any) -> None:
        c = job.counters
        c.runs += 1
        c.duration.add(end - start)
        if outcome == "ok":
            c.ok += 1
            result = value.result if isinstance(value, Completed) else value
            if result is not None:
                self._emit(task, result)  # the result before the run's "finished" record
        if self._run_sinks:
            self._run_event(job, task, outcome, start, end, value)
        if outcome == "ok":
            return
        if outcome == "cancelled":
            c.cancelled += 1
        elif outcome == "timed-out":
            c.timed_out += 1
            c.failed += 1
            job.last_error = value
            self._log_failure(job, task, value)
        elif outcome == "stdout-closed":
            c.failed += 1
        else:
            c.failed += 1
            if isinstance(value, BaseException):
                job.last_error = value
            self._log_failure(job, task, value)

    def _wall(self, mono: float) -> _dt.datetime:
        clock = self._clock
        assert clock is not None
        return _dt.datetime.fromtimestamp(clock.wall() - clock.now() + mono, _dt.UTC)

    def _run_event(self, job: Job, task: Task, outcome: str, start: float, end: float | None, value: Any) -> None:
        """Build a run record (only done when a sink asked for runs) and hand it to those sinks."""
        exit_code = sig = error = result = None
        output: bytes | None = None
        if outcome == "stdout-closed":
            outcome, error = "failed", "stdout closed"
        elif outcome == "ok":
            if isinstance(value, Completed):
                result, exit_code, output = value.result, value.exit_code, value.output
            else:
                result = value
        elif isinstance(value, PayloadFailed):
            exit_code, sig, error, output = value.exit_code, value.signal, str(value), value.output
        elif isinstance(value, BaseException):
            error = f"{type(value).__name__}: {value}"
        elif value is not None:
            error = str(value)
        due = task._due
        run = Run(
            job=job.name,
            tick=task.tick,
            count=task.count,
            namespace=job.namespace,
            # one wall offset per run (the task's): the started and finished records, and the
            # results' records, carry the same scheduled and started instants
            scheduled=(
                task._due_wall.astimezone(_dt.UTC)
                if task._due_wall
                else _dt.datetime.fromtimestamp(task._wall_ts(due), _dt.UTC)
            ),
            outcome=outcome,  # type: ignore[arg-type]
            started=_dt.datetime.fromtimestamp(task._wall_ts(start), _dt.UTC),
            ended=None if end is None else self._wall(end),
            lateness=max(0.0, start - due),
            duration=None if end is None else end - start,
            exit_code=exit_code,
            signal=sig,
            error=error,
            result=result,
            output=output.decode(errors="replace") if output else None,
        )
        for sink in self._run_sinks:
            try:
                if end is None:
                    sink.run_started(run)
                else:
                    sink.run_ended(run)
            except Exception:
                log.exception("sink %r failed on a run record of job %r", sink, job.name)

    def _skipped(self, job: Job, tick: int, n: int, due: float | None, due_wall: _dt.datetime | None = None) -> None:
        """Tell the run sinks that *n* ticks from *tick* on were skipped."""
        scheduled = due_wall.astimezone(_dt.UTC) if due_wall is not None else self._wall(due or 0.0)
        run = Run(job=job.name, namespace=job.namespace, tick=tick, scheduled=scheduled, outcome="skipped", skipped=n)
        for sink in self._run_sinks:
            try:
                sink.run_ended(run)
            except Exception:
                log.exception("sink %r failed on a run record of job %r", sink, job.name)

    def _emit(self, task: Task, value: Any) -> None:
        for sink in self.sinks:
            try:
                sink.result(task, value)
            except BrokenPipeError:
                self._stdout_gone()
            except Exception:
                log.exception("sink %r failed on a result of job %r", sink, task.name)

    def output(self, task: Task, data: bytes) -> None:
        """Forward a run's stdout to the sinks (the runners' RunIO)."""
        for sink in self.sinks:
            try:
                sink.output(task, data)
            except BrokenPipeError:
                self._stdout_gone()
            except Exception:
                log.exception("sink %r failed on output of job %r", sink, task.name)

    def error_output(self, task: Task, data: bytes) -> None:
        """Forward a run's stderr to the sinks (the runners' RunIO)."""
        for sink in self.sinks:
            try:
                sink.error_output(task, data)
            except Exception:
                log.exception("sink %r failed on error output of job %r", sink, task.name)

    def _stdout_gone(self) -> None:
        if not self.stdout_closed:
            self.stdout_closed = True
            log.debug("stdout is closed: stopping")
            self.stop(grace=0)

    def _log_failure(self, job: Job, task: Task, error: Any) -> None:
        if isinstance(error, PayloadFailed) or not isinstance(error, BaseException):
            message = str(error) if error is not None else "failed"
        else:
            message = f"{type(error).__name__}: {error}"
        f = job._failures
        f.last_message = message
        if f.logged < FAILURES_LOGGED:
            f.logged += 1
            log.warning("job %r run %d failed: %s", job.name, task.count, message)
            if isinstance(error, BaseException) and not isinstance(error, PayloadFailed):
                log.debug("traceback of job %r run %d", job.name, task.count, exc_info=error)
            if f.logged == FAILURES_LOGGED:
                log.warning("job %r: further failures are summarised every %gs", job.name, FAILURE_SUMMARY_EVERY)
                f.last_summary = time.monotonic()
            return
        f.unreported += 1
        now = time.monotonic()
        if now - f.last_summary >= FAILURE_SUMMARY_EVERY:
            self._flush_failures(job)

    def _flush_failures(self, job: Job) -> None:
        f = job._failures
        if f.unreported:
            log.warning(
                "job %r: %d more failed run(s), %d in all (last: %s)",
                job.name,
                f.unreported,
                job.counters.failed,
                f.last_message,
            )
            f.unreported = 0
        f.last_summary = time.monotonic()


async def _serve_sink(sink: Sink, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """A sink's background task; its failure is logged and never stops the scheduler."""
    try:
        await sink.serve(task_status=task_status)
    except Exception:
        log.exception("sink %r stopped working", sink)
        try:
            task_status.started()  # it failed before it started: the jobs start anyway
        except RuntimeError:
            pass  # it had started


def _timed_out(timeout: float | None) -> PayloadFailed:
    """The failure of a timed-out run, with how its process ended if one had to be stopped."""
    rc = killed_returncode.get()
    if rc is None:
        return PayloadFailed(f"timed out after {timeout:g}s")
    if rc < 0:
        try:
            how = f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            how = f"killed by signal {-rc}"
        return PayloadFailed(f"timed out after {timeout:g}s ({how})", signal=-rc)
    return PayloadFailed(f"timed out after {timeout:g}s (exit code {rc})", exit_code=rc)


def _format_instant(t: _dt.datetime, tz: Any) -> str:
    from ..timezones import local_zone

    return t.astimezone(tz or local_zone()).strftime("%a %Y-%m-%d %H:%M:%S %Z")


def _job_key(namespace: str | None, name: str) -> str:
    return name if namespace is None else f"{namespace}\x00{name}"


def _as_trigger(
    when: Trigger | TriggerSpec | str,
    *,
    now: _dt.datetime | None = None,
    start: _dt.datetime | None = None,
    seed: str | None = None,
) -> Trigger:
    if isinstance(when, Trigger):
        return when
    if isinstance(when, str):
        from ..when import parse_when

        when = parse_when(when)
    return build_trigger(when, now=now, start=start, seed=seed)


def _bounded(trigger: Trigger, start: _dt.datetime | None, end: _dt.datetime | None) -> Trigger:
    """Apply --start/--end to a calendar trigger (intervals keep them in the engine, on the monotonic clock)."""
    if start is None and end is None:
        return trigger
    if isinstance(trigger, OnceTrigger) and start is not None:
        from ..triggers import AtTrigger

        trigger = AtTrigger(start)
    if isinstance(trigger, CalendarTrigger):
        return BoundedTrigger(trigger, start, end)
    return trigger
