"""The default sink: print results and forward output to this process's stdout/stderr."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from ._encode import encode_record, event_record
from .base import Sink

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..model import Run

__all__ = ["StdoutSink"]


class StdoutSink(Sink):
    """Prints each result on a line of its own (``print`` semantics) and passes output through.

    A closed stdout (``| head``) raises ``BrokenPipeError`` to the caller, which
    the scheduler treats as a request to stop. With ``events=True``, run events
    (started, finished, failed, skipped) are printed too, one JSON object a line.
    With ``results=False`` only the payloads' stderr is passed through.
    """

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, events: bool = False, results: bool = True
    ) -> None:
        self._out = out
        self._err = err
        self.wants_runs = events
        #: False: only the payloads' stderr passes (results and stdout go to other sinks)
        self.results = results

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
        err = self._err or sys.stderr
        err.flush()
        err.buffer.write(data)
        err.buffer.flush()

    def run_started(self, run: Run) -> None:
        self.run_ended(run)

    def run_ended(self, run: Run) -> None:
        out = self._out or sys.stdout
        out.write(encode_record(event_record(run), "json").decode() + "\n")

    def close(self) -> None:
        (self._out or sys.stdout).flush()
