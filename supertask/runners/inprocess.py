"""In-process payloads: ``python:`` code compiled once, and Python callables or coroutine functions."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import PayloadError
from . import _pyworker
from .base import RunIO, Runner

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["CallableRunner", "PythonCodeRunner"]


class PythonCodeRunner(Runner):
    """Runs Python code in-process: an expression (its non-None value is the result) or statements
    (the value of a final expression statement is the result). Compiled once, at construction.

    In scope: ``task``, ``math``, ``time``, ``datetime``, ``random``, every builtin, and any other
    importable module named in the code (imported on first use).

    Raises:
        PayloadError: the code does not compile (reported before anything runs).
    """

    is_async = False

    def __init__(self, code: str) -> None:
        self.code = code
        self.description = f"python:{code}"
        try:
            compiled = _pyworker._Compiled(code, preload=True)  # one compiler, shared with the worker
        except SyntaxError as exc:
            detail = exc.msg + (f" at column {exc.offset}" if exc.offset else "")
            raise PayloadError(f"invalid python payload {code!r}: {detail}") from None
        self._expr: Any = compiled.expr
        self._body: Any = compiled.body
        self.namespace = compiled.namespace

    def call(self, task: Task) -> Any:
        ns = self.namespace
        ns["task"] = task
        if self._body is not None:
            exec(self._body, ns)
        if self._expr is not None:
            return eval(self._expr, ns)
        return None


class CallableRunner(Runner):
    """Runs a Python callable ``fn(task)``; a coroutine function runs as its own trio task."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise PayloadError(f"payload {fn!r} is not callable: expected a function taking the task")
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
        self.description = getattr(fn, "__qualname__", None) or repr(fn)
        try:
            params = inspect.signature(fn).parameters
            self._takes_task = len(params) > 0
        except (TypeError, ValueError):
            self._takes_task = True

    def call(self, task: Task) -> Any:
        return self.fn(task) if self._takes_task else self.fn()

    async def acall(self, task: Task, io: RunIO) -> Any:
        return await (self.fn(task) if self._takes_task else self.fn())
