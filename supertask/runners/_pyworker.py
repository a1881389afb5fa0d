"""Runs ``python:`` code outside the scheduler process: in a tractor actor or a fresh interpreter.

Standard library only and free of package-relative imports, so a fresh
interpreter can run this file as a script (``python _pyworker.py``) without
importing Supertask (or trio) first. It imports as little as it can up front
(no ``pickle``, ``datetime`` or ``typing`` unless a run needs them): its start-up
time is part of every ``--in process`` run. The actor worker imports it as a module.

Wire format (both ways): a ``marshal``-ed dict. A request has ``code`` and the
task's fields (:func:`encode_request`); the job's state travels pickled, and only
when it is not empty. A response (:func:`execute`) has ``result`` (a plain value),
``result_pickle`` or ``result_repr`` (its text), ``state`` (pickled) or
``state_empty``, or ``error`` and ``traceback``.
"""

from __future__ import annotations

import builtins
import marshal
import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time
if TYPE_CHECKING:
    import datetime as _dt
    from typing import Any

__all__ = ["TaskCopy", "decode", "encode_request", "execute"]

#: modules in scope from the start, as in-process (in a fresh interpreter they are imported on first use)
_PRELOADED = ("math", "time", "datetime", "random")

_elapsed_type: Any = None


def _elapsed(seconds: float) -> Any:
    """An ``Elapsed`` (a ``timedelta`` whose ``total_seconds`` is attribute and method), built on first use."""
    global _elapsed_type
    if _elapsed_type is None:
        import datetime

        class Seconds(float):
            """A float of seconds that can also be called (``x.total_seconds()``)."""

            __slots__ = ()

            def __call__(self) -> float:
                return float(self)

        class Elapsed(datetime.timedelta):
            """A ``timedelta`` whose ``total_seconds`` works as attribute and method (as in the scheduler)."""

            __slots__ = ("_seconds",)
            _seconds: float

            def __new__(cls, seconds: float) -> Any:
                self = super().__new__(cls, seconds=seconds)
                self._seconds = seconds
                return self

            @property  # type: ignore[override]
            def total_seconds(self) -> Seconds:
                return Seconds(self._seconds)

            def __repr__(self) -> str:
                return f"Elapsed({self._seconds!r})"

        _elapsed_type = Elapsed
    return _elapsed_type(seconds)


def _datetime(stamp: tuple[float, float, str]) -> _dt.datetime:
    import datetime

    ts, offset, name = stamp
    return datetime.datetime.fromtimestamp(ts, datetime.timezone(datetime.timedelta(seconds=offset), name))


class TaskCopy:
    """The ``task`` a payload sees outside the scheduler process: a copy of the run's fields.

    ``state`` is a copy of the job's state dict; what the payload leaves in it is
    copied back to the scheduler after the run (it must pickle).
    """

    __slots__ = ("_fields", "_state", "count", "name", "tick")

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields
        self.name: str = fields["name"]
        self.count: int = fields["count"]
        self.tick: int = fields["tick"]
        self._state: dict[str, Any] | None = None

    @property
    def elapsed(self) -> Any:
        """Time from the job's first scheduled run to this run's scheduled time."""
        return _elapsed(self._fields["elapsed"])

    @property
    def lateness(self) -> Any:
        """How late this run started."""
        return _elapsed(self._fields["lateness"])

    @property
    def scheduled(self) -> _dt.datetime:
        """When this run was due (aware, in the scheduler's local time zone)."""
        return _datetime(self._fields["scheduled"])

    @property
    def started(self) -> _dt.datetime:
        """When this run started (aware, in the scheduler's local time zone)."""
        return _datetime(self._fields["started"])

    @property
    def state(self) -> dict[str, Any]:
        """A copy of the job's state; copied back to the scheduler after the run."""
        if self._state is None:
            data = self._fields.get("state")
            if data is None:
                self._state = {}
            else:
                import pickle

                self._state = pickle.loads(data)
        return self._state

    def __repr__(self) -> str:
        return f"<Task {self.name!r} count={self.count} lateness={self._fields['lateness']:.6f}s (copy)>"


def _stamp(moment: _dt.datetime) -> tuple[float, float, str]:
    offset = moment.utcoffset()
    return (moment.timestamp(), offset.total_seconds() if offset else 0.0, moment.tzname() or "")


def encode_request(code: str, task: Any) -> bytes:
    """The request for one run of *code* with a copy of the scheduler's *task* (done in the scheduler).

    Raises:
        Exception: ``task.state`` does not pickle.
    """
    import pickle

    return marshal.dumps(
        {
            "code": code,
            "name": task.name,
            "count": task.count,
            "tick": task.tick,
            "elapsed": float(task.elapsed.total_seconds),
            "lateness": float(task.lateness.total_seconds),
            "scheduled": _stamp(task.scheduled),
            "started": _stamp(task.started),
            "state": pickle.dumps(task.state) if task.state else None,
        }
    )


