"""Engine semantics on virtual time: grid, relaxed mode, overrun policies, bounds, failures, calendars."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from typing import Any

import pytest
import trio
import trio.testing

import supertask
from supertask.engine import Task
from supertask.engine.scheduler import auto_spin, parse_overrun
from supertask.errors import SchedulerError, SpecError
from supertask.model import Run
from supertask.sinks import Sink
from supertask.triggers import IntervalTrigger

from .conftest import UTC, virtual_scheduler


async def run_jobs(sched: supertask.Scheduler) -> None:
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        await sched.wait_idle()
        sched.stop()


async def test_precise_grid_has_no_drift(clock: trio.testing.MockClock) -> None:
    starts: list[float] = []

    def payload(task: Task) -> None:
        starts.append(trio.current_time())
        clock.jump(0.007)  # a sync payload that "takes" 7 ms

    sched = virtual_scheduler()
    sched.add("20ms", payload, count=50)
    t0 = trio.current_time()
    await run_jobs(sched)
    assert len(starts) == 50
    for k, s in enumerate(starts):
        assert s - t0 == pytest.approx(k * 0.02, abs=1e-9)


async def test_relaxed_counts_the_period_from_the_end(clock: trio.testing.MockClock) -> None:
    starts: list[float] = []

    async def payload(task: Task) -> None:
        starts.append(trio.current_time())
        await trio.sleep(0.01)

    sched = virtual_scheduler()
    sched.add("20ms", payload, count=5, mode="relaxed")
    await run_jobs(sched)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.03] * 4, abs=1e-6)


async def slow(task: Task) -> None:
    await trio.sleep(0.05)


async def test_overrun_skip_counts_every_skipped_tick(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler()
    job = sched.add("20ms", slow, duration=0.2)
    await run_jobs(sched)
    st = job.statistics()
    # ticks at 0..180 ms (10); runs at 0, 60, 120, 180; the 6 ticks in between are skipped
    assert (st.runs, st.skipped) == (4, 6)
    assert st.runs + st.skipped == 10


async def test_overrun_queue_keeps_one_waiting(clock: trio.testing.MockClock) -> None:
    running = 0
    peak = 0
    lateness: list[float] = []

    async def payload(task: Task) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        lateness.append(task.lateness.total_seconds)
        await trio.sleep(0.045)
        running -= 1

    sched = virtual_scheduler()
    job = sched.add("20ms", payload, duration=0.2, overrun="queue")
    await run_jobs(sched)
    st = job.statistics()
    assert peak == 1
    assert st.runs + st.skipped == 10
    assert st.runs > 4  # more than skip would give
    assert max(lateness) > 0.02  # queued runs start late, and say so


async def test_overrun_concurrent_caps_parallel_runs(clock: trio.testing.MockClock) -> None:
    running = 0
    peak = 0

    async def payload(task: Task) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(0.07)
        running -= 1

    sched = virtual_scheduler()
    job = sched.add("20ms", payload, duration=0.4, overrun="concurrent:2")
    await run_jobs(sched)
    st = job.statistics()
    assert peak == 2
    assert st.skipped > 0
    assert st.runs + st.skipped == 20


async def test_overrun_cancel_replaces_the_running_one(clock: trio.testing.MockClock) -> None:
    async def forever(task: Task) -> None:
        await trio.sleep(10)

    sched = virtual_scheduler()
    job = sched.add("20ms", forever, count=5, overrun="cancel")
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        await trio.sleep(0.1)
        st = job.statistics()
        assert st.cancelled == 4 and st.running == 1
        sched.stop(grace=0)
    assert job.statistics().cancelled == 5


async def test_failures_are_counted_and_the_scheduler_goes_on(clock: trio.testing.MockClock) -> None:
    ran: list[int] = []

    def bad(task: Task) -> None:
        raise ZeroDivisionError("nope")

    sched = virtual_scheduler()
    b = sched.add("1ms", bad, count=1000)
    sched.add("10ms", lambda task: ran.append(task.count), count=10)
    sched.add("10ms", "cmd:exit 3", count=2)
    await run_jobs(sched)
    assert b.statistics().failed == 1000
    assert ran == list(range(10))
    assert [s.failed for s in sched.statistics()] == [1000, 0, 2]


async def test_a_year_of_daily_runs_in_virtual_time(clock: trio.testing.MockClock) -> None:
    seen: list[dt.datetime] = []
    sched = virtual_scheduler(wall_start=dt.datetime(2026, 12, 31, 12, tzinfo=UTC))
    sched.add(supertask.cron("0 0 0 * * *", tz="UTC"), lambda task: seen.append(task.scheduled), duration=365 * 86400)
    await run_jobs(sched)
    assert len(seen) == 365
    assert seen[0].astimezone(UTC) == dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert seen[-1].astimezone(UTC) == dt.datetime(2027, 12, 31, tzinfo=UTC)
    assert all(s.astimezone(UTC).time() == dt.time(0) for s in seen)


async def test_a_year_of_a_cron_expression_in_virtual_time(clock: trio.testing.MockClock) -> None:
    seen: list[dt.datetime] = []
    sched = virtual_scheduler(wall_start=dt.datetime(2027, 1, 1, tzinfo=UTC))
    job = sched.add(
        supertask.cron("30 9 * * MON-FRI", tz="UTC"), lambda task: seen.append(task.scheduled), duration=365 * 86400
    )
    await run_jobs(sched)
    assert len(seen) == 261  # weekdays of 2027
    assert all(s.astimezone(UTC).weekday() < 5 for s in seen)
    assert job.statistics().lateness_max == 0.0


async def test_once_at_a_wall_clock_time(clock: trio.testing.MockClock) -> None:
    seen: list[float] = []
    sched = virtual_scheduler(wall_start=dt.datetime(2027, 1, 1, tzinfo=UTC))
    sched.add(supertask.at(dt.datetime(2027, 1, 1, 0, 5, tzinfo=UTC)), lambda t: seen.append(trio.current_time()))
    t0 = trio.current_time()
    await run_jobs(sched)
    assert seen == [pytest.approx(t0 + 300)]


async def test_adding_an_earlier_job_wakes_the_loop(clock: trio.testing.MockClock) -> None:
    seen: list[float] = []
    sched = virtual_scheduler()
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        t0 = trio.current_time()
        sched.add("1h", lambda t: None, count=2)  # runs at 0, next in an hour
        await trio.sleep(1)
        sched.add("once", lambda t: seen.append(trio.current_time() - t0))
        await trio.sleep(1)
        sched.stop(grace=0)
    assert seen == [pytest.approx(1.0)]


async def test_many_jobs_share_one_heap(clock: trio.testing.MockClock) -> None:
    counts = [0] * 2000

    def make(i: int) -> Any:
        def payload(task: Task) -> None:
            counts[i] += 1

        return payload

    sched = virtual_scheduler()
    for i in range(2000):
        sched.add(f"{1 + i % 7}s", make(i), count=3)
    await run_jobs(sched)
    assert counts == [3] * 2000


async def test_task_context(clock: trio.testing.MockClock) -> None:
    seen: list[tuple[int, float, float, dict[str, Any]]] = []

    def payload(task: Task) -> None:
        task.state["n"] = task.state.get("n", 0) + 1
        seen.append((task.count, task.elapsed.total_seconds, task.elapsed.total_seconds(), dict(task.state)))

    sched = virtual_scheduler()
    sched.add("250ms", payload, count=4, name="ctx")
    await run_jobs(sched)
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    assert [s[1] for s in seen] == pytest.approx([0, 0.25, 0.5, 0.75])
    assert [s[2] for s in seen] == [s[1] for s in seen]
    assert seen[-1][3] == {"n": 4}


async def test_python_code_payload_and_results(clock: trio.testing.MockClock) -> None:
    results: list[Any] = []

    class Collect(Sink):
        def result(self, task: Task, value: Any) -> None:
            results.append(value)

    sched = virtual_scheduler(sinks=[Collect()])
    sched.add("20ms", "python:round(math.sin(task.elapsed.total_seconds), 6)", count=3)
    sched.add("20ms", "python:x = task.count * 2; x + 1", count=2)
    sched.add("20ms", "python:statistics.mean([1, 2, task.count])", count=1)  # stdlib resolved on use
    sched.add("20ms", "python:None", count=1)
    assert "wsgiref.headers" not in sys.modules
    sched.add("20ms", "python:len(wsgiref.headers.Headers([('a', 'b')]))", count=1)  # a submodule, named
    await run_jobs(sched)
    assert sorted(results) == sorted(
        [0.0, round(__import__("math").sin(0.02), 6), round(__import__("math").sin(0.04), 6), 1, 3, 1, 1]
    )


async def test_stop_waits_for_running_payloads_within_grace(clock: trio.testing.MockClock) -> None:
    finished: list[str] = []

    async def short(task: Task) -> None:
        await trio.sleep(0.5)
        finished.append("short")

    async def long(task: Task) -> None:
        await trio.sleep(50)
        finished.append("long")

    sched = virtual_scheduler(shutdown_grace=2.0)
    s = sched.add("once", short)
    lj = sched.add("once", long)
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        await trio.sleep(0.1)
        sched.stop()
    assert finished == ["short"]
    assert s.statistics().ok == 1 and lj.statistics().cancelled == 1


async def test_misuse_is_reported(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler()
    with pytest.raises(SpecError, match="relaxed mode needs an interval"):
        sched.add("@daily", lambda t: None, mode="relaxed")
    with pytest.raises(SpecError, match="invalid count 0"):
        sched.add("1s", lambda t: None, count=0)
    await run_jobs(sched)
    with pytest.raises(SchedulerError, match="cannot add a job to a stopped scheduler"):
        sched.add("1s", lambda t: None)


def test_overrun_forms() -> None:
    assert parse_overrun("skip").kind == "skip"
    assert parse_overrun("concurrent").limit == 4
    assert parse_overrun("concurrent:3").limit == 3
    with pytest.raises(SpecError) as info:
        parse_overrun("concurrent:0")
    assert (
        str(info.value)
        == "invalid --overrun 'concurrent:0': expected skip, queue, cancel, catchup or concurrent[:N] with N >= 1"
    )


def test_auto_spin() -> None:
    assert auto_spin(IntervalTrigger(1e-4)) == 1e-4
    assert auto_spin(IntervalTrigger(1e-3)) == pytest.approx(150e-6)
    assert auto_spin(IntervalTrigger(0.02)) == pytest.approx(300e-6)
    assert auto_spin(IntervalTrigger(60)) == 0.0


class RunRecorder(Sink):
    """A sink that keeps every run record and notes whether it was closed."""

    wants_runs = True

    def __init__(self) -> None:
        self.started: list[Run] = []
        self.ended: list[Run] = []
        self.closed = False

    def result(self, task: Task, value: Any) -> None:
        pass

    def run_started(self, run: Run) -> None:
        self.started.append(run)

    def run_ended(self, run: Run) -> None:
        self.ended.append(run)

    async def aclose(self) -> None:
        self.closed = True


async def test_run_records_reach_sinks_that_ask(clock: trio.testing.MockClock) -> None:
    rec = RunRecorder()
    sched = virtual_scheduler(sinks=[rec])

    def flaky(task: Task) -> int:
        if task.count == 1:
            raise ValueError("bad luck")
        return task.count * 10

    sched.add("1s", flaky, name="flaky", count=3)
    await run_jobs(sched)
    assert [r.outcome for r in rec.started] == ["running"] * 3
    assert [(r.count, r.outcome, r.result, r.error) for r in rec.ended] == [
        (0, "ok", 0, None),
        (1, "failed", None, "ValueError: bad luck"),
        (2, "ok", 20, None),
    ]
    first, last = rec.ended[0], rec.ended[2]
    assert first.scheduled.tzinfo is not None
    assert (last.scheduled - first.scheduled).total_seconds() == pytest.approx(2.0, abs=1e-5)
    assert first.started is not None and first.ended is not None and first.duration == 0.0
    assert rec.closed


async def test_skipped_ticks_come_as_one_record(clock: trio.testing.MockClock) -> None:
    rec = RunRecorder()
    sched = virtual_scheduler(sinks=[rec])

    def stall(task: Task) -> None:
        if task.count == 0:
            clock.jump(0.155)  # blocks the loop past 15.5 ticks of 10 ms: too late to catch up

    sched.add("10ms", stall, name="stall", count=3)
    await run_jobs(sched)
    skipped = [r for r in rec.ended if r.outcome == "skipped"]
    assert [(r.tick, r.skipped) for r in skipped] == [(1, 14)]
    assert sched.jobs[0].statistics().skipped == 14
    assert [r.tick for r in rec.ended if r.outcome == "ok"] == [0, 15, 16]


async def test_a_job_due_now_is_anchored_when_the_loop_first_reaches_it(clock: trio.testing.MockClock) -> None:
    seen: list[tuple[float, float, float]] = []

    def payload(task: Task) -> None:
        seen.append((trio.current_time(), task.lateness.total_seconds, task.elapsed.total_seconds))

    sched = virtual_scheduler()
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        added = trio.current_time()
        job = sched.add("10ms", payload, count=3)
        clock.jump(0.004)  # the loop reaches the job 4 ms after it was added (a busy start-up)
        await job.wait()
        sched.stop()
    first = added + 0.004
    assert [s[0] for s in seen] == pytest.approx([first, first + 0.01, first + 0.02])  # the grid starts there
    assert [s[1] for s in seen] == [0.0, 0.0, 0.0]  # and the start-up is not lateness
    assert [s[2] for s in seen] == pytest.approx([0.0, 0.01, 0.02])


async def test_for_counts_from_the_first_run(clock: trio.testing.MockClock) -> None:
    ticks: list[int] = []
    sched = virtual_scheduler()
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        job = sched.add("10ms", lambda task: ticks.append(task.count), duration=0.1)
        clock.jump(0.012)  # reached 12 ms late: still ten runs in its 100 ms
        await job.wait()
        sched.stop()
    assert ticks == list(range(10))


async def test_a_job_waiting_for_its_start_keeps_its_due_time(clock: trio.testing.MockClock) -> None:
    lateness: list[float] = []
    sched = virtual_scheduler()
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        job = sched.add("10ms", lambda task: lateness.append(task.lateness.total_seconds), count=1, jitter=0.002)
        clock.jump(0.004)  # past the jittered due time: this run is late, not re-anchored
        await job.wait()
        sched.stop()
    assert lateness[0] > 0.001


async def test_jobs_due_together_are_dispatched_before_trio_runs_what_they_start(
    clock: trio.testing.MockClock,
) -> None:
    order: list[str] = []

    async def spawns(task: Task) -> None:  # e.g. starting a process: its own trio task
        order.append(f"{task.name} runs")

    sched = virtual_scheduler()
    sched.add("1s", spawns, count=1, name="first")
    for k in range(10):
        sched.add("1s", lambda task: order.append(f"{task.name} dispatched"), count=1, name=f"sync {k}")
    await run_jobs(sched)
    # with a trio pass between dispatches, "first runs" would come early (trio orders a batch at
    # random: all ten dispatches before it by chance is one in 1024)
    assert order[-1] == "first runs"


async def test_a_burst_never_starts_a_run_before_it_is_due(clock: trio.testing.MockClock) -> None:
    seen: list[float] = []
    sched = virtual_scheduler()
    sched.add("100ms", lambda task: seen.append(task.lateness.total_seconds), count=3, name="A")
    sched.add("100.01ms", lambda task: seen.append(task.lateness.total_seconds), count=3, name="B")  # 10 µs behind
    await run_jobs(sched)
    assert len(seen) == 6 and min(seen) >= 0.0


async def test_slow_payloads_due_together_still_let_trio_run(clock: trio.testing.MockClock) -> None:
    def slow(task: Task) -> None:
        clock.jump(0.010)  # an in-process payload that takes 10 ms

    sched = virtual_scheduler()
    for k in range(10):
        sched.add("1s", slow, name=f"slow {k}", count=2)
    gaps: list[float] = []

    async def ticker() -> None:
        last = trio.current_time()
        while True:
            await trio.sleep(0.001)
            gaps.append(trio.current_time() - last)
            last = trio.current_time()

    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        n.start_soon(ticker)
        await sched.wait_idle()
        sched.stop()
        n.cancel_scope.cancel()
    assert max(gaps) < 0.025  # a trio pass after each slow run or two, not after all ten (0.1 s)


async def test_async_jobs_catch_up_a_stall_without_overrun_skips(clock: trio.testing.MockClock) -> None:
    async def quick(task: Task) -> None:
        pass

    def stall(task: Task) -> None:
        clock.jump(0.05)  # the loop stalls for 50 ms

    sched = virtual_scheduler()
    a = sched.add("1ms", quick, name="A", duration=0.2)
    b = sched.add("1ms", quick, name="B", duration=0.2)
    sched.add("once", stall, name="stall", start=dt.datetime(2027, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=0.1005))
    await run_jobs(sched)
    for job in (a, b):
        st = job.statistics()
        assert st.runs + st.skipped == 200
        assert st.skipped <= 2, st  # the ticks that came due during the stall run late instead


async def test_a_short_stall_is_caught_up_not_skipped(clock: trio.testing.MockClock) -> None:
    rec = RunRecorder()
    sched = virtual_scheduler(sinks=[rec])

    def stall(task: Task) -> None:
        if task.count == 10:
            clock.jump(0.0035)  # a 3.5 ms stall of a 10 kHz job: ticks 11..45 come due at once

    job = sched.add("10kHz", stall, name="stall", count=100)
    await run_jobs(sched)
    st = job.statistics()
    assert (st.runs, st.skipped) == (100, 0)
    assert [r.tick for r in rec.ended if r.outcome == "ok"] == list(range(100))
    late = [r.lateness for r in rec.ended if r.lateness is not None and r.lateness > 1e-4]
    assert len(late) == 34 and max(late) == pytest.approx(0.0034, abs=1e-6)  # 11..44 late, 45 on time


async def test_subprocess_failure_record_has_exit_code(clock: trio.testing.MockClock) -> None:
    rec = RunRecorder()
    sched = virtual_scheduler(sinks=[rec])
    sched.add("once", "cmd:exit 3", name="three")
    await run_jobs(sched)
    (run,) = rec.ended
    assert (run.outcome, run.exit_code) == ("failed", 3)


async def test_ticks_skipped_near_the_end_are_only_those_before_it(clock: trio.testing.MockClock) -> None:
    def stall(task: Task) -> None:
        if task.count == 7:
            clock.jump(0.15)  # blocks the loop well past the job's end (100 ms), too long to catch up

    sched = virtual_scheduler()
    job = sched.add("10ms", stall, duration=0.1)
    await run_jobs(sched)
    st = job.statistics()
    assert (st.runs, st.skipped) == (8, 2)  # ticks 0..9 lie before the end: 8 ran, 8 and 9 were skipped
