"""Per-job sinks on a scheduler-wide sink list: a wrapper that passes on only some jobs' results and events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import trio

from .base import Sink

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..model import Run

__all__ = ["JobsSink"]


class JobsSink(Sink):
    """Passes results, output and run events of the named jobs to *sink*; others are ignored.

    A timetable whose jobs each have their own ``emit`` list becomes one scheduler-wide
    list of ``JobsSink(parse_sink(url), {job names})``. Serving and closing go to *sink*.
    """

    def __init__(self, sink: Sink, jobs: Iterable[str]) -> None:
        self.sink = sink
        self.jobs = frozenset(jobs)
        self.wants_runs = sink.wants_runs

    def __repr__(self) -> str:
        return f"<JobsSink {sorted(self.jobs)} -> {self.sink!r}>"

    def result(self, task: Task, value: Any) -> None:
        if task.name in self.jobs:
            self.sink.result(task, value)

    def output(self, task: Task, data: bytes) -> None:
        if task.name in self.jobs:
            self.sink.output(task, data)

    def error_output(self, task: Task, data: bytes) -> None:
        if task.name in self.jobs:
            self.sink.error_output(task, data)

    def run_started(self, run: Run) -> None:
        if run.job in self.jobs:
            self.sink.run_started(run)

    def run_ended(self, run: Run) -> None:
        if run.job in self.jobs:
            self.sink.run_ended(run)

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await self.sink.serve(task_status=task_status)

    async def aclose(self) -> None:
        await self.sink.aclose()

    def close(self) -> None:
        self.sink.close()
