"""``supertask run``: run one job given on the command line, with punctual timing and clean shutdown."""

from __future__ import annotations

import logging
import os
import select
import signal
import stat
import sys
from typing import TYPE_CHECKING, Annotated, Any, Literal

from cyclopts import Parameter

from ._params import OptionalWholeNumber, WholeNumber

if TYPE_CHECKING:
    from ..engine import Scheduler
    from ..model import JobSpec
    from ..runners import Runner
    from ..sinks import Sink

__all__ = ["run"]

log = logging.getLogger("supertask")


def run(
    *payload: str,
    command: Annotated[str | None, Parameter(name=["--command", "-c"])] = None,
    when: Annotated[list[str] | None, Parameter(consume_multiple=False, negative="")] = None,
    count: OptionalWholeNumber = None,
    for_: Annotated[str | None, Parameter(name="--for", allow_leading_hyphen=True)] = None,
    exec_: Annotated[bool, Parameter(name="--exec", negative="")] = False,
    mode: Literal["precise", "relaxed"] = "precise",
    overrun: str = "skip",
    spin: Annotated[str, Parameter(allow_leading_hyphen=True)] = "auto",
    no_spin: Annotated[bool, Parameter(name="--no-spin", negative="")] = False,
    tz: str | None = None,
    start: str | None = None,
    end: str | None = None,
    jitter: Annotated[str | None, Parameter(allow_leading_hyphen=True)] = None,
    jitter_mode: Literal["random", "hash"] = "random",
    misfire: str = "run-once",
    misfire_grace: str | None = None,
    state: str | None = None,
    cron_days: Literal["or", "and"] = "or",
    name: str | None = None,
    grace: Annotated[str, Parameter(allow_leading_hyphen=True)] = "2s",
    stats: Annotated[bool, Parameter(negative="")] = False,
    emit: Annotated[list[str] | None, Parameter(name="--emit", negative="")] = None,
    emit_events: Annotated[bool, Parameter(name="--emit-events", negative="")] = False,
    verbose: Annotated[bool, Parameter(name=["--verbose", "-v"], negative="")] = False,
    quiet: Annotated[bool, Parameter(name=["--quiet", "-q"], negative="")] = False,
    file: Annotated[list[str] | None, Parameter(name=["--file", "-f"], negative="")] = None,
    store: str | None = None,
    ns: str | None = None,
    history: Literal["auto", "all", "aggregate", "none"] | None = None,
    watch: bool = True,
    in_: Annotated[Literal["inprocess", "thread", "actor", "process"], Parameter(name="--in")] = "inprocess",
    timeout: Annotated[str | None, Parameter(allow_leading_hyphen=True)] = None,
    env: Annotated[list[str] | None, Parameter(name="--env", consume_multiple=False, negative="")] = None,
    env_file: Annotated[list[str] | None, Parameter(name="--env-file", consume_multiple=False, negative="")] = None,
    cwd: str | None = None,
    passthrough: Annotated[bool, Parameter(negative="")] = False,
    actors: WholeNumber = 1,
    max_processes: OptionalWholeNumber = None,
    kill_grace: str = "1s",
) -> int:
    """Run a job: a payload on a schedule, or the jobs of timetable files.

    Without a payload and without --file, the jobs of ./supertask.yaml (or .yml, .json, .toml) run.

    The payload comes from -c/--command or from the arguments after --:
    python:CODE runs Python in-process (an expression's non-None value is printed;
    task, math, time, datetime, random and any stdlib module are in scope);
    cmd:LINE or a bare command line runs with sh -c; --exec runs an argv without a shell.

    WHEN forms: once (default) | 2026-12-24T18:00:00+01:00 (once at) |
    20ms, 1.5s, 1h30m, every 5s, PT20M (interval; units ns us µs ms s m h d w) |
    50Hz, 10kHz (frequency) | @yearly @monthly @weekly @daily @hourly |
    @every 1h30m | @reboot (once, at start) |
    cron: '*/5 * * * *' (5 fields), '*/5 * * * * *' (6: seconds first),
    '0 0 12 * * MON-FRI 2027' (7: seconds ... year); also L (last day of the
    month), L-n, nW (nearest weekday), LW, d#n (n-th weekday d), dL (last
    weekday d), ? and H (a stable hash of the job name: 'H H * * *') |
    calendar (systemd OnCalendar): 'Mon..Fri *-*-* 09:00', '*-02-29 12:00',
    '*-*~01 18:00' (last day), daily, weekly, monthly, quarterly, + a zone |
    RRULE: 'RRULE:FREQ=MONTHLY;BYDAY=-1FR' (DTSTART, EXDATE, RDATE) |
    calendar intervals 1mo, 3mo, 1y, @every 1mo (day clamped to the month's
    end: Jan 31, Feb 28, Mar 31; Feb 29 yearly: Feb 28 in common years).
    Give --when several times for a union: one run per instant of any of them.

    Intervals are monotonic: run k is due at start + k*period and never
    drifts; the first run is at once. Calendar forms are wall-clock times
    in --tz. Cron days: when both day-of-month and day-of-week are restricted,
    a day matching either runs (classic cron OR); calendar expressions need
    both (AND).
    DST: a time that does not exist (spring forward) runs once, when the gap
    ends (02:30 -> 03:00); a time that exists twice (fall back) runs once, at
    its first occurrence, unless the expression runs every hour or more often
    ('*/15 * * * *', FREQ=HOURLY), which runs in both to keep its spacing.
    A wall-clock step (NTP, date -s, resume) recomputes calendar deadlines;
    intervals keep their grid.

    More payloads: python:FILE.py (a script, this interpreter), uv:FILE.py (uv run --script: PEP 723
    dependencies, cached), docker:IMAGE ARGS (docker run --rm), node:FILE.js, deno:FILE, bun:FILE.
    Python code runs --in inprocess (default), thread, actor (a warm tractor actor, reused) or process
    (a fresh interpreter per run); actor and process runs get a copy of task (task.state is copied back).

    Exit code: 0 when every run succeeded; for a single run its own code (128+N when killed by
    signal N, 124 when it timed out); 1 when runs failed, 2 for bad input, 130 after Ctrl-C
    (a second Ctrl-C cancels running payloads).

    Parameters
    ----------
    payload
        The payload, after --: python:CODE, cmd:LINE or a command line.
    command
        The payload as one string (instead of arguments after --).
    when
        When to run (see WHEN forms above); repeat it for a union of several schedules. Default: once.
        With --file, overrides the schedule of every job.
    count
        Stop after this many runs (with --file: of every job).
    for_
        Stop scheduling after this long, e.g. 5s, 1h (with --file: every job).
    exec_
        Run the payload as an argv without a shell.
    mode
        precise: grid, start to start (like watch -p); relaxed: the period counts from the end of the previous run.
    overrun
        When a run is due while the previous still runs: skip (default; the tick is counted as skipped),
        queue (one waits), cancel (stop the old one), concurrent[:N] (up to N at once, default 4),
        catchup (every due tick waits; they run back to back until the grid is caught up).
    spin
        Busy-wait this long before each deadline for µs precision (e.g. 200us), or auto:
        the whole period below 0.5 ms, 15 % of it up to 300 µs for intervals up to 10 s, none otherwise.
    no_spin
        Never busy-wait; wake only by timer.
    tz
        Time zone of calendar forms (cron, @daily, calendar, RRULE, ISO times without offset); default local.
    start
        No run before this time (2027-01-31, '2027-01-31 09:00', ISO with offset); intervals and 1mo/1y
        count from it.
    end
        No run after this time (same forms as --start).
    jitter
        Delay each run by a random time up to this long (e.g. 5s), to spread load.
    jitter_mode
        random: a new delay per run; hash: one fixed delay derived from the job name.
    misfire
        What a calendar job does about times it missed (scheduler stopped or blocked, clock jumped ahead):
        run-once (default: one run now, for the latest), catch-up[:N] (the latest N, default 10, one after
        another), skip (none; only a run less than --misfire-grace late, default 1s, still starts).
    misfire_grace
        Missed times older than this never run, under any --misfire policy (default: no limit).
    cron_days
        or: a cron day runs when day-of-month or day-of-week matches (classic cron, when both are restricted);
        and: only when both match (like Quartz or croniter's day_or=False).
    state
        A JSON file that keeps the job's last-fired time across restarts, so that times missed while
        supertask was stopped follow --misfire (e.g. ~/.local/state/supertask/last-fired.json). Keyed by --name.
    name
        Job name shown in logs and statistics (default: the payload).
    grace
        After Ctrl-C/SIGTERM, how long running payloads may finish before they are cancelled.
    stats
        Print per-job statistics (runs, failures, skipped, lateness p50/p99/max, duration) to stderr at exit.
    emit
        Where results go (repeatable; default stdout): stdout | jsonl:PATH |
        mqtt://[user:pass@]host[:port]/topic?qos=0|1|2&retain=0|1&format=auto|text|json|msgpack |
        mqtts://... with ca=PATH&cert=PATH&key=PATH&insecure=1. The topic may use {job}, {namespace}, {host}.
        MQTT options: buffer=N (messages kept while the broker is away, default 10000),
        overflow=drop-oldest|drop-newest, flush_timeout=5s, keepalive=60s, client_id=ID, inflight=20,
        linger=0 (e.g. 5ms: messages faster than this go out together, less CPU, later acks),
        connect_timeout=5s, reconnect_max=5s, events_topic=T.
    emit_events
        Also send run events (started, finished, failed, skipped, with lateness and duration) to every
        --emit sink, as JSON (MQTT: to TOPIC/events).
    verbose
        Log more (debug).
    quiet
        Log only errors.
    file
        A timetable (.yaml, .yml, .json, .toml; also the original Supertask's format), a Python task file
        (.py with a '# /// task' block), or an http(s):// URL of one. Repeat for several.
    store
        Where namespaces, jobs and run history go: memory://, sqlite:///path.db, postgresql://user@host/db
        (?schema=NAME&prefix=P&retention=N). Default: $SUPERTASK_STORE, else SQLite in the user's data directory.
        Jobs given on the command line are recorded only with --store, $SUPERTASK_STORE or --ns.
    ns
        Namespace of the jobs (default: the file's meta.namespace, else a digest of host, user and source).
    history
        Which runs the store records: auto (every run of jobs slower than 1 Hz, 10 s summaries of faster ones),
        all, aggregate or none. Default: each job's own setting (auto).
    watch
        Reload timetable files when they change (added, changed and removed jobs; others keep their timing).
    in_
        Where python: code runs: inprocess (default, fastest), thread, actor (warm tractor actor reused
        across runs), process (fresh interpreter per run).
    timeout
        Stop a run after this long (e.g. 300ms, 5m): its process group gets SIGTERM, then SIGKILL after
        --kill-grace; the run is recorded as timed out.
    env
        K=V: an environment variable for this job's runs only (repeatable).
    env_file
        A file of K=V lines (# comments, optional quotes, optional "export ") for this job's runs (repeatable).
    cwd
        Working directory of the job's runs.
    passthrough
        Subprocess output goes straight to this terminal (no capture, no line buffering, no output tail).
    actors
        With --in actor: warm actors kept for the job (= runs at once; default 1).
    max_processes
        At most this many payload processes at once (a slow job at 20ms cannot fork-bomb the machine).
    kill_grace
        Time between SIGTERM and SIGKILL when a run's process group is stopped (timeout, shutdown).
    """
    from ..durations import parse_duration
    from ..errors import SpecError
    from ..model import At
    from ..runners import build_runner, parse_payload
    from ..triggers.misfire import parse_misfire
    from ..when import parse_instant, parse_whens, with_cron_days

    _setup_logging(verbose=verbose, quiet=quiet)
    tokens = list(payload)
    if file or (not tokens and command is None):
        from ._files import default_source, run_files

        if tokens or command is not None:
            raise SpecError("give either a payload or --file, not both")
        only_payload = [
            opt
            for opt, given in (
                ("--exec", exec_),
                ("--mode", mode != "precise"),
                ("--overrun", overrun != "skip"),
                ("--spin", spin != "auto"),
                ("--no-spin", no_spin),
                ("--tz", tz is not None),
                ("--name", name is not None),
                ("--start", start is not None),
                ("--end", end is not None),
                ("--jitter", jitter is not None),
                ("--misfire", misfire != "run-once"),
                ("--misfire-grace", misfire_grace is not None),
                ("--state", state is not None),
                ("--cron-days", cron_days != "or"),
                ("--in", in_ != "inprocess"),
                ("--timeout", timeout is not None),
                ("--env", bool(env)),
                ("--env-file", bool(env_file)),
                ("--cwd", cwd is not None),
                ("--passthrough", passthrough),
                ("--actors", actors != 1),
                ("--kill-grace", kill_grace != "1s"),
                ("--max-processes", max_processes is not None),
            )
            if given
        ]
        if only_payload:
            raise SpecError(
                f"{only_payload[0]} applies to a payload given on the command line: "
                "with timetable files, set it per job in the file"
            )
        if count is not None and count < 1:
            raise SpecError(f"invalid --count {count}: expected a whole number >= 1")
        if when is not None and len(when) > 1:
            raise SpecError("with timetable files, give --when once: it replaces the schedule of every job")
        return run_files(
            file or [default_source()],
            ns=ns,
            when=when[0] if when else None,
            store_url=store,
            history=history,
            watch=watch,
            grace=parse_duration(grace, what="--grace", allow_zero=True),
            show_stats=stats,
            count=count,
            duration=parse_duration(for_, what="--for") if for_ is not None else None,
            emit=emit,
            emit_events=emit_events,
        )
    if command is not None:
        if tokens:
            raise SpecError(f"give the payload once: -c {command!r} and arguments {' '.join(tokens)!r} were both given")
        tokens = [command]
    spec = parse_payload(tokens, exec_argv=exec_)
    whens = list(when or ["once"])
    trigger = with_cron_days(parse_whens(whens, tz=tz), cron_days)
    if isinstance(trigger, At):
        import datetime as _dt

        if trigger.at <= _dt.datetime.now(_dt.UTC):
            raise SpecError(f"invalid --when {whens[0]!r}: {trigger.at.isoformat()} is in the past")
    start_at = parse_instant(start, tz=tz, what="--start") if start is not None else None
    end_at = parse_instant(end, tz=tz, what="--end") if end is not None else None
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise SpecError(f"invalid --end {end!r}: it is not after --start {start!r}")
    jitter_s = parse_duration(jitter, what="--jitter", allow_zero=True) if jitter is not None else None
    misfire_grace_s = (
        parse_duration(misfire_grace, what="--misfire-grace", allow_zero=True) if misfire_grace is not None else None
    )
    misfire_policy = parse_misfire(misfire, misfire_grace_s)
    duration = parse_duration(for_, what="--for") if for_ is not None else None
    grace_s = parse_duration(grace, what="--grace", allow_zero=True)
    if no_spin:
        if spin.strip().lower() != "auto":
            raise SpecError(f"give --spin {spin!r} or --no-spin, not both")
        spin_s: float | None = 0.0
    elif spin.strip().lower() == "auto":
        spin_s = None
    else:
        try:
            spin_s = parse_duration(spin, what="--spin", allow_zero=True)
        except SpecError as exc:
            raise SpecError(f"{exc}; or auto (the default)") from None
    if count is not None and count < 1:
        raise SpecError(f"invalid --count {count}: expected a whole number >= 1")
    from ..engine import parse_overrun
    from ..model import JobSpec, Metadata, Policy, Runtime

    timeout_s = parse_duration(timeout, what="--timeout") if timeout is not None else None
    job_env = _read_env_files(env_file or [])
    job_env.update(_parse_env(env or []))
    if actors < 1:
        raise SpecError(f"invalid --actors {actors}: expected a whole number >= 1")
    if max_processes is not None and max_processes < 1:
        raise SpecError(f"invalid --max-processes {max_processes}: expected a whole number >= 1")
    kill_grace_s = parse_duration(kill_grace, what="--kill-grace", allow_zero=True)
    runtime = Runtime(
        isolation=in_,
        env=job_env,
        cwd=cwd,
        timeout=timeout_s,
        passthrough=passthrough,
        actors=actors,
        kill_grace=kill_grace_s,
    )
    runner = build_runner(spec, runtime)  # compiles python code now: syntax errors before anything runs
    if state is None:  # with --state, missed instants may still run (--misfire)
        _check_it_fires(trigger, whens, start_at, end_at, seed=name or runner.description)
    from ..runners import DockerRunner

    if isinstance(runner, DockerRunner) and (problem := runner.check_engine()) is not None:
        log.warning("no docker engine reachable (%s): runs of %s fail until one is", problem, runner.description)
    job = JobSpec(
        when=" | ".join(whens),
        trigger=trigger,
        payload=spec,
        meta=Metadata(name=name or runner.description),
        policy=Policy(
            mode=mode,
            overrun=parse_overrun(overrun),
            count=count,
            duration=duration,
            spin=spin_s,
            start=start_at,
            end=end_at,
            jitter=jitter_s,
            jitter_mode=jitter_mode,
            misfire=misfire_policy,
        ),
        runtime=runtime,
    )

    record = None
    if store is not None or ns is not None or os.environ.get("SUPERTASK_STORE"):
        record = _command_line_store(job, store, ns, history)
        job = record[1]
    sinks = _build_sinks(emit, events=emit_events)

    import gc

    import trio

    _line_buffered_stdout()
    gc.freeze()  # everything imported so far is permanent: full collections stay short
    outcome = _Outcome()
    trio.run(
        _serve,
        job,
        grace_s,
        stats,
        outcome,
        state,
        record[0] if record else None,
        max_processes,
        sinks,
        runner,
    )
    if outcome.stdout_closed:
        _silence_stdout()
        return 0
    return outcome.exit_code