def decode(data: bytes) -> dict[str, Any]:
    """A request or response from its wire form."""
    return marshal.loads(data)  # type: ignore[no-any-return]


class _Namespace(dict):  # type: ignore[type-arg]
    """Globals of ``python:`` code: builtins, then any importable module named in the code, imported on first use.

    For a package, the submodules the code names (``xml.etree.ElementTree.fromstring``)
    are imported with it, as ``import xml.etree.ElementTree`` would."""

    def __init__(self, code: str = "") -> None:
        super().__init__()
        self._code = code

    def __missing__(self, key: str) -> Any:
        import importlib
        import importlib.util

        if hasattr(builtins, key):
            value = getattr(builtins, key)
        elif key in sys.stdlib_module_names or (
            key.isidentifier() and not key.startswith("_") and importlib.util.find_spec(key) is not None
        ):
            value = importlib.import_module(key)
            if hasattr(value, "__path__"):
                self._import_submodules(key)
        else:
            raise KeyError(key)
        self[key] = value
        return value

    def _import_submodules(self, package: str) -> None:
        import importlib
        import re

        # public names only: ``pkg.__main__`` would run a program
        for dotted in set(re.findall(rf"(?<![\w.]){re.escape(package)}(?:\.[A-Za-z]\w*)+", self._code)):
            parts = dotted.split(".")
            for end in range(len(parts), 1, -1):  # the longest importable prefix
                try:
                    importlib.import_module(".".join(parts[:end]))
                    break
                except ImportError:
                    continue


class _Compiled:
    __slots__ = ("body", "expr", "namespace")

    def __init__(self, code: str, preload: bool) -> None:
        filename = "<python:>"
        self.expr: Any = None
        self.body: Any = None
        try:
            self.expr = compile(code, filename, "eval")
        except SyntaxError:
            import _ast  # built in; the ast module would import contextlib, enum, collections…

            tree: Any = compile(code, filename, "exec", _ast.PyCF_ONLY_AST)
            last = tree.body[-1] if tree.body else None
            if isinstance(last, _ast.Expr):
                tree.body.pop()
                self.expr = compile(_ast.Expression(last.value), filename, "eval")
            self.body = compile(tree, filename, "exec") if tree.body else None
        self.namespace = _Namespace(code)
        if preload:
            import importlib

            for name in _PRELOADED:
                self.namespace[name] = importlib.import_module(name)


_cache: dict[str, _Compiled] = {}


def execute(request: dict[str, Any], *, preload: bool = True) -> dict[str, Any]:
    """Run the request's code with a copy of its task; never raises for the payload's own errors.

    *preload*: import ``math``, ``time``, ``datetime`` and ``random`` up front (a warm actor
    does, once); otherwise every module is imported when the code first names it."""
    task = TaskCopy(request)
    try:
        code = request["code"]
        compiled = _cache.get(code)
        if compiled is None:
            compiled = _cache[code] = _Compiled(code, preload)
        ns = compiled.namespace
        ns["task"] = task
        if compiled.body is not None:
            exec(compiled.body, ns)
        value = eval(compiled.expr, ns) if compiled.expr is not None else None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return _with_state({}, task)
        import traceback

        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return _with_state({"error": f"{type(exc).__name__}: {exc}", "traceback": "".join(tb)}, task)
    finally:
        _flush()
    response: dict[str, Any] = {}
    if value is not None:
        try:
            marshal.dumps(value)  # exact built-in types only (no subclasses)
            response["result"] = value
        except ValueError:
            import pickle

            try:
                response["result_pickle"] = pickle.dumps(value)
            except Exception:
                pass
            response["result_repr"] = str(value)
    return _with_state(response, task)


def _with_state(response: dict[str, Any], task: TaskCopy) -> dict[str, Any]:
    """Add the task's state to *response* if the run touched it (read or wrote ``task.state``)."""
    state = task._state
    if state is None:  # never looked at: unchanged
        return response
    if not state:
        response["state_empty"] = True
        return response
    import pickle

    try:
        response["state"] = pickle.dumps(state)
    except Exception as exc:
        response.setdefault("error", f"task.state cannot be copied back (it must pickle): {exc}")
    return response


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _main() -> None:
    """Script mode (``--in process``): stdin is a socket; the request comes on it (until EOF)
    and the response goes back on the same socket."""
    sock = os.dup(0)
    chunks = []
    while chunk := os.read(sock, 65536):
        chunks.append(chunk)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the payload's stdin is empty
    os.close(devnull)
    response = execute(decode(b"".join(chunks)), preload=False)
    data = memoryview(marshal.dumps(response))
    while data:
        data = data[os.write(sock, data) :]
    os.close(sock)


if __name__ == "__main__":
    sys.path[0:1] = []  # this file's directory is not a place to import payload modules from
    _main()
