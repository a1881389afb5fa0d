"""``--in actor``: Python payloads in warm tractor actors, reused across runs.

One tractor root actor per scheduler (:class:`ActorHost`), listening for its
registry on a free local port (tractor's default 1616 is shared by every
tractor program on a host). Each job has its own :class:`ActorPool` of warm
actors (default one), started on first use, reused across runs:

- an actor that dies (crash, ``os._exit``, OOM kill) fails the run it was
  serving and is restarted on next use, after a backoff that doubles with each
  consecutive crash (0.1 s … 10 s);
- a run that is cancelled or times out kills its actor (code stuck in a loop
  cannot be interrupted otherwise); the next run starts a fresh one;
- on scheduler stop the actors are cancelled through tractor, then killed if
  still alive; every actor also runs a watchdog thread from its first line
  that kills it when its parent is gone, so even a ``SIGKILL`` of the
  scheduler leaves no orphan (within 0.2 s).

Actors run with the job's ``env`` and ``cwd`` (an actor serves one job only),
get a copy of the ``task`` per run (``task.state`` is copied in and back out),
and their output is captured per run and forwarded after it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import trio
from trio import TrioDeprecationWarning  # type: ignore[attr-defined]

from . import _pyworker
from ._actor_worker import CHILD_WARNINGS
from .base import Completed, PayloadFailed, RunIO, Runner, killed_returncode, untimed
from .isolated import finish_python_response
from .subprocess import TAIL_BYTES

if TYPE_CHECKING:
    from ..engine.task import Task

__all__ = ["ActorHost", "ActorPool", "ActorPythonRunner", "free_port"]

log = logging.getLogger(__name__)

WORKER_MODULE = "supertask.runners._actor_worker"
#: first restart delay after a crash; doubles per consecutive crash
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on *host* right now (for a registry of our own)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def quiet_tractor_warnings() -> None:
    """tractor 0.1.0a5 uses ``trio.MultiError``, deprecated since trio 0.22: silence those warnings only."""
    warnings.filterwarnings("ignore", category=TrioDeprecationWarning, module=r"tractor(\..*)?$")
    # tractor's reaper closes processes with trio.Process.aclose (deprecated since trio 0.20)
    warnings.filterwarnings("ignore", message=r"trio\.Process\.aclose is deprecated", category=TrioDeprecationWarning)


def _import_tractor() -> Any:
    quiet_tractor_warnings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrioDeprecationWarning)
        import tractor
    _patch_spawn()
    return tractor


class _SpawnTrio:
    """Stands in for ``trio`` inside ``tractor._spawn`` so that child actors start with
    ``PYTHONWARNINGS`` set in *their* environment only (the worker removes it again)."""

    def __init__(self) -> None:
        self.lowlevel = self._Lowlevel()

    def __getattr__(self, name: str) -> Any:
        return getattr(trio, name)

    class _Lowlevel:
        def __getattr__(self, name: str) -> Any:
            return getattr(trio.lowlevel, name)

        async def open_process(self, command: Any, **kwargs: Any) -> Any:
            env = dict(kwargs.pop("env", None) or os.environ)
            env["PYTHONWARNINGS"] = CHILD_WARNINGS
            command = list(command)
            if command[1:3] == ["-m", "tractor._child"]:
                command[1:3] = ["-c", _BOOT, str(os.getpid())]
                # a process group of its own: killing the group also ends what the payload started,
                # and a Ctrl-C in the terminal reaches the scheduler only
                kwargs["start_new_session"] = True
            return await trio.lowlevel.open_process(command, env=env, **kwargs)


#: how a child actor starts: a watchdog thread first (it kills the actor's process group as soon as
#: its parent, the scheduler, is gone, even after SIGKILL), then tractor's own child entry point. PR_SET_PDEATHSIG
#: would not do: trio spawns from a worker thread, and the signal follows that thread's exit.
_BOOT = """\
import os, runpy, signal, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while os.getppid() == parent:
        time.sleep(0.2)
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=watch, name="supertask-parent-watch", daemon=True).start()
runpy.run_module("tractor._child", run_name="__main__", alter_sys=True)
"""


def _patch_spawn() -> None:
    from tractor import _spawn

    if not isinstance(_spawn.trio, _SpawnTrio):
        _spawn.trio = _SpawnTrio()  # type: ignore[assignment]


@contextlib.contextmanager
def _no_main_fixup() -> Iterator[None]:
    """Child actors would re-import this process's ``__main__`` (tractor copies multiprocessing's
    behaviour); our worker needs nothing from it, and a script without a main guard would
    start a second scheduler in every actor."""
    from tractor import _mp_fixup_main

    original = _mp_fixup_main._mp_figure_out_main
    _mp_fixup_main._mp_figure_out_main = lambda: {}
    try:
        yield
    finally:
        _mp_fixup_main._mp_figure_out_main = original


class ActorHost:
    """The tractor root actor of one scheduler, with its own registry port.

    Run :meth:`serve` as a service task; cancelling it tears every actor down.
    Only one can be open per process at a time (tractor keeps the current actor in a global).
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port
        self.nursery: trio.Nursery | None = None
        self._pids: set[int] = set()
        self._slots: set[_Slot] = set()
        self._slots_done = trio.Event()
        self._slots_done.set()

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop every actor gracefully (their request streams close, then tractor cancels them);
        what is still alive after *timeout* seconds is killed."""
        for slot in list(self._slots):
            slot.stop.set()
        with trio.move_on_after(timeout):
            await self._slots_done.wait()
        self.kill_all()

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        tractor = _import_tractor()
        from tractor import _state

        if _state._current_actor is not None:
            raise PayloadFailed("another tractor actor runtime is already open in this process")
        port = self.port or free_port(self.host)
        self.port = port
        try:
            async with (
                tractor.open_root_actor(
                    arbiter_addr=(self.host, port), name=f"supertask-{os.getpid()}", loglevel="critical"
                ),
                trio.open_nursery() as nursery,
            ):
                self.nursery = nursery
                task_status.started(self)
                await trio.sleep_forever()
        finally:
            self.nursery = None
            _state._current_actor = None
            self.kill_all()

    def kill_all(self) -> None:
        """SIGKILL every actor still alive, with its process group (last resort at teardown)."""
        for pid in list(self._pids):
            _kill_group(pid)
            self._pids.discard(pid)


class _Slot:
    __slots__ = ("busy", "dead", "killed", "pid", "proc", "returncode", "stop", "stream")

    def __init__(self) -> None:
        self.stream: Any = None
        self.proc: Any = None
        self.pid = 0
        self.dead = False
        self.killed = False
        self.returncode: int | None = None
        self.busy: trio.CancelScope | None = None
        self.stop = trio.Event()


class ActorPool:
    """Warm actors of one job: at most *size* runs at once, each in an actor of its own.

    Args:
        name: the job's name (actor names derive from it).
        size: number of actors.
        env: environment variables set in the actors.
        cwd: working directory of the actors.
    """

    def __init__(self, name: str, size: int = 1, env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        if size < 1:
            raise ValueError(f"actor pool size must be >= 1, not {size}")
        self.name = name
        self.size = size
        self.env = dict(env or {})
        self.cwd = cwd
        self._idle: list[_Slot] = []
        self._limit = trio.Semaphore(size)
        self._crashes = 0
        self._serial = 0
        #: actors started so far (restarts included)
        self.started = 0

    async def call(self, host: ActorHost, request: bytes) -> bytes:
        """Run one request in a warm actor; start or restart one when needed."""
        async with self._limit:
            slot = self._idle.pop() if self._idle else None
            if slot is None or slot.dead:
                with untimed():  # starting an actor is not part of the run: --timeout counts from its answer
                    slot = await self._start(host)
            ok = False
            try:
                with trio.CancelScope() as scope:
                    slot.busy = scope
                    await slot.stream.send(request)
                    response: bytes = await slot.stream.receive()
                    ok = True
                slot.busy = None
                if not ok:  # the actor died under the run
                    self._crashes += 1
                    rc = slot.returncode
                    raise PayloadFailed(
                        f"actor died during the run ({_describe(rc)}); it is restarted on next use",
                        signal=-rc if rc is not None and rc < 0 else None,
                        exit_code=rc if rc is not None and rc > 0 else None,
                    )
                self._crashes = 0
                return response
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.EndOfChannel) as exc:
                self._crashes += 1
                raise PayloadFailed(f"lost the actor during the run ({type(exc).__name__}); it is restarted") from None
            finally:
                if ok and not slot.dead:
                    self._idle.append(slot)
                elif not slot.dead:
                    # cancelled (timeout, shutdown) or broken: the code may still run; end this actor
                    self._kill(slot)
                    killed_returncode.set(-signal.SIGKILL)

    def _kill(self, slot: _Slot) -> None:
        slot.killed = True
        slot.dead = True
        if slot.pid:
            _kill_group(slot.pid)
        slot.stop.set()

    async def _start(self, host: ActorHost) -> _Slot:
        if self._crashes:
            delay = min(BACKOFF_FIRST * 2 ** (self._crashes - 1), BACKOFF_MAX)
            log.info("job %r: restarting its actor in %.1fs (crash %d in a row)", self.name, delay, self._crashes)
            await trio.sleep(delay)
        if host.nursery is None:
            raise PayloadFailed("the actor runtime is shut down")
        slot = _Slot()
        try:
            await host.nursery.start(self._serve_slot, host, slot)
        except PayloadFailed:
            self._crashes += 1
            raise
        self.started += 1
        return slot

    async def _serve_slot(self, host: ActorHost, slot: _Slot, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Hold one actor and its request stream open until the actor dies or is stopped.

        Runs in the host's nursery and never raises once the actor is up."""
        tractor = _import_tractor()
        from . import _actor_worker

        self._serial += 1
        actor_name = f"st-{_safe(self.name)}-{self._serial}"
        started = False
        host._slots.add(slot)
        if host._slots_done.is_set():
            host._slots_done = trio.Event()
        try:
            async with tractor.open_nursery() as an:
                with _no_main_fixup():
                    portal = await an.start_actor(actor_name, enable_modules=[WORKER_MODULE])
                slot.proc = an._children[portal.channel.uid][1]
                slot.pid = slot.proc.pid
                host._pids.add(slot.pid)
                # the actor must answer within 30 s; after that, the scope ends only on death or stop
                with trio.CancelScope(deadline=trio.current_time() + 30) as life:
                    async with trio.open_nursery() as watch:

                        async def watch_proc() -> None:
                            await slot.proc.wait()
                            slot.returncode = rc = slot.proc.returncode
                            slot.dead = True
                            if slot.busy is not None:  # the run reports it
                                slot.busy.cancel()
                            elif not slot.killed:
                                log.warning("job %r: idle actor %s died (%s)", self.name, actor_name, _describe(rc))
                            life.cancel()

                        watch.start_soon(watch_proc)
                        async with (
                            portal.open_context(
                                _actor_worker.serve, env=self.env, cwd=self.cwd, parent=os.getpid()
                            ) as (ctx, _pid),
                            ctx.open_stream() as stream,
                        ):
                            life.deadline = math.inf
                            slot.stream = stream
                            started = True
                            task_status.started()
                            await slot.stop.wait()
                        watch.cancel_scope.cancel()
                if not started:
                    raise PayloadFailed(f"actor {actor_name} did not answer within 30s")
                await an.cancel()
        except Exception as exc:
            slot.dead = True
            log.debug("job %r: actor %s failed", self.name, actor_name, exc_info=True)
            if not started:
                raise PayloadFailed(f"actor {actor_name} did not start: {type(exc).__name__}: {exc}") from None
            log.debug("job %r: actor %s ended with %r", self.name, actor_name, exc)
        finally:
            slot.dead = True
            if slot.pid:
                _kill_group(slot.pid)  # the actor if still alive, and whatever its payloads left running
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    if slot.proc is not None:
                        await slot.proc.wait()
                host._pids.discard(slot.pid)
            host._slots.discard(slot)
            if not host._slots:
                host._slots_done.set()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _describe(rc: int | None) -> str:
    if rc is None:
        return "lost"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]


