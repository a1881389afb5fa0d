"""Runners: where and how a payload executes (in-process Python, callables, threads, actors, subprocesses)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import PayloadError
from ..model import (
    DockerRun,
    ExecArgv,
    NodeScript,
    PayloadSpec,
    PythonCode,
    PythonEntrypoint,
    PythonFile,
    Runtime,
    ShellCommand,
    Steps,
    UvScript,
)
from .actor import ActorPythonRunner as ActorPythonRunner
from .base import Completed as Completed
from .base import PayloadFailed as PayloadFailed
from .base import RunIO as RunIO
from .base import Runner as Runner
from .base import killed_returncode as killed_returncode
from .base import run_timer as run_timer
from .inprocess import CallableRunner as CallableRunner
from .inprocess import PythonCodeRunner as PythonCodeRunner
from .isolated import ProcessPythonRunner as ProcessPythonRunner
from .isolated import ThreadRunner as ThreadRunner
from .subprocess import DockerRunner, exec_runner, script_runner, shell_runner
from .subprocess import SubprocessRunner as SubprocessRunner

__all__ = [
    "ISOLATIONS",
    "PAYLOAD_FORMS",
    "Completed",
    "PayloadFailed",
    "RunIO",
    "Runner",
    "build_runner",
    "killed_returncode",
    "parse_payload",
    "run_timer",
]

PAYLOAD_FORMS = (
    "python:CODE, python:FILE.py, uv:FILE.py, docker:IMAGE [ARGS], node:FILE.js (also deno:, bun:), "
    "cmd:COMMAND LINE, or a bare command line (run by sh -c; --exec runs argv without a shell)"
)

ISOLATIONS = ("inprocess", "thread", "actor", "process")

_SCRIPT_KINDS = ("uv:", "docker:", "node:", "deno:", "bun:")
#: ``python:`` text that names a file rather than code
_PY_FILE = re.compile(r"^[\w./~+@-]+\.py$")


def _script_payload(first: str, rest: list[str]) -> PayloadSpec:
    kind, _, text = first.partition(":")
    try:
        words = shlex.split(text) + rest if not rest else [text, *rest]
    except ValueError as exc:
        raise PayloadError(f"invalid {kind}: payload {first!r}: {exc}") from None
    if not words or not words[0]:
        forms = {"uv": "uv:./script.py", "docker": "docker:IMAGE [ARGS]"}
        raise PayloadError(f"empty {kind}: payload: expected {forms.get(kind, kind + ':./script.js')}")
    head, args = words[0], words[1:]
    if kind == "uv":
        return UvScript(path=head, args=args)
    if kind == "docker":
        return DockerRun(image=head, argv=args)
    return NodeScript(path=head, args=args, interpreter=kind)  # type: ignore[arg-type]


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
        code = " ".join([first[len("python:") :], *rest]).strip()
        head = first[len("python:") :].strip()
        if not rest and " " in head:
            try:
                words = shlex.split(head)
            except ValueError:
                words = []
            if words and _PY_FILE.match(words[0]):
                return PythonFile(path=words[0], args=words[1:])
        elif _PY_FILE.match(head):
            return PythonFile(path=head, args=rest)
        if exec_argv:
            raise PayloadError(f"--exec cannot run python code {first!r}: expected an argv such as /bin/echo hi")
        if not code:
            raise PayloadError(f"empty python payload {first!r}: expected python:CODE, e.g. python:print(task.count)")
        return PythonCode(code=code)
    for kind in _SCRIPT_KINDS:
        if first.startswith(kind):
            return _script_payload(first, rest)
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
    payload: PayloadSpec | Steps | Runner | Callable[..., Any] | str,
    runtime: Runtime | None = None,
    *,
    passthrough: bool | None = None,
    actors: int | None = None,
) -> Runner:
    """Return the runner for a payload record, a runner, a Python callable, or a payload string,
    running where *runtime* says (isolation, env, cwd).

    Raises:
        PayloadError: an unsupported payload, a combination that cannot work (``--env`` for
            in-process Python), a missing file or interpreter.
    """
    rt = runtime or Runtime()
    passthrough = rt.passthrough if passthrough is None else passthrough
    actors = rt.actors if actors is None else actors
    if rt.isolation not in ISOLATIONS:
        raise PayloadError(f"invalid isolation {rt.isolation!r}: expected one of {', '.join(ISOLATIONS)}")
    if actors < 1:
        raise PayloadError(f"invalid actor pool size {actors!r}: expected a whole number >= 1")
    if rt.cwd is not None and not os.path.isdir(rt.cwd):
        raise PayloadError(f"invalid --cwd {rt.cwd!r}: no such directory")
    if isinstance(payload, Runner):
        return payload
    if isinstance(payload, str):
        payload = parse_payload([payload])
    if not rt.kill_grace >= 0:
        raise PayloadError(f"invalid kill grace {rt.kill_grace!r}: expected seconds >= 0")
    proc: dict[str, Any] = {
        "env": rt.env or None,
        "cwd": rt.cwd,
        "passthrough": passthrough,
        "kill_grace": rt.kill_grace,
    }
    if isinstance(payload, Steps):
        from .sequence import SequenceRunner

        steps = [
            (step.name or f"step {i + 1}", build_runner(step.payload, rt, passthrough=passthrough, actors=actors))
            for i, step in enumerate(payload.steps)
            if step.enabled
        ]
        return SequenceRunner(steps)
    if isinstance(payload, PythonEntrypoint) or (
        isinstance(payload, PythonFile) and (payload.entrypoint is not None or payload.kwargs)
    ):
        return _entrypoint_runner(payload, rt)
    if isinstance(payload, PythonFile) and _declares_dependencies(payload.path, rt.cwd):
        payload = UvScript(path=payload.path, args=payload.args)  # PEP 723 dependencies: run through uv
    if isinstance(payload, PythonCode):
        if rt.isolation == "actor":
            return ActorPythonRunner(payload.code, pool_size=actors, env=rt.env, cwd=rt.cwd)
        if rt.isolation == "process":
            return ProcessPythonRunner(payload.code, **proc)
        _in_this_process(rt, "python code")
        runner: Runner = PythonCodeRunner(payload.code)
        return ThreadRunner(runner) if rt.isolation == "thread" else runner
    if isinstance(payload, (ShellCommand, ExecArgv, PythonFile, UvScript, DockerRun, NodeScript)):
        if rt.isolation in ("thread", "actor"):
            kind = payload.__struct_config__.tag
            raise PayloadError(
                f"--in {rt.isolation} applies to python: code; a {kind} payload always runs as a process of its own"
            )
        if isinstance(payload, ShellCommand):
            return shell_runner(payload.script, **proc)
        if isinstance(payload, ExecArgv):
            return exec_runner(payload.argv, **proc)
        if isinstance(payload, PythonFile):
            _check_file(payload.path, "python", rt.cwd)
            return script_runner("python", [sys.executable], payload.path, payload.args, **proc)
        if isinstance(payload, UvScript):
            _check_file(payload.path, "uv", rt.cwd)
            uv = _find_program("uv", "uv: payloads need uv (https://docs.astral.sh/uv/, pip install uv)")
            return script_runner("uv", [uv, "run", "--script"], payload.path, payload.args, **proc)
        if isinstance(payload, DockerRun):
            docker = _find_program("docker", "docker: payloads need the docker command")
            return DockerRunner(payload.image, payload.argv, docker=docker, **proc)
        _check_file(payload.path, payload.interpreter, rt.cwd)
        exe = _find_program(payload.interpreter, f"{payload.interpreter}: payloads need {payload.interpreter}")
        interpreter = [exe] if payload.interpreter == "node" else [exe, "run"]
        return script_runner(payload.interpreter, interpreter, payload.path, payload.args, **proc)
    if callable(payload):
        if rt.isolation in ("actor", "process"):
            raise PayloadError(
                f"a Python callable cannot run --in {rt.isolation}: pass python: code or a module:function entry point"
            )
        _in_this_process(rt, "a Python callable")
        runner = CallableRunner(payload)
        if rt.isolation == "thread":
            if runner.is_async:
                raise PayloadError("a coroutine function cannot run --in thread: it runs as a trio task already")
            return ThreadRunner(runner)
        if rt.timeout is not None and not runner.is_async:
            raise PayloadError(
                "a timeout cannot stop a plain function running in-process: use a coroutine function or --in thread"
            )
        return runner
    if isinstance(payload, PayloadSpec.__args__):  # type: ignore[attr-defined]
        raise PayloadError(
            f"payload kind {payload.__struct_config__.tag!r} is not supported yet: expected {PAYLOAD_FORMS}"
        )
    raise PayloadError(f"unsupported payload {payload!r}: expected {PAYLOAD_FORMS} or a callable")


def _in_this_process(rt: Runtime, what: str) -> None:
    """In-process and thread payloads share the scheduler's environment: refuse what would leak."""
    where = "in-process" if rt.isolation == "inprocess" else "in a thread"
    if rt.env:
        raise PayloadError(
            f"--env cannot apply to {what} running {where} (it would change the scheduler's own environment): "
            "use --in actor or --in process"
        )
    if rt.cwd is not None:
        raise PayloadError(f"--cwd cannot apply to {what} running {where}: use --in actor or --in process")
    if rt.timeout is not None and rt.isolation == "inprocess" and what == "python code":
        raise PayloadError(
            "--timeout cannot stop python code running in-process (on the scheduler thread): "
            "use --in process or --in actor (or --in thread, which abandons a run that times out)"
        )


