"""The store sink: run history written to a store by a thread of its own, never on the timing path.

The scheduler thread only appends to a queue (or, for fast jobs, folds the run into
an in-memory aggregate); a writer thread drains the queue in batches, one
transaction per batch. A run is committed within milliseconds of its end when
the store is idle, so a crash loses at most the batch being written. Fast jobs
(``history: auto`` below 1 s periods, or ``aggregate``) record one summary row per
interval instead of a row per run; their failures are still recorded one by one,
up to a few per interval.
"""

from __future__ import annotations

import datetime as _dt
import logging
import queue
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..model import Every, JobSpec, Run, RunAggregate
from .base import Sink

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..store import Store

__all__ = ["StoreSink"]

log = logging.getLogger(__name__)

#: jobs with a shorter period record aggregates under ``history: auto``
AGGREGATE_BELOW = 1.0
#: seconds per aggregate row
AGGREGATE_EVERY = 10.0
#: failed runs of an aggregated job still recorded one by one, per interval
FAILURES_PER_INTERVAL = 5
#: most rows written in one transaction
BATCH = 5000
#: bytes of output kept per run
OUTPUT_TAIL = 2048
#: samples kept per interval for the quantiles of an aggregate
SAMPLES = 4096

_STOP = object()


class _JobInfo:
    __slots__ = ("aggregate", "record", "source", "version")

    def __init__(self, record: bool, aggregate: bool, version: str | None, source: str | None) -> None:
        self.record = record
        self.aggregate = aggregate
        self.version = version
        self.source = source


class _Window:
    """Aggregates of one job's runs during one interval (cheap to update on the scheduler thread)."""

    __slots__ = (
        "cancelled",
        "durations",
        "failed",
        "failures_recorded",
        "last_error",
        "lateness",
        "ok",
        "runs",
        "skipped",
        "start",
    )

    def __init__(self, start: _dt.datetime) -> None:
        self.start = start
        self.runs = self.ok = self.failed = self.skipped = self.cancelled = 0
        self.failures_recorded = 0
        self.lateness: list[float] = []
        self.durations: list[float] = []
        self.last_error: str | None = None


