"""Subprocess payloads: a command line through ``sh -c`` or an argv without a shell, in its own process group.

Output is read live and forwarded line by line; a bounded tail is kept for the
run record. In capture mode (``capture=N``, used by ``supertask watch``) stderr is
merged into stdout, as a terminal would show them, and the run's first N bytes go to
the sinks in chunks as they come (not cut at lines; the rest is read and dropped), all
of them before the run's outcome is recorded. On cancellation (shutdown, overrun ``cancel``) the whole process
group gets SIGTERM, then SIGKILL after a grace period, so no child outlives its run.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from .base import PayloadFailed, RunIO, Runner

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["TAIL_BYTES", "SubprocessRunner", "exec_runner", "shell_runner"]

log = logging.getLogger(__name__)

#: bytes of output kept for the run record
TAIL_BYTES = 4096


def _describe_status(rc: int) -> tuple[str, int | None]:
    """Return (text, signal) for a return code; negative codes are deaths by signal."""
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"killed by {name}", -rc
    if rc == 127:
        return "exit code 127 (command not found)", None
    if rc == 126:
        return "exit code 126 (not executable)", None
    return f"exit code {rc}", None


class SubprocessRunner(Runner):
    """Runs an argv as a child process per run.

    Args:
        argv: the program and its arguments.
        description: how the payload is shown in logs.
        env: extra environment variables for this job only.
        cwd: working directory of the child.
        kill_grace: seconds between SIGTERM and SIGKILL when a run is cancelled.
        capture: capture mode: hand the first *capture* bytes of the run's stdout and
            stderr (merged) to the sinks in chunks as they come, before the run's outcome
            (None: forward stdout and stderr line by line, each to its own sink method).
    """

    is_async = True

    def __init__(
        self,
        argv: Sequence[str],
        *,
        description: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        kill_grace: float = 1.0,
        capture: int | None = None,
    ) -> None:
        if capture is not None and capture < 0:
            raise ValueError(f"capture must be >= 0 bytes, not {capture!r}")
        self.argv = list(argv)
        self.capture = capture
        self.description = description or " ".join(self.argv)
        self.env = dict(env) if env else None
        self.cwd = cwd
        self.kill_grace = kill_grace

    async def acall(self, task: Task, io: RunIO) -> None:
        if self.capture is not None:
            return await self._acall_captured(task, io, self.capture)
        env = {**os.environ, **self.env} if self.env else None
        try:
            proc = await anyio.open_process(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
                cwd=self.cwd,
            )
        except FileNotFoundError:
            raise PayloadFailed(f"command not found: {self.argv[0]}", exit_code=127) from None
        except PermissionError:
            raise PayloadFailed(f"permission denied: {self.argv[0]}", exit_code=126) from None
        tail = bytearray()
        try:
            async with anyio.create_task_group() as tg:
                assert proc.stdout is not None and proc.stderr is not None
                out_done, err_done = anyio.Event(), anyio.Event()
                tg.start_soon(_pump, proc.stdout, lambda b: io.output(task, b), tail, out_done)
                tg.start_soon(_pump, proc.stderr, lambda b: io.error_output(task, b), tail, err_done)
                rc = await proc.wait()
                # children that inherited the pipes may keep them open: do not wait for them long
                with anyio.move_on_after(0.2):
                    await out_done.wait()
                    await err_done.wait()
                tg.cancel_scope.cancel()
        finally:
            if proc.returncode is None:
                with anyio.CancelScope(shield=True):
                    await _terminate_group(proc, self.kill_grace)
        if rc != 0:
            text, sig = _describe_status(rc)
            last = bytes(tail).decode(errors="replace").strip().splitlines()
            detail = f": {last[-1]}" if last else ""
            raise PayloadFailed(f"{text}{detail}", exit_code=rc if rc >= 0 else None, signal=sig)
        return None

    async def _acall_captured(self, task: Task, io: RunIO, limit: int) -> None:
        env = {**os.environ, **self.env} if self.env else None
        options: dict[str, Any] = dict(
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=self.cwd,
        )
        proc: anyio.abc.Process | _SpawnedHere
        try:
            if _SpawnedHere.usable():
                proc = _SpawnedHere(subprocess.Popen(list(self.argv), **options))
            else:
                proc = await anyio.open_process(self.argv, **options)
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            code = 126 if isinstance(exc, PermissionError) else 127
            reason = exc.strerror or type(exc).__name__
            io.output(task, f"{self.argv[0]}: {reason}\n".encode())
            raise PayloadFailed(f"{reason.lower()}: {self.argv[0]}", exit_code=code) from None
        captured = bytearray()
        try:
            async with anyio.create_task_group() as tg:
                assert proc.stdout is not None
                done = anyio.Event()
                tg.start_soon(_capture, proc.stdout, captured, limit, lambda b: io.output(task, b), done)
                rc = await proc.wait()
                # children that inherited the pipe may keep it open: do not wait for them long
                with anyio.move_on_after(0.2):
                    await done.wait()
                tg.cancel_scope.cancel()
        finally:
            if proc.returncode is None:
                with anyio.CancelScope(shield=True):
                    await _terminate_group(proc, self.kill_grace)  # type: ignore[arg-type]
            if isinstance(proc, _SpawnedHere):
                proc.close()
        if rc != 0:
            text, sig = _describe_status(rc)
            last = bytes(captured[-TAIL_BYTES:]).decode(errors="replace").strip().splitlines()
            detail = f": {last[-1]}" if last else ""
            raise PayloadFailed(f"{text}{detail}", exit_code=rc if rc >= 0 else None, signal=sig)
        return None


class _SpawnedHere:
    """A child started on the calling thread and awaited through a pidfd and its non-blocking pipe.

    ``anyio.open_process`` (trio) starts children on a worker thread; on a loaded machine that
    thread hop adds milliseconds before the command runs, which ``watch -p`` users see as
    lateness. ``subprocess.Popen`` (vfork + exec) on the event loop's thread takes about a
    millisecond. Linux only (pidfd); elsewhere capture mode uses ``anyio.open_process``.
    """

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        assert popen.stdout is not None
        self._fd = popen.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(popen.pid)
        except OSError:  # an old kernel: poll for the exit instead
            self._pidfd = None
        self.stdout = _PipeStream(self._fd)

    @staticmethod
    def usable() -> bool:
        import sniffio

        try:
            return hasattr(os, "pidfd_open") and sniffio.current_async_library() == "trio"
        except sniffio.AsyncLibraryNotFoundError:
            return False

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        import trio

        while self._popen.poll() is None:
            if self._pidfd is None:
                await trio.sleep(0.002)
            else:
                await trio.lowlevel.wait_readable(self._pidfd)
        return self._popen.returncode

    def close(self) -> None:
        import trio

        trio.lowlevel.notify_closing(self._fd)
        if self._pidfd is not None:
            trio.lowlevel.notify_closing(self._pidfd)
            os.close(self._pidfd)
        assert self._popen.stdout is not None
        self._popen.stdout.close()


class _PipeStream:
    """The read end of a child's pipe as an async iterator of chunks (trio)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __aiter__(self) -> _PipeStream:
        return self

    async def __anext__(self) -> bytes:
        import trio

        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._fd)
                continue
            except OSError:
                data = b""
            if not data:
                raise StopAsyncIteration
            return data


