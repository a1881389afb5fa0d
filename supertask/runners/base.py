"""What every runner is: something that executes one run of a payload, inline (sync) or as a trio task (async)."""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["Completed", "PayloadFailed", "RunIO", "Runner", "killed_returncode", "run_timer", "untimed"]

#: set by a runner that had to stop a process because its run was cancelled (timeout, shutdown):
#: that process's return code (negative: the signal that ended it). Read by the engine, in the
#: run's own trio task, to record how a timed-out run ended.
killed_returncode: ContextVar[int | None] = ContextVar("supertask_killed_returncode", default=None)

#: the cancel scope of the run's ``--timeout`` (set by the engine in the run's own trio task)
run_timer: ContextVar[Any] = ContextVar("supertask_run_timer", default=None)


@contextlib.contextmanager
def untimed() -> Iterator[None]:
    """Pause the run's timeout while a runner prepares (e.g. starts a warm actor): that is not
    part of the run, and a timeout shorter than the preparation would fail every run."""
    import trio

    timer = run_timer.get()
    if timer is None or math.isinf(timer.deadline):
        yield
        return
    remaining = max(timer.deadline - trio.current_time(), 0.0)
    timer.deadline = math.inf
    try:
        yield
    finally:
        timer.deadline = trio.current_time() + remaining


class PayloadFailed(Exception):
    """A run failed without a Python exception of its own, e.g. a command exited non-zero.

    ``output`` is the tail of the run's output (bounded), kept for the run record;
    ``traceback`` the text of a Python traceback from another process, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        exit_code: int | None = None,
        signal: int | None = None,
        output: bytes | None = None,
        traceback: str | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.signal = signal
        self.output = output
        self.traceback = traceback


class Completed:
    """What a runner returns for a successful run that has more to record than a result:
    the exit code and the (bounded) output tail of a process. The scheduler emits ``result``
    (when not None) like any other result and puts the rest in the run record."""

    __slots__ = ("exit_code", "output", "result")

    def __init__(self, result: Any = None, *, exit_code: int | None = None, output: bytes | None = None) -> None:
        self.result = result
        self.exit_code = exit_code
        self.output = output

    def __repr__(self) -> str:
        return f"Completed(result={self.result!r}, exit_code={self.exit_code!r})"


class RunIO(Protocol):
    """Where a run's live output goes (the scheduler forwards it to its sinks)."""

    def output(self, task: Task, data: bytes) -> None: ...

    def error_output(self, task: Task, data: bytes) -> None: ...

    async def start_service(self, key: str, fn: Any) -> Any:
        """Start a long-lived helper (e.g. the actor runtime) once per scheduler; return its value."""
        ...


class Runner(abc.ABC):
    """Executes a payload. Sync runners are called inline on the scheduler thread (cheapest);
    async runners run as their own trio task and may overlap the next due time."""

    #: True: the engine awaits ``acall`` in a task; False: it calls ``call`` inline
    is_async: bool = False

    #: short text naming the payload, for logs and statistics
    description: str = "payload"

    #: True: each run starts a process (counted against the scheduler's ``max_processes``)
    spawns_process: bool = False

    #: True: :meth:`prestart` does something, so the engine calls it at dispatch
    prestarts: bool = False

    def prestart(self, task: Task) -> None:
        """Begin an async run synchronously, at the moment it is dispatched (e.g. spawn its process),
        before its trio task gets to run; :meth:`acall` for the same *task* finishes it. This
        takes a pass of the trio loop off the start of the run."""

    def call(self, task: Task) -> Any:
        """Run once, synchronously; return the result (None = no result)."""
        raise NotImplementedError

    async def acall(self, task: Task, io: RunIO) -> Any:
        """Run once as a trio task; return the result (None = no result)."""
        raise NotImplementedError
