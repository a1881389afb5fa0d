"""Python payloads away from the scheduler thread: in a worker thread, or in a fresh interpreter per run.

``--in thread`` runs the code on a worker thread with the same ``task`` object
(its ``state`` is shared with the scheduler thread). ``--in process`` runs it in
a new interpreter per run with a copy of the task (``_pyworker``); what the code
leaves in ``task.state`` is copied back after the run.
"""

from __future__ import annotations

import pickle
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from . import _pyworker
from .base import Completed, PayloadFailed, RunIO, Runner
from .subprocess import TAIL_BYTES, SubprocessRunner

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["ProcessPythonRunner", "ThreadRunner", "finish_python_response"]


class ThreadRunner(Runner):
    """Runs a synchronous runner's ``call`` on a worker thread, so a slow payload does not hold up the timing loop.

    A run that is cancelled (timeout, shutdown) is abandoned: Python cannot stop a thread, so it
    finishes in the background and its result is dropped.
    """

    is_async = True

    def __init__(self, inner: Runner) -> None:
        if inner.is_async:
            raise TypeError("ThreadRunner wraps synchronous runners only")
        self.inner = inner
        self.description = inner.description

    async def acall(self, task: Task, io: RunIO) -> Any:
        return await anyio.to_thread.run_sync(self.inner.call, task, abandon_on_cancel=True)


def finish_python_response(response: dict[str, Any], task: Task, output: bytes | None = None) -> Completed:
    """Turn a ``_pyworker`` response into a run outcome: write the state back, unpickle the result.

    Raises:
        PayloadFailed: the code raised (the message is ``Type: message``).
    """
    if response.get("state_empty"):
        task.state.clear()
    elif (state := response.get("state")) is not None:
        try:
            new_state = pickle.loads(state)
        except Exception:  # a class the scheduler cannot import: keep the state as it was
            new_state = None
        if isinstance(new_state, dict):
            task.state.clear()
            task.state.update(new_state)
    if "error" in response:
        raise PayloadFailed(response["error"], output=output, traceback=response.get("traceback"))
    result: Any = response.get("result")
    if "result_pickle" in response:
        try:
            result = pickle.loads(response["result_pickle"])
        except Exception:  # a class the scheduler cannot import: show it as text
            result = response.get("result_repr")
    elif "result_repr" in response:
        result = response["result_repr"]
    return Completed(result, output=output)


class ProcessPythonRunner(SubprocessRunner):
    """Runs ``python:`` code in a fresh interpreter (this one's ``sys.executable``) per run.

    The request (code and a copy of the task) goes to the child over a socket on its stdin,
    the response comes back on the same socket; stdout and stderr are forwarded live.
    """

    def __init__(
        self,
        code: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        kill_grace: float = 1.0,
        passthrough: bool = False,
    ) -> None:
        from .inprocess import PythonCodeRunner

        PythonCodeRunner(code)  # a syntax error is reported now, before anything runs
        # -P: the worker's directory (supertask/runners) must not shadow modules such as subprocess
        argv = [sys.executable, "-P", _pyworker.__file__]
        super().__init__(
            argv,
            description=f"python:{code}",
            env=env,
            cwd=cwd,
            kill_grace=kill_grace,
            passthrough=passthrough,
        )
        self.code = code

    async def acall(self, task: Task, io: RunIO) -> Completed:
        try:
            data = _pyworker.encode_request(self.code, task)
        except Exception as exc:
            raise PayloadFailed(f"task.state cannot be sent to the process (it must pickle): {exc}") from None
        ours, theirs = socket.socketpair()
        try:
            ours.sendall(data)  # the socket buffer holds it until the child reads it
            ours.shutdown(socket.SHUT_WR)
            ours.setblocking(False)
            received = bytearray()

            async def read_response() -> None:
                while True:
                    await anyio.wait_socket_readable(ours)
                    try:
                        chunk = ours.recv(65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        return
                    received.extend(chunk)

            async with anyio.create_task_group() as tg:
                tg.start_soon(read_response)
                try:
                    rc, tail = await self.run_process(self.argv, task, io, stdin=theirs)
                finally:
                    theirs.close()
        finally:
            ours.close()
        if rc != 0:
            raise self.failure(rc, tail)
        if not received:
            raise PayloadFailed("the python process ended without a response", exit_code=rc, output=tail)
        return finish_python_response(_pyworker.decode(bytes(received)), task, tail[-TAIL_BYTES:] or None)
