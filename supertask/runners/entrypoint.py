"""Python callables named in job files: ``module:function``, ``module.function`` or ``path/file.py:function``.

A sync function runs in a worker thread (job files name arbitrary code that may
block on I/O; the scheduler thread must stay punctual); a coroutine function runs
as a trio task. With an environment or a working directory of its own, or with
``isolation: process``, the call runs in a fresh interpreter instead, so the
scheduler's own ``os.environ`` is never touched.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import PayloadError
from .base import RunIO, Runner
from .subprocess import SubprocessRunner

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["ENTRYPOINT_FORMS", "EntrypointRunner", "isolated_call_runner", "load_file_module", "resolve_entrypoint"]

ENTRYPOINT_FORMS = "module:function, module.function or path/to/file.py:function"


def _split(target: str) -> tuple[str, str]:
    text = target.strip()
    if ":" in text:
        where, _, attr = text.rpartition(":")
    elif "." in text:
        where, _, attr = text.rpartition(".")
    else:
        where, attr = "", ""
    if not where or not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise PayloadError(f"invalid python entrypoint {target!r}: expected {ENTRYPOINT_FORMS}")
    return where, attr


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def load_file_module(path: str) -> Any:
    """Import a Python file as a module of its own (its ``if __name__ == "__main__"`` block does not run).

    Raises:
        PayloadError: the file does not exist or fails to import.
    """
    file = Path(path)
    if not file.is_file():
        raise PayloadError(f"python file {path!r} not found: expected the path of a .py file")
    name = "supertask_file_" + "".join(c if c.isalnum() else "_" for c in str(file.resolve()))
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise PayloadError(f"python file {path!r} cannot be imported: expected a .py file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PayloadError(f"python file {path!r} failed to import: {type(exc).__name__}: {exc}") from None
    return module


def resolve_entrypoint(target: str) -> Callable[..., Any]:
    """Import the callable a target names.

    Raises:
        PayloadError: a malformed target, a missing module or attribute, or something not callable.
    """
    where, attr = _split(target)
    if _is_file(where):
        obj: Any = load_file_module(where)
    else:
        try:
            obj = importlib.import_module(where)
        except ImportError as exc:
            raise PayloadError(f"python entrypoint {target!r}: cannot import {where!r} ({exc})") from None
        except Exception as exc:
            raise PayloadError(f"python entrypoint {target!r}: importing {where!r} failed: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PayloadError(f"python entrypoint {target!r}: {where!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise PayloadError(f"python entrypoint {target!r} is not callable: expected a function")
    return obj  # type: ignore[no-any-return]


class EntrypointRunner(Runner):
    """Calls ``fn(*args, **kwargs)``: a coroutine function as a trio task, a plain function in a worker thread."""

    is_async = True

    def __init__(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        description: str,
    ) -> None:
        self.fn = fn
        self.args = list(args)
        self.kwargs = dict(kwargs or {})
        self.description = description
        self._coroutine = inspect.iscoroutinefunction(fn)

    async def acall(self, task: Task, io: RunIO) -> Any:
        if self._coroutine:
            return await self.fn(*self.args, **self.kwargs)
        return await anyio.to_thread.run_sync(lambda: self.fn(*self.args, **self.kwargs), abandon_on_cancel=True)


#: run in a fresh interpreter: load the target, call it with the JSON args, print a non-None result
_BOOTSTRAP = """\
import asyncio, importlib, importlib.util, inspect, json, sys
spec = json.loads(sys.argv[1])
where, attr = spec["where"], spec["attr"]
if spec["file"]:
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(where)))
    s = importlib.util.spec_from_file_location("supertask_task", where)
    obj = importlib.util.module_from_spec(s)
    s.loader.exec_module(obj)
else:
    obj = importlib.import_module(where)
if attr is None:
    raise SystemExit(0)
for part in attr.split("."):
    obj = getattr(obj, part)
result = obj(*spec["args"], **spec["kwargs"])
if inspect.isawaitable(result):
    result = asyncio.run(result) if inspect.iscoroutine(result) else result
if result is not None:
    print(result, flush=True)
"""


def isolated_call_runner(
    where: str,
    attr: str | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    is_file: bool,
    env: Mapping[str, str] | None,
    cwd: str | None,
    description: str,
    interpreter: Sequence[str] | None = None,
) -> SubprocessRunner:
    """A runner calling ``where:attr(*args, **kwargs)`` in a fresh interpreter (``attr=None``: just load the file).

    *interpreter* is the command that starts Python (default: this interpreter).

    Raises:
        PayloadError: args or kwargs are not JSON-serialisable.
    """
    try:
        blob = json.dumps({"where": where, "attr": attr, "file": is_file, "args": list(args), "kwargs": dict(kwargs)})
    except TypeError as exc:
        raise PayloadError(f"arguments of {description!r} must be JSON values: {exc}") from None
    argv = [*(interpreter or [sys.executable]), "-c", _BOOTSTRAP, blob]
    return SubprocessRunner(argv, description=description, env=env, cwd=cwd)


def entrypoint_runner(
    target: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    isolated: bool = False,
) -> Runner:
    """The runner for a ``python-entrypoint`` payload (see the module docstring for where it runs)."""
    where, attr = _split(target)
    description = f"python-entrypoint:{target}"
    if env or cwd or isolated:
        if _is_file(where):
            where = str(Path(where).resolve())
        return isolated_call_runner(
            where, attr, args, kwargs, is_file=_is_file(where), env=env, cwd=cwd, description=description
        )
    return EntrypointRunner(resolve_entrypoint(target), args, kwargs, description=description)
