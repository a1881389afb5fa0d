"""The code a Supertask tractor actor runs: set the job's environment up once, then serve ``python:`` requests.

The scheduler imports this module too (tractor names remote functions by
reference), so importing it has no side effects; :func:`serve` prepares the
actor when it starts there: it ignores SIGINT (actors run in a session of their
own, out of the terminal's reach; they are stopped by their scheduler) and
applies the job's environment. (A watchdog thread, started before tractor,
ends the actor when the scheduler is gone: see ``actor._BOOT``.)
Requests come over one long-lived bidirectional stream: one message each way per run.
"""

from __future__ import annotations

import contextlib
import io
import marshal
import os
import signal
import warnings
from typing import Any

from . import _pyworker

__all__ = ["run_python", "serve"]

#: set by the scheduler in the actor's environment for tractor's import only
CHILD_WARNINGS = "ignore:trio.MultiError:FutureWarning"


def _prepare(env: dict[str, str], cwd: str | None, parent: int) -> None:
    if os.getppid() != parent:  # the scheduler is gone already
        os._exit(1)
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.filterwarnings("ignore", message=r".*MultiError", module=r"tractor(\..*)?$")
    if os.environ.get("PYTHONWARNINGS") == CHILD_WARNINGS:
        del os.environ["PYTHONWARNINGS"]
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)


#: characters of a run's stdout (and of its stderr) kept for the scheduler; the rest is counted and dropped
CAPTURE_LIMIT = 1 << 20


class _Capture(io.TextIOBase):
    """A bounded text sink: a payload that floods its output cannot fill the actor's memory."""

    def __init__(self, limit: int = CAPTURE_LIMIT) -> None:
        self._parts: list[str] = []
        self._room = limit
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._room > 0:
            kept = text[: self._room]
            self._parts.append(kept)
            self._room -= len(kept)
            self.dropped += len(text) - len(kept)
        else:
            self.dropped += len(text)
        return len(text)

    def getvalue(self) -> str:
        text = "".join(self._parts)
        if self.dropped:
            text += f"\n[supertask: {self.dropped} more characters of output dropped]\n"
        return text


def run_python(request: bytes) -> bytes:
    """Run one ``python:`` request; its output is captured (bounded) and returned with the response."""
    out, err = _Capture(), _Capture()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # type: ignore[type-var]
        response = _pyworker.execute(_pyworker.decode(request))
    response["stdout"] = out.getvalue()
    response["stderr"] = err.getvalue()
    return marshal.dumps(response)


async def ping() -> None:
    """Do nothing (a bare ``portal.run`` round trip, e.g. for the isolation benchmark)."""


async def serve(ctx: Any, env: dict[str, str], cwd: str | None, parent: int) -> None:
    """Prepare this actor for its job, then answer each request on the stream until it closes."""
    _prepare(env, cwd, parent)
    await ctx.started(os.getpid())
    async with ctx.open_stream() as stream:
        async for request in stream:
            await stream.send(run_python(request))


# what ``@tractor.context`` does, without importing tractor into every process that imports this module
serve._tractor_context_function = True  # type: ignore[attr-defined]