def _parse_env(items: list[str]) -> dict[str, str]:
    from ..errors import SpecError

    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise SpecError(f"invalid --env {item!r}: expected NAME=VALUE, e.g. --env FOO=1")
        env[key] = value
    return env


def _read_env_files(paths: list[str]) -> dict[str, str]:
    """Read K=V lines: blank lines and # comments are skipped, ``export`` and matching quotes stripped."""
    from ..errors import SpecError

    env: dict[str, str] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise SpecError(f"invalid --env-file {path!r}: {exc.strerror or exc}") from None
        for n, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export ") :].lstrip()
            key, sep, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
                raise SpecError(f"invalid --env-file {path!r} line {n}: {raw!r}: expected NAME=VALUE")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key] = value
    return env


class _Outcome:
    def __init__(self) -> None:
        self.exit_code = 0
        self.stdout_closed = False


def _build_sinks(emit: list[str] | None, *, events: bool) -> list[Sink]:
    """The sinks of ``--emit`` (default: stdout); ``--emit-events`` sends run events to each.
    Results and payload output reach stdout only when ``stdout`` is among them; stderr always does."""
    from ..sinks import StdoutSink, parse_sink

    if not emit:
        return [StdoutSink(events=events)]
    sinks = [parse_sink(url, events=events) for url in emit]
    if not any(isinstance(sink, StdoutSink) for sink in sinks):
        sinks.append(StdoutSink(results=False))  # the payloads' stderr still reaches the terminal
    return sinks


