"""Runners: where and how a payload executes (in-process Python, callables, subprocesses)."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import PayloadError
from ..model import ExecArgv, PayloadSpec, PythonCode, PythonEntrypoint, PythonFile, Runtime, ShellCommand, Steps
from .base import PayloadFailed as PayloadFailed
from .base import RunIO as RunIO
from .base import Runner as Runner
from .inprocess import CallableRunner as CallableRunner
from .inprocess import PythonCodeRunner as PythonCodeRunner
from .subprocess import SubprocessRunner as SubprocessRunner
from .subprocess import exec_runner, shell_runner

__all__ = ["PAYLOAD_FORMS", "PayloadFailed", "RunIO", "Runner", "build_runner", "parse_payload"]

PAYLOAD_FORMS = "python:CODE, cmd:COMMAND LINE, or a bare command line (run by sh -c; --exec runs argv without a shell)"

_LATER_KINDS = ("uv:", "docker:", "node:", "deno:", "bun:")


def parse_payload(tokens: Sequence[str], *, exec_argv: bool = False) -> PayloadSpec:
    """Turn the payload tokens of a command line into a payload record.

    ``python:CODE`` is Python; ``cmd:LINE`` or a bare command line runs through
    ``sh -c``. With several tokens, the first is taken as written and the rest
    are shell-quoted, so ``-- cmd:echo "a  b"`` keeps its spaces. With
    *exec_argv* the tokens are an argv run without a shell (a single token is
    split like a shell would).

    Raises:
        PayloadError: no payload, or an unsupported kind.
    """
    tokens = [t for t in tokens]
    if not tokens or not tokens[0].strip():
        raise PayloadError(f"no payload given: expected -c COMMAND or a command after --, as {PAYLOAD_FORMS}")
    first, rest = tokens[0], tokens[1:]
    if first.startswith("python:"):
        if exec_argv:
            raise PayloadError(f"--exec cannot run python code {first!r}: expected an argv such as /bin/echo hi")
        code = " ".join([first[len("python:") :], *rest]).strip()
        if not code:
            raise PayloadError(f"empty python payload {first!r}: expected python:CODE, e.g. python:print(task.count)")
        return PythonCode(code=code)
    for kind in _LATER_KINDS:
        if first.startswith(kind):
            raise PayloadError(f"payload kind {kind!r} in {first!r} is not supported yet: expected {PAYLOAD_FORMS}")
    if first.startswith("cmd:"):
        first = first[len("cmd:") :]
    if exec_argv:
        argv = [first, *rest] if rest else shlex.split(first)
        if not argv or not argv[0]:
            raise PayloadError(f"empty --exec payload {tokens[0]!r}: expected a program and its arguments")
        return ExecArgv(argv=argv)
    script = " ".join([first, *(shlex.quote(t) for t in rest)]).strip()
    if not script:
        raise PayloadError(f"empty command {tokens[0]!r}: expected cmd:COMMAND, e.g. cmd:date")
    return ShellCommand(script=script)


def build_runner(
    payload: PayloadSpec | Steps | Runner | Callable[..., Any] | str, runtime: Runtime | None = None
) -> Runner:
    """Return the runner for a payload record, a runner, a Python callable, or a payload string.

    *runtime* (from a job file: env, cwd, timeout, isolation) applies to this job's runs only.
    """
    if isinstance(payload, Runner):
        return payload
    if isinstance(payload, str):
        payload = parse_payload([payload])
    if runtime is not None and runtime != Runtime():
        from .job_runtime import runner_with_runtime

        return runner_with_runtime(payload, runtime)  # type: ignore[arg-type]
    if isinstance(payload, Steps | PythonEntrypoint | PythonFile):
        from .job_runtime import runner_with_runtime

        return runner_with_runtime(payload, Runtime())
    if isinstance(payload, PythonCode):
        return PythonCodeRunner(payload.code)
    if isinstance(payload, ShellCommand):
        return shell_runner(payload.script)
    if isinstance(payload, ExecArgv):
        return exec_runner(payload.argv)
    if callable(payload):
        return CallableRunner(payload)
    if isinstance(payload, PayloadSpec.__args__):  # type: ignore[attr-defined]
        raise PayloadError(
            f"payload kind {payload.__struct_config__.tag!r} is not supported yet: expected {PAYLOAD_FORMS}"
        )
    raise PayloadError(f"unsupported payload {payload!r}: expected {PAYLOAD_FORMS} or a callable")