async def _capture(
    stream: AsyncIterable[bytes], into: bytearray, limit: int, emit: Callable[[bytes], None], done: anyio.Event
) -> None:
    """Hand on and keep the first *limit* bytes of *stream*, chunk by chunk as they come; read and
    drop the rest (so the writer never blocks)."""
    try:
        async for chunk in stream:
            room = limit - len(into)
            if room > 0:
                into += chunk[:room]
                emit(chunk[:room])
    finally:
        done.set()


async def _pump(
    stream: anyio.abc.ByteReceiveStream, emit: Callable[[bytes], None], tail: bytearray, done: anyio.Event
) -> None:
    """Forward complete lines as they arrive; keep the last TAIL_BYTES bytes in *tail*."""
    try:
        await _pump_lines(stream, emit, tail)
    finally:
        done.set()


async def _pump_lines(stream: anyio.abc.ByteReceiveStream, emit: Callable[[bytes], None], tail: bytearray) -> None:
    pending = b""
    async for chunk in stream:
        tail += chunk
        if len(tail) > TAIL_BYTES:
            del tail[: len(tail) - TAIL_BYTES]
        data = pending + chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            emit(data[:cut])
        pending = data[cut:]
    if pending:
        emit(pending)


async def _terminate_group(proc: anyio.abc.Process, grace: float) -> None:
    """SIGTERM the child's process group, SIGKILL it after *grace* seconds, and reap the child."""
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    with anyio.move_on_after(grace):
        await proc.wait()
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    await proc.wait()


def shell_runner(script: str, **kwargs: object) -> SubprocessRunner:
    """A runner for a command line run by ``/bin/sh -c``."""
    return SubprocessRunner(["/bin/sh", "-c", script], description=f"cmd:{script}", **kwargs)  # type: ignore[arg-type]


def exec_runner(argv: Sequence[str], **kwargs: object) -> SubprocessRunner:
    """A runner for an argv run without a shell."""
    return SubprocessRunner(argv, description=" ".join(argv), **kwargs)  # type: ignore[arg-type]
