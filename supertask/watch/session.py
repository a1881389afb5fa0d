"""A watch session: run the command on the engine, and show each run full screen (a terminal) or
print it as a block with a timestamp header (a pipe or file).

Data flow::

    Scheduler (one job: the command, capture mode) ──Run + output──▶ _WatchSink ──▶ Session.on_run
        on_run: lay out the screen, diff it (-d), decide -g/-q/-e/-o, mark the frame dirty
        display task: draws the latest frame at most every FRAME_GAP seconds (only changed cells)
        key task: q quits, space runs now, s saves a screenshot; signal task: resize, Ctrl-C

Every run counts for ``-g``, ``-q``, ``-e`` and the statistics, even when runs come faster
than frames are drawn.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import math
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

import trio

from ..durations import format_duration
from ..model import Every, Once, Run
from ..runners import SubprocessRunner
from ..sinks import Sink
from .diff import Marks, changed, mark_changes
from .options import EXIT_ERREXIT, WatchOptions
from .screen import REVERSE, Attr, Grid, blank_grid, grid_text, layout, text_cells, text_width
from .terminal import Terminal, terminal_size
from .title import format_interval, header_line, stats_line

if TYPE_CHECKING:
    from ..engine import Job, Scheduler
    from ..engine.task import Task

__all__ = ["ERREXIT_MESSAGE", "OKEXIT_MESSAGE", "WatchResult", "run_watch"]

log = logging.getLogger(__name__)

#: least time between two frames (the screen never redraws faster than this)
FRAME_GAP = 1 / 60
#: output kept per run: on a terminal only the first screenful is shown; a pipe gets more
CAPTURE_TTY = 1 << 20
CAPTURE_PIPE = 16 << 20
#: how often the statistics on the title are recomputed
STATS_EVERY = 0.25
#: a run still going after this long shows its output so far (as procps shows what it has read)
PARTIAL_AFTER = 0.3

ERREXIT_MESSAGE = "command exit with a non-zero status, press a key to exit"
OKEXIT_MESSAGE = "command exit with a zero status, press a key to exit"


class WatchResult:
    """How a session ended: its exit code, and the command's statistics."""

    def __init__(self) -> None:
        self.exit_code = 0
        self.stdout_closed = False
        self.runs = 0
        self.skipped = 0
        self.lateness_p50 = 0.0
        self.lateness_p99 = 0.0
        self.lateness_max = 0.0
        self.period_mean = 0.0
        self.period_stdev = 0.0
        self.error: str | None = None


def status_of(run: Run) -> int:
    """The exit status procps would report: the exit code, or 128 + the signal number."""
    if run.exit_code is not None:
        return run.exit_code
    if run.signal is not None:
        return 128 + run.signal
    return 0 if run.outcome == "ok" else 1


class _WatchSink(Sink):
    """Pairs each run's captured output with its run record and hands both to the session."""

    wants_runs = True

    def __init__(self, session: Session) -> None:
        self._session = session
        self._pending: dict[tuple[str, int], list[bytes]] = {}

    def result(self, task: Task, value: Any) -> None:
        pass

    def output(self, task: Task, data: bytes) -> None:
        chunks = self._pending.setdefault((task.name, task.count), [])
        chunks.append(data)
        if self._session.tty:
            self._session.on_partial(task, chunks)

    error_output = output

    def run_ended(self, run: Run) -> None:
        if run.outcome == "skipped":
            self._session.on_skipped(run)
            return
        data = b"".join(self._pending.pop((run.job, run.count if run.count is not None else -1), ()))
        if run.outcome == "cancelled":
            return
        self._session.on_run(run, data)


