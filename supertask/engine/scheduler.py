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

import datetime as _dt
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import trio

from ..errors import SchedulerError, SpecError
from ..model import JobSpec, Overrun, Run, TriggerSpec
from ..runners import PayloadFailed, Runner, build_runner
from ..sinks import Sink, StdoutSink
from ..triggers import CalendarTrigger, IntervalTrigger, OnceTrigger, Trigger, build_trigger
from .clock import EngineClock, PreciseClock, TrioClock
from .stats import JobCounters, JobStats
from .task import Task

__all__ = ["Job", "Scheduler", "auto_spin", "default_clock", "parse_overrun"]

log = logging.getLogger(__name__)

#: longest automatic final spin before a deadline
SPIN_CAP = 300e-6
#: periods up to this are busy-waited whole: a timer wake-up costs more than it saves
SPIN_WHOLE_PERIOD = 500e-6
#: an interval tick less late than this (or than one period) still runs, to catch up;
#: beyond it the job skips to the latest due grid point and counts the ticks it skipped
CATCH_UP_WITHIN = 1e-3
#: failures logged one by one per job before they are only summarised
FAILURES_LOGGED = 5
#: seconds between failure summaries of one job
FAILURE_SUMMARY_EVERY = 10.0


def auto_spin(trigger: Trigger) -> float:
    """The default final spin for a trigger: the whole period below 0.5 ms, else 15 % of
    the period up to 300 µs for intervals up to 10 s, and none for longer or calendar triggers."""
    if isinstance(trigger, IntervalTrigger):
        p = trigger.period
        if p <= SPIN_WHOLE_PERIOD:
            return p
        if p <= 10.0:
            return min(0.15 * p, SPIN_CAP)
    return 0.0


def default_clock() -> EngineClock:
    """Virtual time under a trio ``MockClock`` (tests), else the precise real-time clock."""
    import trio.testing

    if isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock):
        return TrioClock()
    return PreciseClock()


