"""The real-time engine clock: timerfd waits, the idle-loop shortcut, and that other trio work keeps flowing."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import trio

from supertask.engine import Scheduler
from supertask.engine.clock import PreciseClock, timerfd_available
from supertask.engine.spin import SpinTuner

pytestmark = pytest.mark.skipif(not timerfd_available(), reason="timerfd is Linux-only")


async def test_wait_until_reaches_the_target() -> None:
    clock = PreciseClock()
    try:
        for delay in (0.0005, 0.003, 0.06):  # a short sleep, a timerfd block, a wait longer than one block
            target = clock.now() + delay
            assert await clock.wait_until(target)
            assert clock.now() >= target
    finally:
        clock.close()


async def test_interrupt_cuts_a_wait_short() -> None:
    clock = PreciseClock()
    try:
        async with trio.open_nursery() as n:
            n.start_soon(_interrupt_soon, clock)
            t0 = clock.now()
            reached = await clock.wait_until(t0 + 5.0)
        assert not reached
        assert clock.now() - t0 < 2.0
    finally:
        clock.close()


async def _interrupt_soon(clock: PreciseClock) -> None:
    await trio.sleep(0.05)
    clock.interrupt()


@pytest.mark.parametrize("when", ["2kHz", "15Hz"])
async def test_other_tasks_timers_and_io_keep_running_beside_a_job(when: str) -> None:
    """While a job keeps the engine waiting on its own (short sleeps at 2 kHz, timerfd blocks at
    15 Hz), trio timers fire on time and socket data from another thread reaches its reader promptly."""
    sched = Scheduler(sinks=[])
    sleep_overshoot: list[float] = []
    io_delay: list[float] = []
    a, b = socket.socketpair()
    a.setblocking(False)

    def writer() -> None:
        for _ in range(40):
            time.sleep(0.01)
            b.send(repr(time.monotonic()).encode().ljust(32))

    async def sleeper() -> None:
        for _ in range(30):
            t0 = trio.current_time()
            await trio.sleep(0.01)
            sleep_overshoot.append(trio.current_time() - t0 - 0.01)

    async def reader() -> None:
        sock = trio.socket.from_stdlib_socket(a)
        while len(io_delay) < 40:
            data = await sock.recv(32)
            if data:
                io_delay.append(time.monotonic() - float(data.strip()))

    thread = threading.Thread(target=writer)
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        job = sched.add(when, lambda task: None, duration=0.6)
        n.start_soon(sleeper)
        thread.start()
        with trio.fail_after(10):
            await reader()
        await job.wait()
        sched.stop()
    thread.join()
    a.close()
    b.close()
    st = job.statistics()
    ticks = 1200 if when == "2kHz" else 9
    assert st.runs + st.skipped == ticks
    assert st.runs >= ticks // 10  # the job ran too (a loaded machine skips ticks at 2 kHz)
    # generous bounds (a shared machine): the point is "milliseconds", not "one job period after another"
    assert sorted(sleep_overshoot)[len(sleep_overshoot) // 2] < 0.005
    assert max(sleep_overshoot) < 0.06
    assert sorted(io_delay)[len(io_delay) // 2] < 0.005
    assert max(io_delay) < 0.06


def test_spin_tuner_follows_the_observed_delays() -> None:
    tuner = SpinTuner(cap=150e-6)
    assert tuner.spin == 150e-6  # nothing known yet: the cap
    for _ in range(SpinTuner.SAMPLES):
        tuner.observe(30e-6)
    assert tuner.spin == pytest.approx(30e-6 + SpinTuner.MARGIN)
    for _ in range(SpinTuner.SAMPLES):
        tuner.observe(1e-3)  # a slow machine: never more than the cap
    assert tuner.spin == 150e-6
    for _ in range(SpinTuner.SAMPLES):
        tuner.observe(0.0)
    assert tuner.spin == SpinTuner.FLOOR


def test_spin_tuner_covers_a_burst_at_once_and_sizes_down_later() -> None:
    tuner = SpinTuner(cap=150e-6)
    for _ in range(SpinTuner.SAMPLES):
        tuner.observe(30e-6)
    tuned = tuner.spin
    assert tuned == pytest.approx(45e-6)
    tuner.observe(2e-3)  # a stall no spin can cover: no change
    assert tuner.spin == tuned
    tuner.observe(90e-6)  # later than the spin, within the cap: the cap at once
    assert tuner.spin == 150e-6
    for _ in range(SpinTuner.EVERY - 1):
        tuner.observe(30e-6)
    assert tuner.spin == 150e-6  # held
    for _ in range(SpinTuner.EVERY):
        tuner.observe(30e-6)
    assert tuner.spin == pytest.approx(45e-6)  # the quiet window sizes it down again


def test_spin_tuner_sizes_early() -> None:
    tuner = SpinTuner(cap=300e-6)
    for _ in range(SpinTuner.FIRST - 1):
        tuner.observe(100e-6)
    assert tuner.spin == 300e-6
    tuner.observe(100e-6)
    assert tuner.spin == pytest.approx(100e-6 + SpinTuner.MARGIN)


def test_histogram_counts_values_at_least_a_bound() -> None:
    from supertask.engine.stats import Histogram

    h = Histogram()
    values = [0.0, 5e-7, 1e-6, 2e-4, 9.9e-4, 1e-3, 1.5e-3, 0.25]
    for v in values:
        h.add(v)
    assert h.count_at_least(0.0) == len(values)
    assert h.count_at_least(1e-3) == 3 + 1  # 1 ms, 1.5 ms, 250 ms, and 0.99 ms shares 1 ms's bucket
    assert h.count_at_least(1.2e-3) == 2
    assert h.count_at_least(1e-4) == 5
    assert h.count_at_least(1.0) == 0
