"""Subprocess payloads: a command line through ``sh -c`` or an argv without a shell, in its own process group.

Output is read live and forwarded line by line; a bounded tail is kept for the
run record. In capture mode (``capture=N``, used by ``supertask watch``) stderr is
merged into stdout, as a terminal would show them, and the run's first N bytes go to
the sinks in chunks as they come (not cut at lines; the rest is read and dropped), all
of them before the run's outcome is recorded. On cancellation (shutdown, overrun ``cancel``) the whole process
group gets SIGTERM, then SIGKILL after a grace period, so no child outlives its run.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from .base import Completed, PayloadFailed, RunIO, Runner, killed_returncode

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["TAIL_BYTES", "DockerRunner", "SubprocessRunner", "exec_runner", "script_runner", "shell_runner"]

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
    """Runs an argv as a child process per run, in a process group of its own.

    Args:
        argv: the program and its arguments.
        description: how the payload is shown in logs.
        env: extra environment variables for this job's runs only.
        cwd: working directory of the child.
        kill_grace: seconds between SIGTERM and SIGKILL when a run is cancelled or times out.
        passthrough: the child writes straight to this process's stdout/stderr (a terminal stays a
            terminal, no line buffering); no output tail is kept and sinks see no output.
        capture: capture mode: hand the first *capture* bytes of the run's stdout and
            stderr (merged) to the sinks in chunks as they come, before the run's outcome
            (None: forward stdout and stderr line by line, each to its own sink method).
    """

    is_async = True
    spawns_process = True

    def __init__(
        self,
        argv: Sequence[str],
        *,
        description: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        kill_grace: float = 1.0,
        passthrough: bool = False,
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
        self.passthrough = passthrough
        self._full_env = {**os.environ, **self.env} if self.env else None
        #: capture mode: children spawned at dispatch (:meth:`prestart`), by id of their task
        self._prestarted: dict[int, _SpawnedHere | OSError] = {}

    async def acall(self, task: Task, io: RunIO) -> Any:
        if self.capture is not None:
            return await self._acall_captured(task, io, self.capture)
        rc, tail = await self.run_process(self.argv, task, io)
        if rc != 0:
            raise self.failure(rc, tail)
        return Completed(exit_code=0, output=tail)

    def failure(self, rc: int, tail: bytes) -> PayloadFailed:
        """The run failure for a non-zero return code, with the last line of output."""
        text, sig = _describe_status(rc)
        last = tail.decode(errors="replace").strip().splitlines()
        detail = f": {last[-1]}" if last else ""
        return PayloadFailed(f"{text}{detail}", exit_code=rc if rc >= 0 else None, signal=sig, output=tail)

    async def on_cancelled(self, argv: Sequence[str]) -> None:
        """Called (shielded) after a cancelled run's process group was killed; for cleanup elsewhere."""

    async def run_process(self, argv: Sequence[str], task: Task, io: RunIO, *, stdin: Any = None) -> tuple[int, bytes]:
        """Run *argv* to completion; return its return code and output tail.

        On cancellation (timeout, shutdown, overrun ``cancel``) the whole process group is
        killed (SIGTERM, then SIGKILL after ``kill_grace``) before the cancellation goes on.
        """
        pipe = None if self.passthrough else subprocess.PIPE
        try:
            proc = await anyio.open_process(
                argv,
                stdin=subprocess.DEVNULL if stdin is None else stdin,
                stdout=pipe,
                stderr=pipe,
                start_new_session=True,
                env=self._full_env,
                cwd=self.cwd,
            )
        except FileNotFoundError as exc:
            if self.cwd and not os.path.isdir(self.cwd):
                raise PayloadFailed(f"working directory not found: {self.cwd}", exit_code=127) from None
            raise PayloadFailed(f"command not found: {exc.filename or argv[0]}", exit_code=127) from None
        except PermissionError:
            raise PayloadFailed(f"permission denied: {argv[0]}", exit_code=126) from None
        except NotADirectoryError:
            raise PayloadFailed(f"working directory is not a directory: {self.cwd}", exit_code=127) from None
        tail = bytearray()
        rc = -1
        try:
            if self.passthrough:
                rc = await proc.wait()
            else:
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
            with anyio.CancelScope(shield=True):
                if proc.returncode is None:
                    await _terminate_group(proc, self.kill_grace)
                    killed_returncode.set(proc.returncode)
                    await self.on_cancelled(argv)
                else:
                    _kill_leftovers(proc.pid)
                await proc.aclose()
        return rc, bytes(tail)

    @property
    def prestarts(self) -> bool:  # type: ignore[override]
        return self.capture is not None

    def _capture_options(self) -> dict[str, Any]:
        return dict(
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **self.env} if self.env else None,  # read per run: watch updates LINES/COLUMNS
            cwd=self.cwd,
        )

    def prestart(self, task: Task) -> None:
        """Capture mode: spawn the child at dispatch on the loop's thread (``watch -p`` timing)."""
        if self.capture is None or not _SpawnedHere.usable():
            return
        started: _SpawnedHere | OSError
        try:
            started = _SpawnedHere(subprocess.Popen(list(self.argv), **self._capture_options()))
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            started = exc
        self._prestarted[id(task)] = started

    async def _acall_captured(self, task: Task, io: RunIO, limit: int) -> None:
        proc: anyio.abc.Process | _SpawnedHere
        try:
            early = self._prestarted.pop(id(task), None)
            if isinstance(early, OSError):
                raise early
            if early is not None:
                proc = early
            elif _SpawnedHere.usable():
                proc = _SpawnedHere(subprocess.Popen(list(self.argv), **self._capture_options()))
            else:
                proc = await anyio.open_process(self.argv, **self._capture_options())
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


