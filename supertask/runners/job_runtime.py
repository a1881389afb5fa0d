"""Runners for payloads from job files: entrypoints, python files, step sequences, with a job's env, cwd and timeout.

A job's ``env`` and ``cwd`` reach that job's child processes only; the scheduler's
own ``os.environ`` and working directory are never modified. A payload that runs
on the scheduler thread (``python:`` code) cannot have them: that is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ..errors import PayloadError
from ..model import ExecArgv, PayloadSpec, PythonCode, PythonEntrypoint, PythonFile, Runtime, ShellCommand, Steps
from .base import PayloadFailed, RunIO, Runner
from .entrypoint import entrypoint_runner
from .inprocess import PythonCodeRunner
from .pyfile import python_file_runner
from .sequence import SequenceRunner
from .subprocess import exec_runner, shell_runner

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["TimeoutRunner", "runner_with_runtime"]


class TimeoutRunner(Runner):
    """Cancels a run that takes longer than *timeout* seconds and records it as failed ("timed out")."""

    is_async = True

    def __init__(self, inner: Runner, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout
        self.description = inner.description

    async def acall(self, task: Task, io: RunIO) -> Any:
        with anyio.move_on_after(self.timeout) as scope:
            return await self.inner.acall(task, io)
        if scope.cancelled_caught:
            raise PayloadFailed(f"timed out after {self.timeout:g}s")
        return None  # pragma: no cover


def _one(payload: PayloadSpec, runtime: Runtime) -> Runner:
    env = dict(runtime.env) or None
    cwd = runtime.cwd
    isolated = runtime.isolation == "process"
    if runtime.isolation in ("thread", "actor"):
        raise PayloadError(
            f"isolation {runtime.isolation!r} is not supported for job files yet: expected inprocess or process"
        )
    if isinstance(payload, ShellCommand):
        return shell_runner(payload.script, env=env, cwd=cwd)
    if isinstance(payload, ExecArgv):
        return exec_runner(payload.argv, env=env, cwd=cwd)
    if isinstance(payload, PythonEntrypoint):
        return entrypoint_runner(payload.target, payload.args, payload.kwargs, env=env, cwd=cwd, isolated=isolated)
    if isinstance(payload, PythonFile):
        return python_file_runner(payload, env=env, cwd=cwd, isolated=isolated)
    if isinstance(payload, PythonCode):
        if env or cwd or isolated:
            raise PayloadError(
                f"python code {payload.code!r} runs in the scheduler's own process, so env, cwd and "
                "isolation: process cannot apply to it: expected a command, a python file or an entrypoint"
            )
        return PythonCodeRunner(payload.code)
    from . import build_runner

    return build_runner(payload)  # the kinds of other runners (uv, docker, node) report themselves


def runner_with_runtime(payload: PayloadSpec | Steps, runtime: Runtime) -> Runner:
    """The runner of a job-file payload under its runtime settings.

    Raises:
        PayloadError: a payload that cannot run as asked.
    """
    if isinstance(payload, Steps):
        steps = []
        for i, step in enumerate(payload.steps):
            if not step.enabled:
                continue
            steps.append((step.name or f"step {i + 1}", _one(step.payload, runtime)))
        runner: Runner = SequenceRunner(steps)
    else:
        runner = _one(payload, runtime)
    if runtime.timeout is not None:
        if not runner.is_async:
            raise PayloadError(
                f"timeout {runtime.timeout:g}s cannot interrupt python code running on the scheduler thread: "
                "expected a command, a python file or an entrypoint"
            )
        runner = TimeoutRunner(runner, runtime.timeout)
    return runner