def _check_file(path: str, kind: str, cwd: str | None) -> None:
    full = os.path.join(cwd or "", os.path.expanduser(path))
    if not os.path.isfile(full):
        where = f" (in {cwd})" if cwd else ""
        raise PayloadError(f"{kind}: script {path!r} not found{where}: expected a path to an existing file")


def _find_program(name: str, why: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PayloadError(f"{why}; {name!r} is not on PATH")
    return found


def _entrypoint_runner(payload: PythonEntrypoint | PythonFile, rt: Runtime) -> Runner:
    """A ``module:function`` or ``file.py:function`` call: a worker thread of this process, or a fresh
    interpreter when the job has an environment or working directory of its own or ``--in process``."""
    if rt.isolation in ("thread", "actor"):
        raise PayloadError(
            f"--in {rt.isolation} does not apply to entry points yet: expected inprocess (a worker thread) or process"
        )
    env = dict(rt.env) or None
    isolated = rt.isolation == "process"
    if isinstance(payload, PythonEntrypoint):
        from .entrypoint import entrypoint_runner

        return entrypoint_runner(payload.target, payload.args, payload.kwargs, env=env, cwd=rt.cwd, isolated=isolated)
    from .pyfile import python_file_runner

    return python_file_runner(payload, env=env, cwd=rt.cwd, isolated=isolated)


def _declares_dependencies(path: str, cwd: str | None) -> bool:
    from pathlib import Path

    from .pyfile import script_dependencies

    full = Path(cwd or ".") / os.path.expanduser(path)
    return full.is_file() and bool(script_dependencies(full))
