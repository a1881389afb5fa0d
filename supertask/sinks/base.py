"""What every sink is: a place where run results and live output go."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

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
    """

    #: True: receive run records through :meth:`run_started` / :meth:`run_ended`
    wants_runs: ClassVar[bool] = False

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

    async def aclose(self) -> None:
        """Flush and release resources, waiting for I/O if needed (called by the scheduler at the end of serve).

        The default calls :meth:`close`."""
        self.close()

    def close(self) -> None:
        """Flush and release resources."""
