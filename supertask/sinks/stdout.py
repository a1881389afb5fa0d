"""The default sink: print results and forward output to this process's stdout/stderr."""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from ._encode import encode_record, event_record
from .base import Sink

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..model import Run

__all__ = ["StdoutSink"]

log = logging.getLogger(__name__)

#: the same stderr output from a job's runs is shown this many times per window, then counted
REPEATS_SHOWN = 5
#: seconds of a window of repeated stderr output
REPEAT_WINDOW = 10.0


class _Repeats:
    """The last stderr chunk of one job's runs and how often later runs repeated it."""

    __slots__ = ("data", "hidden", "run", "shown", "since")

    def __init__(self, data: bytes, run: int, now: float) -> None:
        self.data = data
        self.run = run
        self.shown = 1
        self.hidden = 0
        self.since = now


class StdoutSink(Sink):
    """Prints each result on a line of its own (``print`` semantics) and passes output through.

    A closed stdout (``| head``) raises ``BrokenPipeError`` to the caller, which
    the scheduler treats as a request to stop. With ``events=True``, run events
    (started, finished, failed, skipped) are printed too, one JSON object a line.
    With ``results=False`` only the payloads' stderr is passed through.

    Stderr output that a job's runs repeat exactly (``sh: 1: x: not found`` from a
    failing command at 1 kHz) is shown :data:`REPEATS_SHOWN` times in
    :data:`REPEAT_WINDOW` seconds and then counted, like syslog's "last message
    repeated"; output within one run always passes.
    """

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, events: bool = False, results: bool = True
    ) -> None:
        self._out = out
        self._err = err
        self.wants_runs = events
        #: False: only the payloads' stderr passes (results and stdout go to other sinks)
        self.results = results
        self._repeats: dict[tuple[str | None, str], _Repeats] = {}

    def result(self, task: Task, value: Any) -> None:
        if not self.results:
            return
        out = self._out or sys.stdout
        out.write(f"{value}\n")

    def output(self, task: Task, data: bytes) -> None:
        if not self.results:
            return
        out = self._out or sys.stdout
        out.flush()
        out.buffer.write(data)
        out.buffer.flush()

    def error_output(self, task: Task, data: bytes) -> None:
        now = time.monotonic()
        key = (task.namespace, task.name)
        rep = self._repeats.get(key)
        if rep is not None and data == rep.data and task.count != rep.run:
            rep.run = task.count
            if now - rep.since >= REPEAT_WINDOW:
                self._say_hidden(key, rep)
                rep.since, rep.shown = now, 0
            if rep.shown >= REPEATS_SHOWN:
                rep.hidden += 1
                return
            rep.shown += 1
        else:
            if rep is not None:
                self._say_hidden(key, rep)
            self._repeats[key] = _Repeats(data, task.count, now)
        err = self._err or sys.stderr
        err.flush()
        err.buffer.write(data)
        err.buffer.flush()

    def _say_hidden(self, key: tuple[str | None, str], rep: _Repeats) -> None:
        if rep.hidden:
            (self._err or sys.stderr).flush()
            namespace, name = key
            where = f" in namespace {namespace}" if namespace else ""
            log.warning("job %r%s: the same error output came from %d more run(s)", name, where, rep.hidden)
            rep.hidden = 0

    def run_started(self, run: Run) -> None:
        self.run_ended(run)

    def run_ended(self, run: Run) -> None:
        out = self._out or sys.stdout
        out.write(encode_record(event_record(run), "json").decode() + "\n")

    def close(self) -> None:
        for key, rep in self._repeats.items():
            self._say_hidden(key, rep)
        (self._out or sys.stdout).flush()
