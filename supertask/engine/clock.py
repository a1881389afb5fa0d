"""How the engine waits: a timerfd on CLOCK_MONOTONIC awaited through trio, plus an optional bounded final spin.

Two clocks share one interface:

- :class:`PreciseClock` (real time): ``now()`` is ``time.monotonic()``
  (CLOCK_MONOTONIC); waits arm a ``timerfd`` at an absolute deadline and await
  it with ``trio.lowlevel.wait_readable``, which wakes ~1 ms earlier than
  ``trio.sleep_until`` can (trio's epoll timeout is rounded up to whole ms).
  Where timerfd is missing it falls back to ``trio.sleep_until`` with a margin.
- :class:`TrioClock` (virtual time in tests): ``now()`` is
  ``trio.current_time()``, so with ``trio.testing.MockClock(autojump_threshold=0)``
  a year of schedule runs in milliseconds.
"""

from __future__ import annotations

import abc
import ctypes
import ctypes.util
import datetime as _dt
import errno
import logging
import os
import select
import sys
import time
from typing import Any

import trio

__all__ = ["EngineClock", "PreciseClock", "TrioClock", "timerfd_available"]

log = logging.getLogger(__name__)

_CLOCK_REALTIME = 0
_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_TIMER_CANCEL_ON_SET = 2
#: how often a clock without a step notification looks for a wall-clock step
WALL_STEP_POLL = 30.0
_TFD_CLOEXEC = 0o2000000
_TFD_NONBLOCK = 0o4000
_PR_SET_TIMERSLACK = 29


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


