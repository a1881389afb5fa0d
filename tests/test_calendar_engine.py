"""Calendar jobs in the engine on virtual time: clock steps, misfires after downtime, jitter, bounds, unions."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest
import trio
import trio.testing

import supertask
from supertask.engine import Task, TrioClock
from supertask.model import AnyOf, Cron, Every, Misfire

from .conftest import UTC, virtual_scheduler


def at(h: int, m: int = 0, s: int = 0, day: int = 1) -> dt.datetime:
    return dt.datetime(2027, 1, day, h, m, s, tzinfo=UTC)


class Log:
    """Each run: (virtual seconds since the start, scheduled wall time in UTC)."""

    def __init__(self) -> None:
        self.t0 = trio.current_time()
        self.runs: list[tuple[float, dt.datetime]] = []

    def __call__(self, task: Task) -> None:
        self.runs.append((round(trio.current_time() - self.t0, 6), task.scheduled.astimezone(UTC)))


async def serve_until_idle(sched: supertask.Scheduler, during=None) -> None:  # type: ignore[no-untyped-def]
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        if during is not None:
            await during()
        await sched.wait_idle()
        sched.stop()


# ------------------------------------------------------------------ wall-clock steps


async def test_forward_step_runs_the_passed_instant_at_once(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sched = virtual_scheduler(wall_start=at(8))
    log = Log()
    sched.add(Cron(expr="0 9 * * *", tz="UTC"), log, count=2)
    engine_clock = sched.clock
    assert isinstance(engine_clock, TrioClock)

    async def step() -> None:
        await trio.sleep(1800)  # 08:30
        engine_clock.step(2 * 3600)  # NTP: it is really 10:30

    with caplog.at_level(logging.WARNING, logger="supertask.engine.scheduler"):
        await serve_until_idle(sched, step)
    assert log.runs == [(1800.0, at(9)), (1800.0 + 22.5 * 3600, at(9, day=2))]
    assert sched.clock_steps == 1
    assert "wall clock stepped by +7200.000s" in caplog.text


async def test_backward_step_waits_for_the_wall_time(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(8))
    log = Log()
    sched.add(Cron(expr="0 9 * * *", tz="UTC"), log, count=1)

    async def step() -> None:
        await trio.sleep(1800)
        sched.clock.step(-3600)  # type: ignore[union-attr]  # 08:30 -> 07:30

    await serve_until_idle(sched, step)
    assert log.runs == [(1800.0 + 5400.0, at(9))]


async def test_backward_step_never_fires_an_instant_twice(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(8, 59))
    log = Log()
    job = sched.add(Cron(expr="0 * * * *", tz="UTC"), log, count=2)

    async def step() -> None:
        await trio.sleep(120)  # 09:01, after the 09:00 run
        sched.clock.step(-3600)  # type: ignore[union-attr]  # 08:01: 09:00 comes again, but has run

    await serve_until_idle(sched, step)
    assert log.runs == [(60.0, at(9)), (120.0 + 3600 + 3540, at(10))]
    assert job.last_fired == at(10)


async def test_intervals_keep_their_grid_across_a_step(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(8))
    log = Log()
    sched.add("10s", log, count=6)

    async def step() -> None:
        await trio.sleep(25)
        sched.clock.step(3600)  # type: ignore[union-attr]

    await serve_until_idle(sched, step)
    assert [t for t, _ in log.runs] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]


# ------------------------------------------------------------------ misfires after downtime


@pytest.mark.parametrize(
    ("misfire", "expected", "skipped"),
    [
        # missed 08:00 … 12:00 while down (last fired 07:00); it is 12:30
        (Misfire(), [(0.0, at(12)), (1800.0, at(13))], 4),
        (Misfire(kind="catch-up", limit=3), [(0.0, at(10)), (0.0, at(11)), (0.0, at(12)), (1800.0, at(13))], 2),
        (Misfire(kind="skip"), [(1800.0, at(13)), (5400.0, at(14))], 5),
        (Misfire(grace=3600), [(0.0, at(12)), (1800.0, at(13))], 4),
        (Misfire(kind="catch-up", limit=10, grace=2 * 3600), [(0.0, at(11)), (0.0, at(12)), (1800.0, at(13))], 3),
        (Misfire(grace=600), [(1800.0, at(13)), (5400.0, at(14))], 5),
    ],
    ids=["run-once", "catch-up:3", "skip", "run-once-grace-1h", "catch-up-grace-2h", "run-once-grace-10min"],
)
async def test_misfire_policy_after_downtime(
    clock: trio.testing.MockClock, misfire: Misfire, expected: list[tuple[float, dt.datetime]], skipped: int
) -> None:
    sched = virtual_scheduler(wall_start=at(12, 30))
    log = Log()
    job = sched.add(Cron(expr="0 * * * *", tz="UTC"), log, count=len(expected), misfire=misfire, last_fired=at(7))
    await serve_until_idle(sched)
    assert log.runs == expected
    assert job.statistics().skipped == skipped


async def test_no_misfire_when_nothing_was_missed(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(12, 30))
    log = Log()
    sched.add(Cron(expr="0 * * * *", tz="UTC"), log, count=1, last_fired=at(12))
    await serve_until_idle(sched)
    assert log.runs == [(1800.0, at(13))]


async def test_catch_up_after_the_loop_was_blocked(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(8, 59, 59))
    seen: list[dt.datetime] = []

    def block(task: Task) -> None:
        seen.append(task.scheduled.astimezone(UTC))
        if len(seen) == 1:
            clock.jump(3.5 * 60)  # an in-process payload blocks the loop for 3.5 minutes

    job = sched.add(Cron(expr="* * * * *", tz="UTC"), block, count=4, misfire="catch-up:2")
    await serve_until_idle(sched)
    assert seen == [at(9), at(9, 2), at(9, 3), at(9, 4)]
    assert job.statistics().skipped == 1  # 09:01


def test_misfire_forms() -> None:
    from supertask.errors import SpecError
    from supertask.triggers.misfire import parse_misfire

    assert parse_misfire("catch-up") == Misfire(kind="catch-up", limit=10)
    assert parse_misfire("catch-up:3", 60.0) == Misfire(kind="catch-up", limit=3, grace=60.0)
    with pytest.raises(SpecError, match=r"invalid --misfire 'later': expected run-once, catch-up\[:N\]"):
        parse_misfire("later")


# ------------------------------------------------------------------ jitter, bounds, unions, @reboot


async def test_random_jitter_delays_each_run_within_bounds(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(8, 59, 59))
    log = Log()
    sched.add(Cron(expr="* * * * *", tz="UTC"), log, count=30, jitter=10.0)
    await serve_until_idle(sched)
    delays = [t - (s - at(8, 59, 59)).total_seconds() for t, s in log.runs]
    assert all(0.0 <= d < 10.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 20
    assert [s for _, s in log.runs] == [at(9, m) for m in range(30)]


async def test_hash_jitter_is_one_fixed_delay_per_job(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(8, 59, 59))
    a, b = Log(), Log()
    sched.add(Cron(expr="* * * * *", tz="UTC"), a, name="backup", count=5, jitter=30.0, jitter_mode="hash")
    sched.add(Cron(expr="* * * * *", tz="UTC"), b, name="reports", count=5, jitter=30.0, jitter_mode="hash")
    await serve_until_idle(sched)
    da = {round(t - (s - at(8, 59, 59)).total_seconds(), 6) for t, s in a.runs}
    db = {round(t - (s - at(8, 59, 59)).total_seconds(), 6) for t, s in b.runs}
    assert len(da) == 1 and len(db) == 1 and da != db
    assert 0 <= da.pop() < 30


async def test_start_and_end_bound_an_interval(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(0))
    log = Log()
    sched.add("10s", log, start=at(0, 1), end=at(0, 2))
    await serve_until_idle(sched)
    assert [t for t, _ in log.runs] == [60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0]


async def test_start_and_end_bound_a_cron(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(0))
    log = Log()
    sched.add(Cron(expr="0 * * * *", tz="UTC"), log, start=at(5, 30), end=at(8))
    await serve_until_idle(sched)
    assert [s for _, s in log.runs] == [at(6), at(7), at(8)]


async def test_monthly_interval_from_start(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(0))
    seen: list[dt.datetime] = []
    sched.add("@every 1mo", lambda task: seen.append(task.scheduled), start=at(0, day=31), count=4)
    await serve_until_idle(sched)
    assert [s.date().isoformat() for s in seen] == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]


async def test_union_fires_once_at_shared_instants(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(0, 0, 30))
    log = Log()
    spec = AnyOf(triggers=[Cron(expr="*/2 * * * *", tz="UTC"), Cron(expr="*/3 * * * *", tz="UTC")])
    sched.add(spec, log, end=at(0, 12))
    await serve_until_idle(sched)
    assert [s.minute for _, s in log.runs] == [2, 3, 4, 6, 8, 9, 10, 12]


async def test_union_with_an_interval_counts_it_from_the_start(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(0))
    log = Log()
    spec = AnyOf(triggers=[Every(period=90.0), Cron(expr="*/2 * * * *", tz="UTC")])
    sched.add(spec, log, end=at(0, 6))
    await serve_until_idle(sched)
    assert [t for t, _ in log.runs] == [0.0, 90.0, 120.0, 180.0, 240.0, 270.0, 360.0]


async def test_reboot_runs_once_at_start(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(0))
    log = Log()
    sched.add("@reboot", log)
    await serve_until_idle(sched)
    assert [t for t, _ in log.runs] == [0.0]


async def test_dst_gap_and_fold_in_the_engine(clock: trio.testing.MockClock) -> None:
    berlin = "Europe/Berlin"
    sched = virtual_scheduler(wall_start=dt.datetime(2027, 3, 27, 12, tzinfo=UTC))
    seen: list[str] = []
    sched.add(
        Cron(expr="30 2 * * *", tz=berlin),
        lambda task: seen.append(task.scheduled.astimezone(ZoneInfo(berlin)).strftime("%m-%d %H:%M %Z")),
        end=dt.datetime(2027, 11, 2, tzinfo=UTC),
    )
    await serve_until_idle(sched)
    assert seen[0] == "03-28 03:00 CEST"  # the gap: at its end, once
    assert seen.count("10-31 02:30 CET") == 0 and seen.count("10-31 02:30 CEST") == 1  # the fold: once, first
    assert len(seen) == len(set(seen)) == 219


# ------------------------------------------------------------------ last-fired state across a restart


async def test_last_fired_survives_a_restart_through_the_state_file(clock: trio.testing.MockClock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from supertask.sinks.last_fired import LastFiredFile

    path = tmp_path / "state.json"
    first = virtual_scheduler(wall_start=at(0, 30), sinks=[LastFiredFile(path)])
    first.add(Cron(expr="0 * * * *", tz="UTC"), lambda task: None, name="hourly", count=2)
    await serve_until_idle(first)
    assert LastFiredFile(path).last_fired("hourly") == at(2)

    # down from 02:00 until 05:30: 03:00, 04:00 and 05:00 were missed
    state = LastFiredFile(path)
    second = virtual_scheduler(wall_start=at(5, 30), sinks=[state])
    log = Log()
    job = second.add(
        Cron(expr="0 * * * *", tz="UTC"), log, name="hourly", count=2, last_fired=state.last_fired("hourly")
    )
    await serve_until_idle(second)
    assert log.runs == [(0.0, at(5)), (1800.0, at(6))]
    assert job.statistics().skipped == 2
    assert LastFiredFile(path).last_fired("hourly") == at(6)


async def test_an_interval_waiting_for_its_start_follows_a_clock_step(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=at(8))
    log = Log()
    sched.add("10s", log, start=at(9), count=2)

    async def step() -> None:
        await trio.sleep(600)
        sched.clock.step(1800)  # type: ignore[union-attr]  # 08:10 -> 08:40: the start is 20 min away

    await serve_until_idle(sched, step)
    assert [t for t, _ in log.runs] == [1800.0, 1810.0]


async def test_decades_of_a_berlin_schedule_in_virtual_time(clock: trio.testing.MockClock) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    sched = virtual_scheduler(wall_start=dt.datetime(2026, 12, 31, 12, tzinfo=UTC))
    seen: list[dt.datetime] = []
    sched.add(
        Cron(expr="0 30 2 * * *", tz="Europe/Berlin"),  # 02:30: in the gap every spring, in the fold every autumn
        lambda task: seen.append(task.scheduled),
        end=dt.datetime(2046, 12, 31, 12, tzinfo=UTC),
    )
    await serve_until_idle(sched)
    days = (dt.date(2047, 1, 1) - dt.date(2027, 1, 1)).days
    assert len(seen) == days == len({s.timestamp() for s in seen})  # one run a day, never two
    local = [s.astimezone(berlin) for s in seen]
    assert sum(t.strftime("%H:%M") == "03:00" for t in local) == 20  # the 20 spring-forward days
    assert all(t.strftime("%H:%M") in ("02:30", "03:00") for t in local)