def _command_line_store(job: JobSpec, store: str | None, ns: str | None, history: str | None) -> tuple[Any, JobSpec]:
    """Record a command-line job in the store, in namespace --ns or one derived from the command text."""
    import socket

    import msgspec

    from ..model import Namespace, Origin
    from ..sinks.store import StoreSink
    from ..store import open_store
    from ..timetable import _user, namespace_digest

    origin = Origin(source=f"command line: {job.meta.name}", host=socket.gethostname(), user=_user())
    namespace = Namespace(id=ns or namespace_digest(origin.source or ""), origin=origin)
    job = msgspec.structs.replace(
        job,
        namespace=namespace.id,
        history=history or job.history,
        meta=msgspec.structs.replace(job.meta, origin=origin),
    )
    st = open_store(store)
    st.save_namespace(namespace, [job], replace=False)
    return StoreSink(st, [job]), job


def _check_it_fires(spec: Any, whens: list[str], start_at: Any, end_at: Any, *, seed: str) -> None:
    """A calendar schedule with no time left (``0 0 31 2 *``, or all before --end) is a usage error.

    *seed* is what the engine hashes ``H`` fields with (the job's name)."""
    import datetime as _dt

    from ..errors import SpecError
    from ..model import Every, Once
    from ..triggers import CalendarTrigger, build_trigger
    from ..triggers.combine import BoundedTrigger

    if isinstance(spec, (Every, Once)):
        return
    now = _dt.datetime.now(_dt.UTC)
    trigger = build_trigger(spec, now=now, start=start_at, seed=seed)
    if not isinstance(trigger, CalendarTrigger):
        return
    if start_at is not None or end_at is not None:
        trigger = BoundedTrigger(trigger, start_at, end_at)
    if trigger.next_after(now) is None:
        bound = " before --end" if end_at is not None else ""
        raise SpecError(f"invalid --when {' | '.join(whens)!r}: it never fires (no time matches after now{bound})")


