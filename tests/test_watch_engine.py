"""What watch needs from the engine and runners: the ``catchup`` overrun (procps -p before 4.0.5),
the queue overrun as start-to-start (procps -p since 4.0.5), and the subprocess capture mode."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from supertask.engine import Scheduler, Task
from supertask.model import Run
from supertask.runners import SubprocessRunner
from supertask.sinks import Sink

from .conftest import virtual_scheduler


async def run_jobs(sched: Scheduler) -> None:
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        await sched.wait_idle()
        sched.stop()


def slow_then_fast(starts: list[float]) -> Any:
    async def payload(task: Task) -> None:
        starts.append(trio.current_time())
        await trio.sleep(0.35 if task.count == 0 else 0.01)

    return payload


async def test_catchup_fires_the_missed_runs_back_to_back(clock: trio.testing.MockClock) -> None:
    starts: list[float] = []
    sched = virtual_scheduler()
    t0 = trio.current_time()
    job = sched.add("100ms", slow_then_fast(starts), count=6, overrun="catchup")
    await run_jobs(sched)
    rel = [round(s - t0, 3) for s in starts]
    # the first run covers the ticks at 0.1, 0.2, 0.3: they run one after another from 0.35 on
    assert rel == [0.0, 0.35, 0.36, 0.37, 0.4, 0.5]
    assert job.statistics().skipped == 0 and job.statistics().runs == 6


async def test_queue_is_start_to_start_without_a_burst(clock: trio.testing.MockClock) -> None:
    starts: list[float] = []
    sched = virtual_scheduler()
    t0 = trio.current_time()
    job = sched.add("100ms", slow_then_fast(starts), count=4, overrun="queue")
    await run_jobs(sched)
    rel = [round(s - t0, 3) for s in starts]
    # one run waits for the overrunning one and starts at its end; the other covered ticks are
    # skipped (counted); then the grid goes on where it was, without drift
    assert rel == [0.0, 0.35, 0.4, 0.5]
    assert job.statistics().skipped == 2


class Collect(Sink):
    wants_runs = True

    def __init__(self) -> None:
        self.outputs: list[tuple[int, bytes]] = []
        self.runs: list[Run] = []

    def result(self, task: Task, value: Any) -> None:
        pass

    def output(self, task: Task, data: bytes) -> None:
        self.outputs.append((task.count, data))

    def run_ended(self, run: Run) -> None:
        self.runs.append(run)


async def test_capture_mode_hands_over_the_merged_output_as_it_comes() -> None:
    sink = Collect()
    sched = Scheduler(sinks=[sink])
    script = "echo out1; echo err1 >&2; sleep 0.1; printf 'out2'; exit 3"
    runner = SubprocessRunner(["/bin/sh", "-c", script], capture=14)
    sched.add("once", runner)
    await run_jobs(sched)
    assert b"".join(data for _, data in sink.outputs) == b"out1\nerr1\nout2"[:14]  # merged in order, bounded
    assert len(sink.outputs) >= 2  # the part before the sleep came on its own
    assert [(r.outcome, r.exit_code) for r in sink.runs] == [("failed", 3)]


async def test_capture_mode_reports_a_missing_program_as_output() -> None:
    sink = Collect()
    sched = Scheduler(sinks=[sink])
    sched.add("once", SubprocessRunner(["/no/such/program"], capture=1000))
    await run_jobs(sched)
    assert sink.outputs == [(0, b"/no/such/program: No such file or directory\n")]
    assert sink.runs[0].exit_code == 127


async def test_without_capture_output_still_comes_line_by_line() -> None:
    sink = Collect()
    sched = Scheduler(sinks=[sink])
    sched.add("once", SubprocessRunner(["/bin/sh", "-c", "echo a; sleep 0.05; echo b"]))
    await run_jobs(sched)
    assert [data for _, data in sink.outputs] == [b"a\n", b"b\n"]


async def test_queue_never_exceeds_the_count(clock: trio.testing.MockClock) -> None:
    # the last run starts from the queue while the loop already waits for the next tick:
    # that tick must not run (it did, once, under load: watch -p --count 60 printed 61 runs)
    durations = [0.15, 0.14, 0.15, 0.15]
    counts: list[int] = []

    async def payload(task: Task) -> None:
        counts.append(task.count)
        await trio.sleep(durations[task.count])

    sched = virtual_scheduler()
    job = sched.add("100ms", payload, count=3, overrun="queue")
    await run_jobs(sched)
    assert counts == [0, 1, 2] and job.statistics().runs == 3
