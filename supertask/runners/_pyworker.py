"""Runs ``python:`` code outside the scheduler process: in a tractor actor or a fresh interpreter.

Standard library only and free of package-relative imports, so a fresh
interpreter can run this file as a script (``python _pyworker.py``) without
importing Supertask (or trio) first: that keeps ``--in process`` close to the
cost of a bare ``python -c``. The actor worker imports it as a module.

A request is a dict: ``code`` and the ``task`` fields (see :func:`task_fields`);
a response is a dict with ``result`` (pickled, or its ``repr`` if it does not
pickle), ``state`` (the task's state after the run, pickled) or ``error`` and
``traceback``.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import os
import pickle
import sys

TYPE_CHECKING = False  # typing is not imported: this module's start-up time is part of every --in process run
if TYPE_CHECKING:
    from typing import Any

__all__ = ["TaskCopy", "execute", "task_fields"]

#: modules in scope from the start, as in-process (in a fresh interpreter they are imported on first use)
_PRELOADED = ("math", "time", "datetime", "random")


class Seconds(float):
    """A float of seconds that can also be called (``x.total_seconds`` and ``x.total_seconds()``)."""

    __slots__ = ()

    def __call__(self) -> float:
        return float(self)


class Elapsed(_dt.timedelta):
    """A ``timedelta`` whose ``total_seconds`` works as attribute and method (as in the scheduler)."""

    __slots__ = ("_seconds",)
    _seconds: float

    def __new__(cls, seconds: float) -> Elapsed:
        self = super().__new__(cls, seconds=seconds)
        self._seconds = seconds
        return self

    @property  # type: ignore[override]
    def total_seconds(self) -> Seconds:
        return Seconds(self._seconds)

    def __repr__(self) -> str:
        return f"Elapsed({self._seconds!r})"


class TaskCopy:
    """The ``task`` a payload sees outside the scheduler process: a copy of the run's fields.

    ``state`` is a copy of the job's state dict; what the payload leaves in it is
    copied back to the scheduler after the run (it must pickle).
    """

    __slots__ = ("count", "elapsed", "lateness", "name", "scheduled", "started", "state", "tick")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.name: str = fields["name"]
        self.count: int = fields["count"]
        self.tick: int = fields["tick"]
        self.elapsed = Elapsed(fields["elapsed"])
        self.lateness = Elapsed(fields["lateness"])
        self.scheduled: _dt.datetime = fields["scheduled"]
        self.started: _dt.datetime = fields["started"]
        self.state: dict[str, Any] = fields["state"]

    def __repr__(self) -> str:
        return f"<Task {self.name!r} count={self.count} lateness={self.lateness._seconds:.6f}s (copy)>"


def task_fields(task: Any) -> dict[str, Any]:
    """The picklable fields of a scheduler ``Task`` (done in the parent)."""
    return {
        "name": task.name,
        "count": task.count,
        "tick": task.tick,
        "elapsed": float(task.elapsed.total_seconds),
        "lateness": float(task.lateness.total_seconds),
        "scheduled": task.scheduled,
        "started": task.started,
        "state": task.state,
    }


class _Namespace(dict):  # type: ignore[type-arg]
    """Globals of ``python:`` code: builtins, then any importable module named in the code, imported on first use."""

    def __missing__(self, key: str) -> Any:
        import importlib
        import importlib.util

        if hasattr(builtins, key):
            value = getattr(builtins, key)
        elif key in sys.stdlib_module_names or (
            key.isidentifier() and not key.startswith("_") and importlib.util.find_spec(key) is not None
        ):
            value = importlib.import_module(key)
        else:
            raise KeyError(key)
        self[key] = value
        return value


class _Compiled:
    __slots__ = ("body", "expr", "namespace")

    def __init__(self, code: str, preload: bool) -> None:
        filename = "<python:>"
        self.expr: Any = None
        self.body: Any = None
        try:
            self.expr = compile(code, filename, "eval")
        except SyntaxError:
            import ast

            tree = ast.parse(code, filename, "exec")
            last = tree.body[-1] if tree.body else None
            if isinstance(last, ast.Expr):
                tree.body.pop()
                self.expr = compile(ast.Expression(last.value), filename, "eval")
            self.body = compile(tree, filename, "exec") if tree.body else None
        self.namespace = _Namespace()
        if preload:
            import importlib

            for name in _PRELOADED:
                self.namespace[name] = importlib.import_module(name)


_cache: dict[str, _Compiled] = {}


def execute(request: dict[str, Any], *, preload: bool = True) -> dict[str, Any]:
    """Run the request's code with a copy of its task; never raises for the payload's own errors.

    *preload*: import ``math``, ``time``, ``datetime`` and ``random`` up front (a warm actor
    does, once); otherwise every module is imported when the code first names it."""
    try:
        code = request["code"]
        compiled = _cache.get(code)
        if compiled is None:
            compiled = _cache[code] = _Compiled(code, preload)
        task = TaskCopy(request["task"])
        ns = compiled.namespace
        ns["task"] = task
        if compiled.body is not None:
            exec(compiled.body, ns)
        value = eval(compiled.expr, ns) if compiled.expr is not None else None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return {"result": None, "state": _pickle_state(request)}
        import traceback

        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": "".join(tb), "state": _pickle_state(request)}
    finally:
        _flush()
    response: dict[str, Any] = {"result": None, "state": _pickle_state(request, task.state)}
    if value is not None:
        try:
            response["result"] = pickle.dumps(value)
        except Exception:
            response["result_repr"] = str(value)
    return response


def _pickle_state(request: dict[str, Any], state: Any = None) -> bytes | None:
    try:
        return pickle.dumps(request["task"]["state"] if state is None else state)
    except Exception:
        return None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _main() -> None:
    """Script mode (``--in process``): stdin is a socket; the request comes pickled on it (until EOF)
    and the response goes back pickled on the same socket."""
    sock = os.dup(0)
    chunks = []
    while chunk := os.read(sock, 65536):
        chunks.append(chunk)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the payload's stdin is empty
    os.close(devnull)
    response = execute(pickle.loads(b"".join(chunks)), preload=False)
    data = memoryview(pickle.dumps(response))
    while data:
        data = data[os.write(sock, data) :]
    os.close(sock)


if __name__ == "__main__":
    sys.path[0:1] = []  # this file's directory is not a place to import payload modules from
    _main()