async def _serve(
    spec: JobSpec,
    grace: float,
    show_stats: bool,
    outcome: _Outcome,
    state: str | None = None,
    store_sink: Any = None,
    max_processes: int | None = None,
    sinks: list[Sink] | None = None,
    runner: Runner | None = None,
) -> None:
    import trio

    from ..engine import Scheduler
    from ..runners import PayloadFailed
    from ..sinks import StdoutSink

    sinks = [*(sinks or [StdoutSink()]), *([store_sink] if store_sink else [])]
    last_fired = None
    if state is not None:
        from ..sinks.last_fired import LastFiredFile

        state_file = LastFiredFile(os.path.expanduser(state))
        last_fired = state_file.last_fired(spec.meta.name)
        sinks.append(state_file)
    sched = Scheduler(sinks=sinks, shutdown_grace=grace, max_processes=max_processes)
    interrupted: list[int] = []
    async with trio.open_nursery() as helpers:
        helpers.start_soon(_handle_signals, sched, interrupted)
        if _stdout_is_pipe():
            helpers.start_soon(_watch_stdout, sched)
        async with trio.open_nursery() as inner:
            await inner.start(sched.serve)
            job = sched.add_spec(spec, last_fired=last_fired, runner=runner)  # the runner built (compiled) before
            await sched.wait_idle()
            sched.stop()
        helpers.cancel_scope.cancel()
    st = job.statistics()
    if show_stats:
        _print_stats(sched)
    outcome.stdout_closed = sched.stdout_closed
    if interrupted:
        outcome.exit_code = 130 if interrupted[0] == signal.SIGINT else 0
    elif st.failed:
        err = job.last_error
        if st.runs == 1 and st.timed_out:
            outcome.exit_code = 124  # as timeout(1)
        elif st.runs == 1 and isinstance(err, PayloadFailed) and err.exit_code:
            outcome.exit_code = err.exit_code
        elif st.runs == 1 and isinstance(err, PayloadFailed) and err.signal:
            outcome.exit_code = 128 + err.signal  # as a shell reports a death by signal
        else:
            outcome.exit_code = 1