def _kill_leftovers(pgid: int) -> None:
    """The run's main process has ended: kill what it left running in its process group."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


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


#: output of the docker client when it cannot reach an engine
_NO_ENGINE = (b"Cannot connect to the Docker daemon", b"error during connect", b"docker daemon is not running")


class DockerRunner(SubprocessRunner):
    """``docker run --rm`` per run, with a container name of its own so that a cancelled or timed-out
    run also removes its container (killing the client alone would leave it running).

    The job's ``env`` goes into the container (``-e K=V``); ``cwd`` is the client's directory.
    """

    _serial = itertools.count(1)

    def __init__(
        self,
        image: str,
        argv: Sequence[str] = (),
        *,
        docker: str = "docker",
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        kill_grace: float = 1.0,
        passthrough: bool = False,
    ) -> None:
        self.image = image
        self.container_argv = list(argv)
        self.docker = docker
        env_args = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        super().__init__(
            [docker, "run", "--rm", *env_args, image, *self.container_argv],
            description=f"docker:{image} {' '.join(self.container_argv)}".strip(),
            cwd=cwd,
            kill_grace=kill_grace,
            passthrough=passthrough,
        )

    def check_engine(self, timeout: float = 5.0) -> str | None:
        """Ask the engine for its version now; return why it is unreachable, or None when it answers."""
        try:
            r = subprocess.run(
                [self.docker, "version", "--format", "{{.Server.Version}}"],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        if r.returncode == 0:
            return None
        lines = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        return lines[0] if lines else f"docker version exited with {r.returncode}"

    def command(self, name: str) -> list[str]:
        """The client command line of one run (its container is called *name*)."""
        return [self.argv[0], "run", "--rm", "--name", name, *self.argv[3:]]

    async def acall(self, task: Task, io: RunIO) -> Completed:
        name = f"supertask-{os.getpid()}-{next(self._serial)}"
        rc, tail = await self.run_process(self.command(name), task, io)
        if rc == 125 and any(m in tail for m in _NO_ENGINE):
            last = tail.decode(errors="replace").strip().splitlines()
            detail = last[0] if last else "no answer"
            raise PayloadFailed(
                f"no docker engine reachable ({detail}): start the Docker daemon or set DOCKER_HOST",
                exit_code=rc,
                output=tail,
            )
        if rc != 0:
            raise self.failure(rc, tail)
        return Completed(exit_code=0, output=tail)

    async def on_cancelled(self, argv: Sequence[str]) -> None:
        name = argv[argv.index("--name") + 1]
        try:
            with anyio.move_on_after(10):
                await anyio.run_process(
                    [self.docker, "rm", "-f", name], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
        except OSError:
            log.debug("could not remove container %s", name, exc_info=True)


def script_runner(
    kind: str, interpreter: Sequence[str], path: str, args: Sequence[str], **kwargs: Any
) -> SubprocessRunner:
    """A runner for a script file run by an interpreter (``python``, ``uv run --script``, ``node``…)."""
    return SubprocessRunner([*interpreter, path, *args], description=" ".join([f"{kind}:{path}", *args]), **kwargs)