class StoreSink(Sink):
    """Records runs in a :class:`~supertask.store.Store` from a writer thread.

    Args:
        store: an opened store; the sink closes it when it closes.
        jobs: job records whose history settings and versions apply (more via :meth:`register`).
        history: the default for jobs not registered ("auto", "all", "aggregate" or "none").
        aggregate_every: seconds per aggregate row.
    """

    wants_runs = True

    def __init__(
        self,
        store: Store,
        jobs: Iterable[JobSpec] = (),
        *,
        history: str = "auto",
        aggregate_every: float = AGGREGATE_EVERY,
    ) -> None:
        self.store = store
        self.default_history = history
        self.aggregate_every = aggregate_every
        self._jobs: dict[tuple[str | None, str], _JobInfo] = {}
        self._windows: dict[tuple[str | None, str], _Window] = {}
        self._tails: dict[tuple[str | None, str, int], bytearray] = {}
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: rows written so far, and write errors (for tests and statistics)
        self.written = 0
        self.errors = 0
        for spec in jobs:
            self.register(spec)

    # ------------------------------------------------------------ configuration

    def register(self, spec: JobSpec) -> None:
        """Apply a job record's history setting and version to the runs of that job."""
        from ..timetable import job_version

        self._jobs[(spec.namespace, spec.meta.name)] = self._info(
            spec.history, spec, job_version(spec), spec.meta.origin.source if spec.meta.origin else None
        )

    def unregister(self, namespace: str | None, name: str) -> None:
        """Forget a job (after it was removed); its open aggregate is written first."""
        key = (namespace, name)
        window = self._windows.pop(key, None)
        info = self._jobs.pop(key, None)
        if window is not None and window.runs + window.skipped:
            self._put(("agg", self._aggregate(key, window, _now(), info)))

    def _info(self, history: str, spec: JobSpec | None, version: str | None, source: str | None) -> _JobInfo:
        if history == "none":
            return _JobInfo(False, False, version, source)
        if history == "aggregate":
            return _JobInfo(True, True, version, source)
        if history == "all":
            return _JobInfo(True, False, version, source)
        fast = spec is not None and isinstance(spec.trigger, Every) and spec.trigger.period < AGGREGATE_BELOW
        return _JobInfo(True, fast, version, source)

    def _job(self, namespace: str | None, name: str) -> _JobInfo:
        info = self._jobs.get((namespace, name))
        if info is None:
            # a job added without a record (library use): every run unless told otherwise
            history = "all" if self.default_history == "auto" else self.default_history
            info = self._jobs[(namespace, name)] = self._info(history, None, None, None)
        return info

    # ------------------------------------------------------------ the scheduler thread: cheap

    def result(self, task: Task, value: Any) -> None:
        pass

    def output(self, task: Task, data: bytes) -> None:
        self._keep_tail(task, data)

    def error_output(self, task: Task, data: bytes) -> None:
        self._keep_tail(task, data)

    def _keep_tail(self, task: Task, data: bytes) -> None:
        info = self._jobs.get((task.namespace, task.name))
        if info is not None and (not info.record or info.aggregate):
            return
        key = (task.namespace, task.name, task.count)
        tail = self._tails.get(key)
        if tail is None:
            tail = self._tails[key] = bytearray()
        tail += data
        if len(tail) > OUTPUT_TAIL:
            del tail[: len(tail) - OUTPUT_TAIL]

    def run_started(self, run: Run) -> None:
        pass

    def run_ended(self, run: Run) -> None:
        info = self._job(run.namespace, run.job)
        tail = self._tails.pop((run.namespace, run.job, run.count), None) if run.count is not None else None
        if not info.record:
            return
        if info.aggregate:
            self._fold(run, info)
            return
        self._put(("run", self._complete(run, info, tail)))

    def _complete(self, run: Run, info: _JobInfo, tail: bytearray | None) -> Run:
        import msgspec

        changes: dict[str, Any] = {}
        if info.version is not None:
            changes["version"] = info.version
        if info.source is not None:
            changes["source"] = info.source
        if tail and run.output is None:
            changes["output"] = bytes(tail).decode(errors="replace")
        return msgspec.structs.replace(run, **changes) if changes else run

    def _fold(self, run: Run, info: _JobInfo) -> None:
        key = (run.namespace, run.job)
        window = self._windows.get(key)
        now = run.ended or run.scheduled
        if window is None:
            window = self._windows[key] = _Window(run.started or run.scheduled)
        elif (now - window.start).total_seconds() >= self.aggregate_every:
            self._put(("agg", self._aggregate(key, window, now, info)))
            window = self._windows[key] = _Window(now)
        if run.outcome == "skipped":
            window.skipped += run.skipped
            return
        window.runs += 1
        if run.outcome == "ok":
            window.ok += 1
        elif run.outcome == "cancelled":
            window.cancelled += 1
        else:
            window.failed += 1
            window.last_error = run.error
            if window.failures_recorded < FAILURES_PER_INTERVAL:
                window.failures_recorded += 1
                self._put(("run", self._complete(run, info, None)))
        if len(window.lateness) < SAMPLES:
            window.lateness.append(run.lateness or 0.0)
            window.durations.append(run.duration or 0.0)
        else:  # keep a systematic sample: replace in rotation
            i = window.runs % SAMPLES
            window.lateness[i] = run.lateness or 0.0
            window.durations[i] = run.duration or 0.0

    def _aggregate(
        self, key: tuple[str | None, str], w: _Window, end: _dt.datetime, info: _JobInfo | None
    ) -> RunAggregate:
        lat = sorted(w.lateness)
        dur = sorted(w.durations)

        def q(values: list[float], p: float) -> float | None:
            return values[min(len(values) - 1, int(p * len(values)))] if values else None

        return RunAggregate(
            namespace=key[0],
            job=key[1],
            start=w.start,
            end=end,
            runs=w.runs,
            ok=w.ok,
            failed=w.failed,
            skipped=w.skipped,
            cancelled=w.cancelled,
            lateness_p50=q(lat, 0.5),
            lateness_p99=q(lat, 0.99),
            lateness_max=lat[-1] if lat else None,
            duration_p50=q(dur, 0.5),
            duration_max=dur[-1] if dur else None,
            last_error=w.last_error,
            version=info.version if info else None,
        )

    def _put(self, item: Any) -> None:
        if self._closed:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._writer, name="supertask-store", daemon=True)
            self._thread.start()
        self._queue.put(item)

    # ------------------------------------------------------------ the writer thread

    def _writer(self) -> None:
        q = self._queue
        stop = False
        while not stop:
            item = q.get()
            batch = [item]
            while len(batch) < BATCH:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            runs: list[Run] = []
            aggs: list[RunAggregate] = []
            for kind in batch:
                if kind is _STOP:
                    stop = True
                elif kind[0] == "run":
                    runs.append(kind[1])
                elif kind[0] == "agg":
                    aggs.append(kind[1])
                elif kind[0] == "call":
                    self._safely(kind[1])
            if runs or aggs:
                self._safely(lambda runs=runs, aggs=aggs: self.store.add_runs(runs, aggs))  # type: ignore[misc]
                self.written += len(runs) + len(aggs)

    def _safely(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:
            self.errors += 1
            if self.errors <= 5:
                log.error("store %s: %s", self.store.url, exc)

    def call_in_writer(self, fn: Any) -> None:
        """Run *fn* (blocking store work, e.g. saving a reloaded namespace) on the writer thread, in order."""
        self._put(("call", fn))

    def flush_aggregates(self) -> None:
        """Write the open aggregate windows now (e.g. at shutdown)."""
        now = _now()
        for key, window in list(self._windows.items()):
            if window.runs or window.skipped:
                self._put(("agg", self._aggregate(key, window, now, self._jobs.get(key))))
        self._windows.clear()

    def _stop_writer(self) -> threading.Thread | None:
        """Flush the open windows and tell the writer thread to stop; return it to join (None: no thread)."""
        self.flush_aggregates()
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
        return self._thread

    def close(self) -> None:
        if self._closed:
            return
        thread = self._stop_writer()
        if thread is not None:
            thread.join()
        self.store.close()

    async def aclose(self) -> None:
        if self._closed:
            return
        import trio

        thread = self._stop_writer()
        if thread is not None:
            await trio.to_thread.run_sync(thread.join)
        self.store.close()


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)