async def _handle_signals(sched: Scheduler, interrupted: list[int]) -> None:
    import trio

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        _escalate_when_stuck(interrupted)
        async for signum in signals:
            if not interrupted:
                interrupted.append(signum)
                log.info(
                    "stopping: running payloads get %gs to finish (Ctrl-C again cancels them)", sched.shutdown_grace
                )
                sched.stop()
            else:
                log.info("cancelling running payloads (and the sinks' wait for undelivered messages)")
                sched.stop(grace=0)


def _escalate_when_stuck(interrupted: list[int]) -> None:
    """Wrap trio's SIGINT handler: if a second Ctrl-C comes before the first was handled,
    the loop is stuck in an in-process payload (``while True: pass``): interrupt it."""
    trio_handler = signal.getsignal(signal.SIGINT)
    pending = [0]

    def handler(signum: int, frame: Any) -> None:
        pending[0] += 1
        if callable(trio_handler):
            trio_handler(signum, frame)
        if pending[0] >= 2 and not interrupted:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def _stdout_is_pipe() -> bool:
    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def _watch_stdout(sched: Scheduler) -> None:
    """Stop when the reader of our stdout pipe goes away (``| head``), even if nothing is written."""
    import trio

    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLERR)
    while True:
        await trio.sleep(0.25)
        for _, events in poller.poll(0):
            if events & (select.POLLERR | select.POLLHUP):
                sched._stdout_gone()
                return