class ActorPythonRunner(Runner):
    """Runs ``python:`` code in this job's pool of warm tractor actors.

    Args:
        code: the Python code (checked for syntax errors now).
        pool_size: actors kept warm for this job (= runs at once).
        env: environment variables of the actors.
        cwd: working directory of the actors.
    """

    is_async = True

    def __init__(
        self, code: str, *, pool_size: int = 1, env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> None:
        from .inprocess import PythonCodeRunner

        PythonCodeRunner(code)  # syntax errors before anything runs
        self.code = code
        self.description = f"python:{code}"
        self.pool = ActorPool(self.description, pool_size, env, cwd)

    async def acall(self, task: Task, io: RunIO) -> Completed:
        with untimed():
            host: ActorHost = await io.start_service("tractor", _start_host)  # type: ignore[attr-defined]
        self.pool.name = task.name
        try:
            request = _pyworker.encode_request(self.code, task)
        except Exception as exc:
            raise PayloadFailed(f"task.state cannot be sent to the actor (it must pickle): {exc}") from None
        response = _pyworker.decode(await self.pool.call(host, request))
        out = response.get("stdout", "").encode()
        err = response.get("stderr", "").encode()
        if out:
            io.output(task, out)
        if err:
            io.error_output(task, err)
        tail = (out + err)[-TAIL_BYTES:] or None
        return finish_python_response(response, task, tail)


async def _start_host(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    await ActorHost().serve(task_status=task_status)