def parse_overrun(text: str) -> Overrun:
    """Parse ``skip``, ``queue``, ``cancel`` or ``concurrent[:N]`` (N defaults to 4).

    Raises:
        SpecError: naming the value and the accepted forms.
    """
    kind, _, n = text.strip().lower().partition(":")
    if kind in ("skip", "queue", "cancel") and not n:
        return Overrun(kind=kind)  # type: ignore[arg-type]
    if kind == "concurrent":
        if not n:
            return Overrun(kind="concurrent", limit=4)
        if n.isdigit() and int(n) >= 1:
            return Overrun(kind="concurrent", limit=int(n))
    raise SpecError(f"invalid --overrun {text!r}: expected skip, queue, cancel or concurrent[:N] with N >= 1")


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
    ) -> None:
        self.name = name
        self.trigger = trigger
        self.runner = runner
        self.mode = mode
        self.overrun = overrun
        self.count = count
        self.duration = duration
        self.spin = spin
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
        self._due_wall: _dt.datetime | None = None
        self._end_at: float | None = None
        self._tick = 0
        self._runs = 0
        self._token = -1
        self._running = 0
        self._scopes: set[trio.CancelScope] = set()
        self._queued: tuple[int, float] | None = None
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
    ) -> None:
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
        self._stop_grace: float | None = None
        #: set when a sink or payload found stdout closed (``| head``)
        self.stdout_closed = False

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
        when: Trigger | TriggerSpec | str,
        payload: Runner | Callable[..., Any] | str | Any,
        *,
        name: str | None = None,
        count: int | None = None,
        duration: float | None = None,
        mode: Literal["precise", "relaxed"] = "precise",
        overrun: Overrun | str = "skip",
        spin: float | None = None,
    ) -> Job:
        """Add a job; it starts at once if the scheduler is serving, else when it starts.

        Args:
            when: a trigger (:func:`supertask.every`, :func:`supertask.cron`, …), a trigger
                record, or ``--when`` text such as ``"20ms"`` or ``"@daily"``.
            payload: a Python callable or coroutine function (receives the ``task``), a
                runner, a payload record, or payload text (``"python:…"``, ``"cmd:…"``).
            name: unique job name (default: derived from the payload).
            count: stop after this many runs.
            duration: stop scheduling this many seconds after the job starts.
            mode: ``precise`` (grid, start-to-start) or ``relaxed`` (period counted from the
                end of the previous run, like plain ``watch``).
            overrun: ``skip`` (default), ``queue``, ``cancel`` or ``concurrent[:N]``.
            spin: seconds of final busy-wait before each deadline (None: automatic).

        Raises:
            SpecError: a bad *when*, *payload* or policy value.
            SchedulerError: the scheduler has stopped.
        """
        if self._state in ("stopping", "stopped"):
            raise SchedulerError("cannot add a job to a stopped scheduler")
        trigger = _as_trigger(when)
        runner = build_runner(payload)
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
        while unique in self._jobs:
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
        )
        self._jobs[unique] = job
        self._active_jobs += 1
        self._all_done = trio.Event() if self._all_done.is_set() else self._all_done
        if self._state == "running":
            self._start_job(job)
        else:
            self._pending.append(job)
        return job

    def add_spec(self, spec: JobSpec) -> Job:
        """Add a job described by a model record (what the CLI and timetables produce).

        Raises:
            SpecError: a bad value in the record.
            SchedulerError: the scheduler has stopped.
        """
        p = spec.policy
        return self.add(
            spec.trigger,
            spec.payload,
            name=spec.meta.name,
            count=p.count,
            duration=p.duration,
            mode=p.mode,
            overrun=p.overrun,
            spin=p.spin,
        )

    def statistics(self) -> list[JobStats]:
        """Snapshots of every job's statistics."""
        return [job.statistics() for job in self._jobs.values()]

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
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._state = "running"
                pending, self._pending = self._pending, []
                for job in pending:
                    self._start_job(job)
                task_status.started(self)
                await self._loop()
                grace = self.shutdown_grace if self._stop_grace is None else self._stop_grace
                with trio.move_on_at(trio.current_time() + grace) as scope:
                    self._grace_scope = scope
                    if self._in_flight:
                        await self._runs_idle.wait()
                if scope.cancelled_caught:
                    (log.debug if self.stdout_closed else log.info)(
                        "shutdown grace of %.3gs over: cancelling %d running payload(s)", grace, self._in_flight
                    )
                nursery.cancel_scope.cancel()
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
        for sink in self.sinks:
            self._closed_sinks.add(sink)
            try:
                await sink.aclose()
            except BrokenPipeError:
                self.stdout_closed = True
            except Exception:
                log.exception("sink %r failed to close", sink)

    # ------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        heap = self._heap
        clock = self._clock
        assert clock is not None
        while self._state == "running":
            if not heap:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            deadline, token, job = heap[0]
            if job._token != token:
                heapq.heappop(heap)
                continue
            spin = job.spin if clock.can_spin else 0.0
            self._sleep_target = deadline
            self._sleeping = True
            reached = await clock.wait_until(deadline - spin, spin > 0)
            self._sleeping = False
            self._sleep_target = float("inf")
            if not reached or self._state != "running":
                continue
            if not heap or heap[0][1] != token:
                continue  # the head changed while we waited
            heapq.heappop(heap)
            if spin:
                # the last stretch is busy-waited; nothing but the dispatch lies after it
                clock.spin_until(deadline)
            self._dispatch(job, deadline)

    def _push(self, job: Job, deadline: float) -> None:
        token = next(self._seq)
        job._token = token
        heapq.heappush(self._heap, (deadline, token, job))
        if deadline < self._sleep_target and self._sleeping:
            self._clock.interrupt()  # type: ignore[union-attr]
        self._wake.set()

    def _start_job(self, job: Job) -> None:
        clock = self._clock
        assert clock is not None
        now = clock.now()
        job._scheduling = True
        job._anchor = now
        if job.duration is not None:
            job._end_at = now + job.duration
        if isinstance(job.trigger, CalendarTrigger):
            first = job.trigger.next_after(clock.wall_datetime())
            if first is None:
                log.warning("job %r never fires: its trigger has no time after now", job.name)
                self._finish_scheduling(job)
                return
            job._due_wall = first
            deadline = now + (first.timestamp() - clock.wall())
        else:
            deadline = now
        job._first_due = deadline
        if job._end_at is not None and deadline >= job._end_at:
            self._finish_scheduling(job)
            return
        self._push(job, deadline)

    def _dispatch(self, job: Job, deadline: float) -> None:
        clock = self._clock
        assert clock is not None
        now = clock.now()
        if job._interval:
            if job.mode == "precise":
                late = now - deadline
                period = job._period
                if late >= period and late >= CATCH_UP_WITHIN:
                    missed = int(late // period)
                    if self._run_sinks:
                        self._skipped(job, job._tick, missed, deadline)
                    job._tick += missed
                    job.counters.skipped += missed
                    deadline = job._anchor + job._tick * period
        elif job._calendar and job._due_wall is not None and self._coalesce_calendar(job):
            deadline = clock.now() + (job._due_wall.timestamp() - clock.wall())
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
                else:
                    job.counters.skipped += 1
                    if self._run_sinks:
                        self._skipped(job, job._tick, 1, deadline)
                self._schedule_next(job, now)
                return
        self._start_run(job, job._tick, deadline, now)

    def _coalesce_calendar(self, job: Job) -> bool:
        """When several calendar instants are due at once, keep the latest; count the rest as skipped.

        Returns whether the due instant moved."""
        assert self._clock is not None and job._due_wall is not None
        trigger = job.trigger
        assert isinstance(trigger, CalendarTrigger)
        wall_now = self._clock.wall_datetime()
        moved = False
        for _ in range(100_000):
            nxt = trigger.next_after(job._due_wall)
            if nxt is None or nxt > wall_now:
                break
            if self._run_sinks:
                self._skipped(job, job._tick, 1, None, job._due_wall)
            job._due_wall = nxt
            job._tick += 1
            job.counters.skipped += 1
            moved = True
        return moved

    def _start_run(self, job: Job, tick: int, due: float, start: float, *, queued: bool = False) -> None:
        clock = self._clock
        assert clock is not None
        task = Task(job.name, job._runs, tick, job.state, due, start, job._first_due, clock, job._due_wall)
        job._runs += 1
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
        outcome: Literal["ok", "failed", "cancelled"] = "cancelled"
        value: Any = None
        try:
            with scope:
                value = await job.runner.acall(task, self)
                outcome = "ok"
        except Exception as exc:
            outcome = "failed"
            value = exc
        finally:
            job._scopes.discard(scope)
            job._running -= 1
            self._in_flight -= 1
            self._record(job, task, start, clock.now(), outcome, value)
            queued, job._queued = job._queued, None
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
        elif isinstance(trigger, CalendarTrigger):
            assert job._due_wall is not None
            nxt = trigger.next_after(job._due_wall)
            if nxt is None:
                self._finish_scheduling(job)
                return
            job._due_wall = nxt
            deadline = clock.now() + (nxt.timestamp() - clock.wall())
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
        if self._run_sinks:
            self._run_event(job, task, outcome, start, end, value)
        c = job.counters
        c.runs += 1
        c.duration.add(end - start)
        if outcome == "ok":
            c.ok += 1
            if value is not None:
                self._emit(task, value)
        elif outcome == "cancelled":
            c.cancelled += 1
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
        if outcome == "stdout-closed":
            outcome, error = "failed", "stdout closed"
        elif outcome == "ok":
            result = value
        elif isinstance(value, PayloadFailed):
            exit_code, sig, error = value.exit_code, value.signal, str(value)
        elif isinstance(value, BaseException):
            error = f"{type(value).__name__}: {value}"
        elif value is not None:
            error = str(value)
        due = task._due
        run = Run(
            job=job.name,
            tick=task.tick,
            count=task.count,
            scheduled=task._due_wall.astimezone(_dt.UTC) if task._due_wall else self._wall(due),
            outcome=outcome,  # type: ignore[arg-type]
            started=self._wall(start),
            ended=None if end is None else self._wall(end),
            lateness=max(0.0, start - due),
            duration=None if end is None else end - start,
            exit_code=exit_code,
            signal=sig,
            error=error,
            result=result,
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
        run = Run(job=job.name, tick=tick, scheduled=scheduled, outcome="skipped", skipped=n)
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


def _as_trigger(when: Trigger | TriggerSpec | str) -> Trigger:
    if isinstance(when, Trigger):
        return when
    if isinstance(when, str):
        from ..when import parse_when

        when = parse_when(when)
    return build_trigger(when)