def _line_buffered_stdout() -> None:
    try:
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass


def _silence_stdout() -> None:
    """After the reader went away, point stdout at /dev/null so the final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _LevelFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname_lower = record.levelname.lower()
        return super().format(record)


def _setup_logging(*, verbose: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelFormatter("supertask: %(levelname_lower)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO)
    if not verbose:
        for noisy in ("trio", "anyio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _print_stats(sched: Scheduler) -> None:
    from ..durations import format_duration as fd

    stats = sched.statistics()
    # timed-out runs (counted in failed) get a column when there are any
    timeouts = any(s.timed_out for s in stats)
    late_dur = ("late p50", "late p99", "late max", "dur p50", "dur max")
    rows: list[tuple[str, ...]] = [
        ("job", "runs", "ok", "failed", *(("timeouts",) if timeouts else ()), "skipped", *late_dur)
    ]
    for s in stats:
        rows.append(
            (
                s.name if len(s.name) <= 40 else s.name[:39] + "…",
                str(s.runs),
                str(s.ok),
                str(s.failed),
                *((str(s.timed_out),) if timeouts else ()),
                str(s.skipped),
                fd(s.lateness_p50),
                fd(s.lateness_p99),
                fd(s.lateness_max),
                fd(s.duration_p50),
                fd(s.duration_max),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    err = sys.stderr
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=False)]
        print("  ".join(cells), file=err)
    _print_sink_stats(sched)


def _print_sink_stats(sched: Scheduler) -> None:
    """One line per sink that keeps counters (MQTT): sent, dropped, still waiting."""
    for sink in sched.sinks:
        statistics = getattr(sink, "statistics", None)
        if statistics is None:
            continue
        st = statistics()
        print(
            f"{getattr(sink, 'url', sink)}: {st.accepted} accepted, {st.sent} sent, {st.dropped} dropped "
            f"(buffer full), {st.lost} lost, {st.buffered + st.unacked} undelivered at exit, "
            f"{st.connects} connection(s)",
            file=sys.stderr,
        )
