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

if TYPE_CHECKING:
    from ..engine import Scheduler
    from ..model import JobSpec
    from ..sinks import Sink

__all__ = ["run"]

log = logging.getLogger("supertask")


def run(
    *payload: str,
    command: Annotated[str | None, Parameter(name=["--command", "-c"])] = None,
    when: str = "once",
    count: int | None = None,
    for_: Annotated[str | None, Parameter(name="--for")] = None,
    exec_: Annotated[bool, Parameter(name="--exec", negative="")] = False,
    mode: Literal["precise", "relaxed"] = "precise",
    overrun: str = "skip",
    spin: str = "auto",
    no_spin: Annotated[bool, Parameter(name="--no-spin", negative="")] = False,
    tz: str | None = None,
    name: str | None = None,
    grace: str = "2s",
    stats: Annotated[bool, Parameter(negative="")] = False,
    emit: Annotated[list[str] | None, Parameter(name="--emit", negative="")] = None,
    emit_events: Annotated[bool, Parameter(name="--emit-events", negative="")] = False,
    verbose: Annotated[bool, Parameter(name=["--verbose", "-v"], negative="")] = False,
    quiet: Annotated[bool, Parameter(name=["--quiet", "-q"], negative="")] = False,
) -> int:
    """Run a job: a payload on a schedule.

    The payload comes from -c/--command or from the arguments after --:
    python:CODE runs Python in-process (an expression's non-None value is printed;
    task, math, time, datetime, random and any stdlib module are in scope);
    cmd:LINE or a bare command line runs with sh -c; --exec runs an argv without a shell.

    WHEN forms: once (default) | 2026-12-24T18:00:00+01:00 (once at) |
    20ms, 1.5s, 1h30m, every 5s, PT20M (interval; units ns us µs ms s m h d w) |
    50Hz, 10kHz (frequency) | @yearly @annually @monthly @weekly @daily @midnight @hourly |
    @every 1h30m | cron: '*/5 * * * *' (5 fields), '*/5 * * * * *' (6: seconds first),
    '0 0 12 * * MON-FRI 2027' (7: seconds ... year).

    Intervals are monotonic: run k is due at start + k*period and never drifts; the first run is at once.
    Exit code: 0 when every run succeeded, the run's own code for a single run, 1 when runs
    failed, 2 for bad input, 130 after Ctrl-C (a second Ctrl-C cancels running payloads).

    Parameters
    ----------
    payload
        The payload, after --: python:CODE, cmd:LINE or a command line.
    command
        The payload as one string (instead of arguments after --).
    when
        When to run (see WHEN forms above).
    count
        Stop after this many runs.
    for_
        Stop scheduling after this long, e.g. 5s, 1h.
    exec_
        Run the payload as an argv without a shell.
    mode
        precise: grid, start to start (like watch -p); relaxed: the period counts from the end of the previous run.
    overrun
        When a run is due while the previous still runs: skip (default; the tick is counted as skipped),
        queue (one waits), cancel (stop the old one), concurrent[:N] (up to N at once, default 4).
    spin
        Busy-wait this long before each deadline for µs precision (e.g. 200us), or auto:
        the whole period below 0.5 ms, 15 % of it up to 300 µs for intervals up to 10 s, none otherwise.
    no_spin
        Never busy-wait; wake only by timer.
    tz
        Time zone of calendar forms (cron, @daily, ISO times without offset); default local.
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
    """
    from ..durations import parse_duration
    from ..errors import SpecError
    from ..model import At
    from ..runners import build_runner, parse_payload
    from ..when import parse_when

    _setup_logging(verbose=verbose, quiet=quiet)
    tokens = list(payload)
    if command is not None:
        if tokens:
            raise SpecError(f"give the payload once: -c {command!r} and arguments {' '.join(tokens)!r} were both given")
        tokens = [command]
    spec = parse_payload(tokens, exec_argv=exec_)
    trigger = parse_when(when, tz=tz)
    if isinstance(trigger, At):
        import datetime as _dt

        if trigger.at <= _dt.datetime.now(_dt.UTC):
            raise SpecError(f"invalid --when {when!r}: {trigger.at.isoformat()} is in the past")
    duration = parse_duration(for_, what="--for") if for_ is not None else None
    grace_s = parse_duration(grace, what="--grace", allow_zero=True)
    if no_spin:
        spin_s: float | None = 0.0
    elif spin.strip().lower() == "auto":
        spin_s = None
    else:
        spin_s = parse_duration(spin, what="--spin", allow_zero=True)
    if count is not None and count < 1:
        raise SpecError(f"invalid --count {count}: expected a whole number >= 1")
    from ..engine import parse_overrun
    from ..model import JobSpec, Metadata, Policy

    runner = build_runner(spec)  # compiles python code now: syntax errors before anything runs
    job = JobSpec(
        when=when,
        trigger=trigger,
        payload=spec,
        meta=Metadata(name=name or runner.description),
        policy=Policy(mode=mode, overrun=parse_overrun(overrun), count=count, duration=duration, spin=spin_s),
    )

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
        sinks,
    )
    if outcome.stdout_closed:
        _silence_stdout()
        return 0
    return outcome.exit_code


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


async def _serve(
    spec: JobSpec, grace: float, show_stats: bool, outcome: _Outcome, sinks: list[Sink] | None = None
) -> None:
    import trio

    from ..engine import Scheduler
    from ..runners import PayloadFailed
    from ..sinks import StdoutSink

    sched = Scheduler(sinks=[StdoutSink()] if sinks is None else sinks, shutdown_grace=grace)
    interrupted: list[int] = []
    async with trio.open_nursery() as helpers:
        helpers.start_soon(_handle_signals, sched, interrupted)
        if _stdout_is_pipe():
            helpers.start_soon(_watch_stdout, sched)
        async with trio.open_nursery() as inner:
            await inner.start(sched.serve)
            job = sched.add_spec(spec)
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
        if st.runs == 1 and isinstance(err, PayloadFailed) and err.exit_code:
            outcome.exit_code = err.exit_code
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
                log.info("cancelling running payloads")
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

    rows = [("job", "runs", "ok", "failed", "skipped", "late p50", "late p99", "late max", "dur p50", "dur max")]
    for s in sched.statistics():
        rows.append(
            (
                s.name if len(s.name) <= 40 else s.name[:39] + "…",
                str(s.runs),
                str(s.ok),
                str(s.failed),
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
