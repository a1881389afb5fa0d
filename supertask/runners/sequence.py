"""Several payloads run in order within one run (the original Supertask's task ``steps``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import PayloadFailed, RunIO, Runner

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["SequenceRunner"]

log = logging.getLogger(__name__)


class SequenceRunner(Runner):
    """Runs its steps one after the other; the first failing step ends the run (named in the error).

    The result is the last step's non-None result. Sync when every step is, else a trio task.
    """

    def __init__(self, steps: Sequence[tuple[str, Runner]]) -> None:
        self.steps = list(steps)
        self.is_async = any(r.is_async for _, r in self.steps)
        self.description = " ; ".join(name for name, _ in self.steps) or "no steps"

    def call(self, task: Task) -> Any:
        result = None
        for name, runner in self.steps:
            try:
                value = runner.call(task)
            except PayloadFailed as exc:
                raise PayloadFailed(f"step {name!r}: {exc}", exit_code=exc.exit_code, signal=exc.signal) from exc
            except Exception as exc:
                raise PayloadFailed(f"step {name!r}: {type(exc).__name__}: {exc}") from exc
            if value is not None:
                result = value
        return result

    async def acall(self, task: Task, io: RunIO) -> Any:
        result = None
        for name, runner in self.steps:
            try:
                value = await runner.acall(task, io) if runner.is_async else runner.call(task)
            except PayloadFailed as exc:
                raise PayloadFailed(f"step {name!r}: {exc}", exit_code=exc.exit_code, signal=exc.signal) from exc
            except Exception as exc:
                raise PayloadFailed(f"step {name!r}: {type(exc).__name__}: {exc}") from exc
            if value is not None:
                log.debug("step %r of %r returned %r", name, task.name, value)
                result = value
        return result