class _Period:
    """Running mean and standard deviation of the time between run starts (Welford)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0
        self.last: _dt.datetime | None = None

    def add(self, started: _dt.datetime) -> None:
        if self.last is not None:
            dt = (started - self.last).total_seconds()
            self.n += 1
            delta = dt - self.mean
            self.mean += delta / self.n
            self._m2 += delta * (dt - self.mean)
        self.last = started

    @property
    def stdev(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0


class Session:
    """One ``supertask watch``: the command's job, what is shown, and when to stop."""

    def __init__(self, opts: WatchOptions, *, out_fd: int, in_fd: int | None, tty: bool) -> None:
        self.opts = opts
        self.tty = tty
        self.out_fd = out_fd
        self.term = Terminal(out_fd, in_fd) if tty else None
        self.result = WatchResult()
        self.host = socket.gethostname()
        self.interval_text = format_interval(opts.interval)
        self.width, self.height = terminal_size(out_fd) if tty else (80, 24)
        env: dict[str, str] = {}
        if tty:
            env = {"COLUMNS": str(self.width), "LINES": str(self.height)}
        capture = CAPTURE_TTY if tty else CAPTURE_PIPE
        if opts.exec_:
            self.runner = SubprocessRunner(opts.command, description=opts.command_text, env=env, capture=capture)
        else:
            self.runner = SubprocessRunner(
                ["/bin/sh", "-c", opts.command_text], description=opts.command_text, env=env, capture=capture
            )
        self.sched: Scheduler | None = None
        self.job: Job | None = None
        self._finished = trio.Event()
        self._dirty = trio.Event()
        self._waiting_key = False
        self._message: str | None = None
        # the latest run shown
        self._run: Run | None = None
        self._data: bytes | None = None
        self._grid: Grid | None = None  # its layout at the current window size
        self._partial: Grid | None = None  # the output so far of a slow run, shown until it ends
        self._marks: Marks = {}
        self._unchanged = 0
        self._period = _Period()
        self._stats_at = -math.inf
        self._stats_text = ""
        self._frame: Grid | None = None
        self._shots = 0
        self._last_shot = ""

    # ------------------------------------------------------------ geometry

    @property
    def body_height(self) -> int:
        return max(0, self.height - (2 if self.opts.title else 0))

    def _layout(self, data: bytes) -> tuple[Grid, bool]:
        laid = layout(data, self.width, self.body_height, wrap=self.opts.wrap, color=self.opts.color)
        return laid.grid, laid.bell

    # ------------------------------------------------------------ runs

    def on_skipped(self, run: Run) -> None:
        self.result.skipped += run.skipped
        if not self.tty and self.opts.title and not self._finished.is_set():
            self._print_line(f"{_stamp(run.scheduled)} skipped {run.skipped} run(s): the command overran\n")

    def on_partial(self, task: Task, chunks: list[bytes]) -> None:
        """Output of a run still going: a slow run shows what it has written so far."""
        if not self.tty or self._finished.is_set() or self._waiting_key:
            return
        if (_dt.datetime.now().astimezone() - task.started).total_seconds() < PARTIAL_AFTER:
            return
        partial, _ = self._layout(b"".join(chunks))
        # like procps, which writes over the old screen as it reads: the lines not reached yet
        # still show the previous run
        blank = text_cells("", self.width)
        reached = max((y for y, row in enumerate(partial) if row != blank), default=-1)
        if self._grid is not None and len(self._grid) == len(partial):
            partial[reached + 1 :] = self._grid[reached + 1 :]
        self._partial = partial
        self._dirty.set()

    def on_run(self, run: Run, data: bytes) -> None:
        """A run ended: update what is shown and decide whether the session ends."""
        self._partial = None
        if self._finished.is_set() or self._waiting_key:
            return
        opts = self.opts
        res = self.result
        res.runs += 1
        if run.started is not None and self.job is not None and run.job == self.job.name:
            self._period.add(run.started)
        status = status_of(run)
        previous_data, previous_grid = self._data, self._grid
        if self.tty:
            if previous_grid is not None and data == previous_data:
                grid, bell = previous_grid, b"\a" in data
                is_changed = False
            else:
                grid, bell = self._layout(data)
                is_changed = changed(previous_grid, grid)
            if opts.differences:
                if grid is previous_grid:
                    self._marks = self._marks if opts.permanent else {}
                else:
                    self._marks = mark_changes(previous_grid, grid, self._marks, permanent=opts.permanent)
            self._grid = grid
            if (bell or (status and opts.beep)) and self.term is not None:
                self.term.beep()
        else:
            is_changed = previous_data is not None and data != previous_data
        first = previous_data is None
        self._run, self._data = run, data
        if not self.tty:
            self._print_run(run, data, status)
        # the order of procps: -e, then -o, then -g and -q
        if status and opts.errexit:
            self._stop_on(EXIT_ERREXIT, ERREXIT_MESSAGE)
            return
        if not status and opts.okexit:
            self._stop_on(0, OKEXIT_MESSAGE)
            return
        if not first:
            if opts.chgexit and is_changed:
                self.finish(0)
                return
            if opts.equexit is not None:
                self._unchanged = 0 if is_changed else self._unchanged + 1
                if self._unchanged >= opts.equexit:
                    self.finish(0)
                    return
        self._dirty.set()

    def _stop_on(self, code: int, message: str) -> None:
        """Freeze on this run (-e, -o): stop running the command; on a terminal show *message*
        and wait for a key (unless -k), then exit with *code*."""
        assert self.sched is not None
        self.sched.stop(grace=0)
        self.result.exit_code = code
        if not self.tty or self.opts.nokeypress or (self.term is not None and self.term.in_fd is None):
            self._message = message.split(",")[0] if self.tty else None
            self._draw_now()
            self.finish(code)
            return
        self._message = message
        self._waiting_key = True
        if self.term is not None:
            self.term.flush_input()
        self._draw_now()

    def finish(self, code: int) -> None:
        """End the session with exit *code* (the latest run is drawn first)."""
        if self._finished.is_set():
            return
        self.result.exit_code = code
        self._draw_now()
        self._finished.set()
        if self.sched is not None:
            self.sched.stop(grace=0)

    def run_now(self) -> None:
        """Run the command at once (space key, resize), besides its schedule."""
        if self.sched is None or self._finished.is_set() or self._waiting_key:
            return
        self.sched.add(Once(), self.runner, name=f"{self.runner.description} (now)")

    # ------------------------------------------------------------ terminal events

    def on_resize(self) -> None:
        if self.term is None:
            return
        width, height = self.term.size()
        if (width, height) == (self.width, self.height):
            return
        self.width, self.height = width, height
        self.runner.env = {**(self.runner.env or {}), "COLUMNS": str(width), "LINES": str(height)}
        self.term.invalidate()
        # show the last output at the new size at once (procps waits for the next run)
        if self._data is not None:
            self._grid, _ = self._layout(self._data)
        self._marks = {}
        self._partial = None
        self._draw_now()
        if self.opts.rerun:
            self.run_now()

    def suspend(self) -> None:
        """Ctrl-Z: give the terminal back, stop; when continued (``fg``), take it again and repaint."""
        term = self.term
        if term is None:
            return
        term.stop()
        os.kill(os.getpid(), signal.SIGSTOP)  # the whole process stops here until SIGCONT
        term.start()
        self.on_resize()
        self._draw_now()

    def on_keys(self, keys: bytes) -> None:
        if self._waiting_key:
            if keys:
                self.finish(self.result.exit_code)
            return
        for key in keys.decode(errors="ignore"):
            if key == "q":
                self.finish(0)
                return
            if key == " ":
                self.run_now()
            elif key == "s":
                self.screenshot()

    def screenshot(self) -> None:
        """Save the screen as text to ``SHOTSDIR/watch_YYYYmmdd-HHMMSS[-NNN]`` (procps' names)."""
        frame = self._frame
        if frame is None:
            return
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        if stamp == self._last_shot:
            name = f"watch_{stamp}-{self._shots:03d}"
            self._shots += 1
        else:
            self._last_shot, self._shots = stamp, 0
            name = f"watch_{stamp}"
        path = os.path.join(self.opts.shotsdir, name) if self.opts.shotsdir else name
        text = "".join(line + "\n" for line in grid_text(frame, pad=True))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            self._message = f"screenshot failed: {path}: {exc.strerror or exc}"
        else:
            self._message = None
        self._dirty.set()

    # ------------------------------------------------------------ drawing

    def _stats(self) -> str:
        now = trio.current_time()
        if now - self._stats_at >= STATS_EVERY and self.job is not None:
            self._stats_at = now
            st = self.job.statistics()
            parts = [f"{self.result.runs} runs, {self.result.skipped} skipped"]
            if st.runs:
                parts.append(f"late p50 {short_duration(st.lateness_p50)} p99 {short_duration(st.lateness_p99)}")
            if self._period.n:
                parts.append(f"period {short_duration(self._period.mean)}±{short_duration(self._period.stdev)}")
            self._stats_text = "  ".join(parts)
        return self._stats_text

    def compose(self) -> Grid:
        """The whole screen for the latest run."""
        width, height = self.width, self.height
        frame: Grid = []
        run = self._run
        if self.opts.title and height > 0:
            when = (run.started or run.scheduled).astimezone() if run is not None else _dt.datetime.now().astimezone()
            frame.append(header_line(self.interval_text, self.opts.command_text, self.host, when, width))
            if height > 1:
                right = ""
                if run is not None and run.duration is not None:
                    right = f"in {run.duration:.3f}s ({status_of(run)})"
                frame.append(stats_line(self._stats(), right, width))
        body = self._partial or self._grid or blank_grid(width, self.body_height)
        marks = self._marks if self.opts.differences and self._partial is None else {}
        for y, row in enumerate(body[: self.body_height]):
            cols = marks.get(y)
            if cols:
                row = list(row)
                for x in cols:
                    if x < len(row):
                        text, attr = row[x]
                        row[x] = (text, Attr(attr.fg, attr.bg, attr.flags | REVERSE))
            frame.append(row)
        while len(frame) < height:
            frame.append(text_cells("", width))
        if self._message and height > 0:
            # over the start of the last line, as procps writes it
            n = min(text_width(self._message), width)
            frame[height - 1] = text_cells(self._message, width)[:n] + frame[height - 1][n:]
        return frame

    def _draw_now(self) -> None:
        if self.term is None or not self.term.active:
            return
        self._frame = self.compose()
        self.term.draw(self._frame)

    async def display(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty = trio.Event()
            self._draw_now()
            await trio.sleep(FRAME_GAP)

    # ------------------------------------------------------------ pipe mode

    def _print_run(self, run: Run, data: bytes, status: int) -> None:
        chunks = []
        if self.opts.title:
            started = run.started or run.scheduled
            parts = [f"run {self.result.runs}", f"exit {status}"]
            if run.duration is not None:
                parts.append(f"in {format_duration(run.duration)}")
            if run.lateness is not None:
                parts.append(f"late {format_duration(run.lateness)}")
            chunks.append(f"{_stamp(started)} {self.opts.command_text}: {', '.join(parts)}\n".encode())
        chunks.append(data)
        if data and not data.endswith(b"\n"):
            chunks.append(b"\n")
        self._write_out(b"".join(chunks))

    def _print_line(self, text: str) -> None:
        self._write_out(text.encode())

    def _write_out(self, data: bytes) -> None:
        try:
            while data:
                n = os.write(self.out_fd, data)
                data = data[n:]
        except BrokenPipeError:
            self.result.stdout_closed = True
            self.finish(0)


def short_duration(seconds: float) -> str:
    """Three significant digits and a unit: ``41µs``, ``1.98ms``, ``318ms``, ``2.00s``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
            if "e" in text:
                text = f"{value:.0f}"
            return text + unit
    return f"{seconds}s"


def _stamp(when: _dt.datetime) -> str:
    """``[2026-11-27 09:28:46.123456]`` in local time."""
    return f"[{when.astimezone():%Y-%m-%d %H:%M:%S.%f}]"


async def _signals(session: Session, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    watched = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH]
    if session.term is not None:
        watched.append(signal.SIGTSTP)
    with trio.open_signal_receiver(*watched) as signals:
        task_status.started()
        async for signum in signals:
            if signum == signal.SIGWINCH:
                session.on_resize()
            elif signum == signal.SIGTSTP:
                session.suspend()
            else:
                session.finish(0)


async def _keys(session: Session) -> None:
    term = session.term
    assert term is not None and term.in_fd is not None
    while True:
        await trio.lowlevel.wait_readable(term.in_fd)
        keys = term.read_keys()
        if not keys:
            return  # end of input
        session.on_keys(keys)


async def _end_of_job(session: Session) -> None:
    assert session.job is not None
    await session.job.wait()
    if session.sched is not None:
        # runs started with the space key may still be going: let them end first
        await session.sched.wait_idle()
    if not session._waiting_key:
        session.finish(session.result.exit_code)


async def _serve(session: Session) -> None:
    from ..engine import Scheduler

    opts = session.opts
    sched = Scheduler(sinks=[_WatchSink(session)], shutdown_grace=0)
    async with trio.open_nursery() as helpers:
        await helpers.start(_signals, session)
        # a resize between reading the window size and opening the signal receiver sent a
        # SIGWINCH nobody heard: take the size again (the command has not run yet, so no rerun)
        session.on_resize()
        session.sched = sched
        async with trio.open_nursery() as inner:
            await inner.start(sched.serve)
            if opts.precise is None:
                mode, overrun = "relaxed", "skip"
            else:
                mode, overrun = "precise", ("queue" if opts.precise == "start" else "catchup")
            session.job = sched.add(
                Every(period=opts.interval),
                session.runner,
                name=opts.command_text,
                count=opts.count,
                duration=opts.duration,
                mode=mode,  # type: ignore[arg-type]
                overrun=overrun,
            )
            helpers.start_soon(_end_of_job, session)
            if session.term is not None:
                helpers.start_soon(session.display)
                if session.term.in_fd is not None:
                    helpers.start_soon(_keys, session)
            await session._finished.wait()
            sched.stop(grace=0)
        helpers.cancel_scope.cancel()
    st = session.job.statistics() if session.job is not None else None
    res = session.result
    if st is not None:
        res.lateness_p50, res.lateness_p99, res.lateness_max = st.lateness_p50, st.lateness_p99, st.lateness_max
        res.skipped = max(res.skipped, st.skipped)
    res.period_mean, res.period_stdev = session._period.mean, session._period.stdev


def run_watch(opts: WatchOptions, *, out_fd: int | None = None, in_fd: int | None = None) -> WatchResult:
    """Run a watch session until it ends; return how it ended.

    On a terminal (*out_fd* is a tty) the screen is full-screen on the alternate screen and is
    restored on every way out; keys come from *in_fd* when it is a terminal. Otherwise each
    run's output is printed as it ends, after a timestamp header.
    """
    if out_fd is None:
        out_fd = sys.stdout.fileno()
    if in_fd is None:
        with contextlib.suppress(OSError, ValueError):
            in_fd = sys.stdin.fileno()
    import gc

    gc.freeze()  # everything imported so far is permanent: full collections stay short
    tty = os.isatty(out_fd)
    keys_fd = in_fd if in_fd is not None and tty and os.isatty(in_fd) else None
    session = Session(opts, out_fd=out_fd, in_fd=keys_fd, tty=tty)
    if session.term is None:
        trio.run(_serve, session)
        return session.result
    with session.term.session():
        trio.run(_serve, session)
    return session.result
