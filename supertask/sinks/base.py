"""What every sink is: a place where run results and live output go."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..model import Run

__all__ = ["Sink"]


class Sink(abc.ABC):
    """Receives results (non-None payload values) and live output of runs.

    Methods are called on the scheduler thread and must not block; a sink that
    does I/O that can stall keeps its own buffer.

    A sink that sets ``wants_runs = True`` also receives a :class:`~supertask.model.Run`
    record when each run starts and ends, and for skipped ticks (run events, for
    dashboards and the store). The records are only built when some sink asks.

    A sink that does network I/O runs it in :meth:`serve`, a background task the
    scheduler starts before any job and keeps alive until after :meth:`aclose`.
    """

    #: True: receive run records through :meth:`run_started` / :meth:`run_ended`
    #: (a class default; a sink may set it per instance, before the scheduler serves)
    wants_runs: bool = False

    @abc.abstractmethod
    def result(self, task: Task, value: Any) -> None:
        """A run returned *value* (never None)."""

    def output(self, task: Task, data: bytes) -> None:
        """A run wrote *data* (whole lines) to its stdout."""

    def error_output(self, task: Task, data: bytes) -> None:
        """A run wrote *data* (whole lines) to its stderr."""

    def run_started(self, run: Run) -> None:
        """A run started (``run.outcome == "running"``); only called when ``wants_runs``."""

    def run_ended(self, run: Run) -> None:
        """A run ended, or ticks were skipped (``run.outcome`` says which); only called when ``wants_runs``."""

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Background work of the sink (socket I/O, periodic flushes), run in the scheduler's nursery.

        Started with ``nursery.start`` before the first job; call ``task_status.started()``
        once the sink accepts results (without waiting for a network connection). It is
        cancelled after :meth:`aclose` returned. The default does nothing.
        """
        task_status.started()

    async def aclose(self) -> None:
        """Flush and release resources, waiting for I/O if needed (called by the scheduler at the end of serve).

        The default calls :meth:`close`."""
        self.close()

    def cut_flush(self, grace: float) -> None:
        """Called when the scheduler is stopped (again: a second Ctrl-C) while :meth:`aclose`
        waits for I/O: give up waiting after *grace* seconds. The default does nothing."""

    def close(self) -> None:
        """Flush and release resources."""
