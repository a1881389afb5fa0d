"""A JSON Lines file sink (``jsonl:PATH``): one object per result, and per run event when asked."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import trio

from ..errors import SinkError
from ._encode import encode_record, event_record, result_record
from .base import Sink

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..model import Run

__all__ = ["JsonlSink"]

log = logging.getLogger(__name__)

#: seconds between flushes of the file buffer to the kernel
FLUSH_EVERY = 0.25


class JsonlSink(Sink):
    """Appends one JSON object a line to *path*.

    A result line is ``{"job", "count", "tick", "scheduled", "lateness", "value"}``, a line a
    command payload printed ``{"job", "count", "tick", "output"}``; with
    ``events=True`` run events are written too, as ``{"event": "started"|"finished"|
    "failed"|"cancelled"|"skipped", "job", "tick", "scheduled", "lateness", "duration", …}``.
    Writes go to a memory buffer (never a blocking disk write on the timing path) that
    :meth:`serve` hands to the kernel every 0.25 s; :meth:`aclose` flushes the rest.

    Raises:
        SinkError: the file cannot be opened for appending.
    """

    def __init__(self, path: str | os.PathLike[str], *, events: bool = False) -> None:
        self.path = os.fspath(path)
        self.wants_runs = events
        try:
            self._file = open(self.path, "ab", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise SinkError(f"cannot open jsonl:{self.path} for appending: {exc.strerror or exc}") from None
        self._dirty = False
        self.lines = 0
        self._failures = 0

    def __repr__(self) -> str:
        return f"<JsonlSink {self.path!r}>"

    def _write(self, record: dict[str, Any]) -> None:
        try:
            data = encode_record(record, "json")
        except Exception as exc:
            self._failures += 1
            if self._failures <= 3:
                log.warning("jsonl:%s: cannot encode a record of job %r: %s", self.path, record.get("job"), exc)
            return
        self._file.write(data + b"\n")
        self.lines += 1
        self._dirty = True

    def result(self, task: Task, value: Any) -> None:
        self._write(result_record(task, value))

    def output(self, task: Task, data: bytes) -> None:
        for line in data.decode(errors="replace").splitlines():
            self._write({"job": task.name, "count": task.count, "tick": task.tick, "output": line})

    def run_started(self, run: Run) -> None:
        self._write(event_record(run))

    def run_ended(self, run: Run) -> None:
        self._write(event_record(run))

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(FLUSH_EVERY)
            if self._dirty and not self._file.closed:
                self._dirty = False
                self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
