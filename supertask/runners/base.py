"""What every runner is: something that executes one run of a payload, inline (sync) or as a trio task (async)."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["PayloadFailed", "RunIO", "Runner"]


class PayloadFailed(Exception):
    """A run failed without a Python exception of its own, e.g. a command exited non-zero."""

    def __init__(self, message: str, *, exit_code: int | None = None, signal: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.signal = signal


class RunIO(Protocol):
    """Where a run's live output goes (the scheduler forwards it to its sinks)."""

    def output(self, task: Task, data: bytes) -> None: ...

    def error_output(self, task: Task, data: bytes) -> None: ...


class Runner(abc.ABC):
    """Executes a payload. Sync runners are called inline on the scheduler thread (cheapest);
    async runners run as their own trio task and may overlap the next due time."""

    #: True: the engine awaits ``acall`` in a task; False: it calls ``call`` inline
    is_async: bool = False

    #: short text naming the payload, for logs and statistics
    description: str = "payload"

    def call(self, task: Task) -> Any:
        """Run once, synchronously; return the result (None = no result)."""
        raise NotImplementedError

    async def acall(self, task: Task, io: RunIO) -> Any:
        """Run once as a trio task; return the result (None = no result)."""
        raise NotImplementedError
