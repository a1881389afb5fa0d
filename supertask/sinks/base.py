"""What every sink is: a place where run results and live output go."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["Sink"]


class Sink(abc.ABC):
    """Receives results (non-None payload values) and live output of runs.

    Methods are called on the scheduler thread and must not block; a sink that
    does I/O that can stall keeps its own buffer.
    """

    @abc.abstractmethod
    def result(self, task: Task, value: Any) -> None:
        """A run returned *value* (never None)."""

    def output(self, task: Task, data: bytes) -> None:
        """A run wrote *data* (whole lines) to its stdout."""

    def error_output(self, task: Task, data: bytes) -> None:
        """A run wrote *data* (whole lines) to its stderr."""

    def close(self) -> None:
        """Flush and release resources."""
