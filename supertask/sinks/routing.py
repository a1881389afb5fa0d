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

    def __init__(self, sink: Sink, jobs: Iterable[str], *, namespace: str | None = None, exclude: bool = False) -> None:
        self.sink = sink
        self.jobs = frozenset(jobs)
        #: only jobs of this namespace match (None: any namespace)
        self.namespace = namespace
        #: pass on every job *but* the named ones
        self.exclude = exclude
        self.wants_runs = sink.wants_runs

    def __repr__(self) -> str:
        return f"<JobsSink {'all but ' if self.exclude else ''}{sorted(self.jobs)} -> {self.sink!r}>"

    def _wanted(self, name: str, namespace: str | None) -> bool:
        listed = name in self.jobs and (self.namespace is None or namespace == self.namespace)
        return listed != self.exclude

    def result(self, task: Task, value: Any) -> None:
        if self._wanted(task.name, task.namespace):
            self.sink.result(task, value)

    def output(self, task: Task, data: bytes) -> None:
        if self._wanted(task.name, task.namespace):
            self.sink.output(task, data)

    def error_output(self, task: Task, data: bytes) -> None:
        if self._wanted(task.name, task.namespace):
            self.sink.error_output(task, data)

    def run_started(self, run: Run) -> None:
        if self._wanted(run.job, run.namespace):
            self.sink.run_started(run)

    def run_ended(self, run: Run) -> None:
        if self._wanted(run.job, run.namespace):
            self.sink.run_ended(run)

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await self.sink.serve(task_status=task_status)

    async def aclose(self) -> None:
        await self.sink.aclose()

    def cut_flush(self, grace: float) -> None:
        self.sink.cut_flush(grace)

    def close(self) -> None:
        self.sink.close()