class _TimerFd:
    """A CLOCK_MONOTONIC timerfd driven through ctypes (Python 3.11 has no ``os.timerfd_*``)."""

    def __init__(self, libc: ctypes.CDLL, clock_id: int = _CLOCK_MONOTONIC) -> None:
        self._settime = libc.timerfd_settime
        self._settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
        fd = libc.timerfd_create(clock_id, _TFD_CLOEXEC | _TFD_NONBLOCK)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd: int = fd
        self._spec = _Itimerspec()

    def arm(self, deadline: float, flags: int = _TFD_TIMER_ABSTIME) -> None:
        sec = int(deadline)
        self._spec.it_value.tv_sec = sec
        self._spec.it_value.tv_nsec = max(1, int((deadline - sec) * 1e9))
        if self._settime(self.fd, flags, ctypes.byref(self._spec), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def drain(self) -> bool:
        """Consume an expiry; return False when the read says the clock was set (ECANCELED)."""
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno == errno.ECANCELED:
                return False
            raise
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _IdleLoop:
    """Lets the engine block on its timerfd directly while the trio loop has nothing else to do.

    A wake-up through trio's own epoll wait costs a full run-loop pass between the
    timer firing and the engine running (tens of µs of CPU, and a long tail). When
    no task is runnable, no callback is queued and no trio deadline falls before the
    target, blocking in ``poll`` on the timerfd *and* trio's epoll fd is equivalent:
    any I/O, signal or thread callback for trio makes the epoll fd readable, which
    ends the block, and the engine then yields to trio. This reads trio's private run
    state (trio is pinned to 0.23); where it is not found, the engine waits through trio.
    """

    #: longest stretch without yielding to trio, even when it looks idle
    MAX_BLOCK = 0.05
    #: with more trio tasks than this, looking for pending ones costs too much: wait through trio
    MAX_TASKS = 100
    #: waits up to this long are plain ``time.sleep`` calls (one syscall, the tightest wake-up);
    #: I/O for trio that arrives meanwhile waits at most this long
    SHORT_SLEEP = 0.002

    def __init__(self, timer_fd: int) -> None:
        from trio._core._run import GLOBAL_RUN_CONTEXT

        runner: Any = GLOBAL_RUN_CONTEXT.runner
        if runner.is_guest:
            raise RuntimeError("trio runs in guest mode")
        self._runner = runner
        self._runq = runner.runq
        self._entry = runner.entry_queue
        self._deadlines = runner.deadlines
        self._waiting_for_idle = runner.waiting_for_idle
        self._tasks = runner.tasks
        epoll_fd = runner.io_manager._epoll.fileno()
        self._poll = select.poll()
        self._poll.register(timer_fd, select.POLLIN)
        self._poll.register(epoll_fd, select.POLLIN)
        self._io_poll = select.poll()
        self._io_poll.register(epoll_fd, select.POLLIN)
        #: monotonic = trio time - offset
        self._offset = trio.current_time() - time.monotonic()

    def block_limit(self, now: float, target: float) -> float | None:
        """The monotonic time up to which the engine may block, or None when trio has work to do."""
        if self._runq or self._entry.queue or self._entry.idempotent_queue or self._waiting_for_idle:
            return None
        tasks = self._tasks
        if len(tasks) > self.MAX_TASKS:
            return None
        for task in tasks:
            # scheduled in the batch trio is running now (no longer in the run queue, not yet run)
            if task._next_send_fn is not None:
                return None
        limit = min(target, now + self.MAX_BLOCK, self._deadlines.next_deadline() - self._offset)
        return limit if limit > now else None

    def block(self) -> None:
        """Block until the timerfd fires or trio has I/O (or a signal, or a callback) to handle."""
        self._poll.poll()

    def io_pending(self) -> bool:
        """Whether trio has I/O (or a signal, or a callback) waiting to be handled."""
        return bool(self._io_poll.poll(0))


def _run_context() -> Any:
    """trio's run context (a thread-local holding the current runner), imported once."""
    global _RUN_CONTEXT
    if _RUN_CONTEXT is None:
        from trio._core._run import GLOBAL_RUN_CONTEXT

        _RUN_CONTEXT = GLOBAL_RUN_CONTEXT
    return _RUN_CONTEXT


_RUN_CONTEXT: Any = None


def timerfd_available() -> bool:
    """Return whether this platform offers timerfd (Linux)."""
    libc = _libc()
    if libc is None:
        return False
    try:
        _TimerFd(libc).close()
    except (OSError, AttributeError):
        return False
    return True


class EngineClock(abc.ABC):
    """The engine's time base: a monotonic ``now()``, the wall clock beside it, and a way to wait."""

    #: whether a final busy-wait makes sense with this clock (not with virtual time)
    can_spin: bool = False

    @abc.abstractmethod
    def now(self) -> float:
        """Monotonic seconds."""

    @abc.abstractmethod
    def wall(self) -> float:
        """Wall-clock seconds since the epoch, read at the same moment as ``now()`` would be."""

    def wall_datetime(self) -> _dt.datetime:
        """The wall clock as an aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.wall(), _dt.UTC)

    async def sleep_until(self, deadline: float, spin: float = 0.0) -> None:
        """Return at *deadline* (monotonic seconds); the last *spin* seconds are busy-waited.

        Always a trio checkpoint, also when the deadline has passed.
        """
        await self.wait_until(deadline - spin, spin > 0)
        if spin > 0:
            self.spin_until(deadline)

    @abc.abstractmethod
    async def wait_until(self, target: float, early: bool = False) -> bool:
        """Sleep until *target* (monotonic seconds); a checkpoint (``PreciseClock`` may skip
        yielding when the trio loop has nothing else to do, but yields at least every 50 ms).

        Returns False when :meth:`interrupt` cut the wait short, else True.
        """

    @abc.abstractmethod
    def interrupt(self) -> None:
        """Make a pending :meth:`wait_until` return False now (e.g. an earlier deadline arrived)."""

    def spin_until(self, deadline: float) -> float:
        """Busy-wait until *deadline* and return the reading of :meth:`now` that ended the wait;
        clocks that cannot spin return :meth:`now` at once."""
        return self.now()

    async def wait_wall_step(self) -> None:
        """Return when the wall clock may have been stepped (set, NTP step, resume from suspend).

        The caller compares ``wall() - now()`` with what it saw before. The default looks
        every :data:`WALL_STEP_POLL` seconds; clocks that are told of steps return at once.
        """
        await trio.sleep(WALL_STEP_POLL)

    def close(self) -> None:
        """Release any OS resources."""


class TrioClock(EngineClock):
    """Engine time = trio's clock; use with ``MockClock`` for virtual time.

    Args:
        wall_start: the wall-clock instant that the current trio time stands for
            (default: the real time now). Tests set it to run calendars from a fixed date.
    """

    def __init__(self, wall_start: _dt.datetime | float | None = None) -> None:
        self._scope: trio.CancelScope | None = None
        self._stepped = trio.Event()
        self._mono0 = trio.current_time()
        if wall_start is None:
            self._wall0 = time.time()
        elif isinstance(wall_start, _dt.datetime):
            self._wall0 = wall_start.timestamp()
        else:
            self._wall0 = float(wall_start)

    def now(self) -> float:
        return trio.current_time()

    def wall(self) -> float:
        return self._wall0 + (trio.current_time() - self._mono0)

    def step(self, seconds: float) -> None:
        """Step the virtual wall clock by *seconds* (as NTP or ``date -s`` would); monotonic time is unchanged."""
        self._wall0 += seconds
        self._stepped.set()
        self._stepped = trio.Event()

    async def wait_wall_step(self) -> None:
        await self._stepped.wait()

    async def wait_until(self, target: float, early: bool = False) -> bool:
        with trio.CancelScope() as scope:
            self._scope = scope
            await trio.sleep_until(target)
        self._scope = None
        return not scope.cancelled_caught

    def interrupt(self) -> None:
        if self._scope is not None:
            self._scope.cancel()


class PreciseClock(EngineClock):
    """Real time on CLOCK_MONOTONIC with timerfd wake-ups and a final spin.

    Creating it lowers this thread's timer slack to 1 ns (``PR_SET_TIMERSLACK``);
    ``close()`` restores the previous value.
    """

    can_spin = True

    def __init__(self, *, use_timerfd: bool = True, block_when_idle: bool = True) -> None:
        self._use_idle = block_when_idle
        self._timer: _TimerFd | None = None
        self._idle: _IdleLoop | None = None
        self._idle_runner: object = None
        self._last_yield = 0.0
        self._old_slack: int | None = None
        self._interrupted = False
        self._waiting = False
        self._scope: trio.CancelScope | None = None
        libc = _libc() if use_timerfd else None
        if libc is not None:
            try:
                self._timer = _TimerFd(libc)
            except (OSError, AttributeError) as exc:
                log.info("timerfd unavailable (%s); waiting with trio.sleep_until", exc)
            try:
                prctl = libc.prctl
                prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
                old = prctl(30, 0, 0, 0, 0)  # PR_GET_TIMERSLACK
                if old > 0 and prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) == 0:
                    self._old_slack = old
                    self._prctl = prctl
            except AttributeError:
                pass
        # trio's clock and CLOCK_MONOTONIC differ by a constant offset
        self._trio_offset = trio.current_time() - time.monotonic()
        #: a CLOCK_REALTIME timerfd armed far ahead with TFD_TIMER_CANCEL_ON_SET: readable when the clock is set
        self._step_timer: _TimerFd | None = None
        if libc is not None:
            try:
                self._step_timer = _TimerFd(libc, _CLOCK_REALTIME)
                self._step_timer.arm(time.time() + 10 * 365 * 86400, _TFD_TIMER_ABSTIME | _TFD_TIMER_CANCEL_ON_SET)
            except (OSError, AttributeError) as exc:
                log.debug("no wall-clock step notification (%s); polling every %gs", exc, WALL_STEP_POLL)
                if self._step_timer is not None:
                    self._step_timer.close()
                self._step_timer = None

    @property
    def uses_timerfd(self) -> bool:
        return self._timer is not None

    @property
    def notices_wall_steps(self) -> bool:
        """Whether the kernel tells this clock when CLOCK_REALTIME is set (else it polls)."""
        return self._step_timer is not None

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def wait_until(self, target: float, early: bool = False) -> bool:
        """Sleep until *target*; with *early*, the fallback may wake up to ~1 ms before
        it, for a following :meth:`spin_until` to absorb.

        While the trio loop is idle the timerfd is awaited directly (see :class:`_IdleLoop`),
        else through ``trio.lowlevel.wait_readable``."""
        monotonic = time.monotonic
        self._interrupted = False
        now = monotonic()
        if target <= now:
            await trio.lowlevel.checkpoint()
        elif self._timer is not None:
            # no cancel scope here: entering and leaving one costs tens of µs on a cold cache
            timer = self._timer
            idle = self._idle_loop()
            if idle is not None and now - self._last_yield > _IdleLoop.MAX_BLOCK:
                await trio.lowlevel.checkpoint()  # never hold the loop for long, even when it looks idle
                self._last_yield = now = monotonic()
            while now < target and not self._interrupted:
                limit = idle.block_limit(now, target) if idle is not None else None
                if limit is not None:
                    # trio has nothing to do before *limit*: wait ourselves
                    assert idle is not None
                    if limit - now > idle.SHORT_SLEEP:
                        timer.arm(limit)
                        idle.block()
                        timer.drain()
                    elif not idle.io_pending():
                        time.sleep(limit - now)
                    now = monotonic()
                    if now >= target:
                        break
                    await trio.lowlevel.checkpoint()  # trio has I/O, a deadline or a callback to handle
                    self._last_yield = now = monotonic()
                    continue
                timer.arm(target)
                self._waiting = True
                try:
                    await trio.lowlevel.wait_readable(timer.fd)
                finally:
                    self._waiting = False
                    timer.drain()
                self._last_yield = now = monotonic()
        else:
            # epoll rounds its timeout up to whole ms and Linux adds ~0.1 % slack:
            # when spinning, wake that much earlier so the spin absorbs it
            margin = (0.0015 + 0.001 * (target - now)) if early else 0.0
            with trio.CancelScope() as scope:
                self._scope = scope
                await trio.sleep_until(target - margin + self._trio_offset)
            self._scope = None
        interrupted, self._interrupted = self._interrupted, False
        return not interrupted

    def _idle_loop(self) -> _IdleLoop | None:
        """The idle-loop view for the current trio run (built once per run), or None where unusable."""
        runner = getattr(_run_context(), "runner", None)
        if runner is not self._idle_runner:
            self._idle_runner = runner
            self._idle = None
            if self._use_idle and self._timer is not None:
                try:
                    self._idle = _IdleLoop(self._timer.fd)
                except (AttributeError, ImportError, RuntimeError, OSError) as exc:
                    log.debug("waiting through trio's epoll only (%s)", exc)
        return self._idle

    def interrupt(self) -> None:
        self._interrupted = True
        if self._timer is not None and self._waiting:
            self._timer.arm(1e-9)  # an absolute time long past: readable at once
        elif self._scope is not None:
            self._scope.cancel()

    def spin_until(self, deadline: float) -> float:
        """Busy-wait until *deadline* (not a checkpoint; keep it short); return the reading that ended it."""
        monotonic = time.monotonic
        now = monotonic()
        while now < deadline:
            now = monotonic()
        return now

    async def wait_wall_step(self) -> None:
        """Return when the kernel says CLOCK_REALTIME was set (timerfd ``TFD_TIMER_CANCEL_ON_SET``).

        Also returns every :data:`WALL_STEP_POLL` seconds, which catches what the kernel does
        not report as a set (the monotonic clock stands still during suspend)."""
        timer = self._step_timer
        if timer is None:
            await trio.sleep(WALL_STEP_POLL)
            return
        with trio.move_on_after(WALL_STEP_POLL):
            await trio.lowlevel.wait_readable(timer.fd)
        if not timer.drain():
            timer.arm(time.time() + 10 * 365 * 86400, _TFD_TIMER_ABSTIME | _TFD_TIMER_CANCEL_ON_SET)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        if self._step_timer is not None:
            self._step_timer.close()
            self._step_timer = None
        if self._old_slack is not None:
            self._prctl(_PR_SET_TIMERSLACK, self._old_slack, 0, 0, 0)
            self._old_slack = None
