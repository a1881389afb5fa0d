"""The fluent schedule builder produces the same model records as the --when parser, and the engine runs them."""

from __future__ import annotations

import datetime as dt

import pytest
import trio
import trio.testing

import supertask
from supertask.errors import SpecError
from supertask.model import AnyOf, Calendar, Misfire
from supertask.when import parse_when

from .conftest import UTC, virtual_scheduler


@pytest.mark.parametrize(
    ("built", "text", "tz"),
    [
        (supertask.every(20, "ms"), "20ms", None),
        (supertask.every("1h30m"), "1h30m", None),
        (supertask.every(10, "kHz"), "10kHz", None),
        (supertask.every(1, "mo"), "1mo", None),
        (supertask.every(2, "y"), "2y", None),
        (supertask.cron("0 9 * * MON-FRI").tz("Europe/Berlin"), "0 9 * * MON-FRI", "Europe/Berlin"),
        (supertask.calendar("Mon..Fri 09:00"), "Mon..Fri 09:00", None),
        (supertask.rrule("RRULE:FREQ=MONTHLY;BYDAY=-1FR").tz("UTC"), "RRULE:FREQ=MONTHLY;BYDAY=-1FR", "UTC"),
        (supertask.reboot(), "@reboot", None),
    ],
)
def test_builder_equals_the_when_parser(built: supertask.Schedule, text: str, tz: str | None) -> None:
    assert built.spec == parse_when(text, tz=tz)


def test_calendar_shorthands_with_a_time() -> None:
    assert supertask.daily().at("09:00").spec == Calendar(expr="*-*-* 09:00")
    assert supertask.weekly("Mon", "Fri").at("18:30").tz("UTC").spec == Calendar(expr="Mon,Fri *-*-* 18:30", tz="UTC")
    assert supertask.monthly(-1).at("23:00").spec == Calendar(expr="*-*~01 23:00")
    after = dt.datetime(2027, 1, 1, tzinfo=UTC)
    got = supertask.monthly(-1).at("23:00").tz("UTC").next(3, after=after)
    assert [t.isoformat() for t in got] == [
        "2027-01-31T23:00:00+00:00",
        "2027-02-28T23:00:00+00:00",
        "2027-03-31T23:00:00+00:00",
    ]


def test_union_bounds_and_policies_ride_along() -> None:
    s = (supertask.cron("0 */2 * * *", tz="UTC") | supertask.cron("0 */3 * * *", tz="UTC")).until(
        "2027-01-01T06:00+00:00"
    )
    assert isinstance(s.spec, AnyOf) and len(s.spec.triggers) == 2
    got = s.next(10, after=dt.datetime(2027, 1, 1, tzinfo=UTC))
    assert [t.hour for t in got] == [0, 2, 3, 4, 6]
    p = supertask.daily().jitter("5s", "hash").misfire("catch-up:3").count(2)
    assert p.options == {"jitter": 5.0, "jitter_mode": "hash", "misfire": Misfire(kind="catch-up", limit=3), "count": 2}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: supertask.every(20, "parsecs"), "invalid unit 'parsecs'"),
        (lambda: supertask.every(20, "ms").tz("UTC"), "every schedules have no time zone"),
        (lambda: supertask.cron("0 9 * * *").at("10:00"), "at() sets the time of daily()"),
        (lambda: supertask.daily().at("9"), "invalid time '9'"),
        (lambda: supertask.cron("0 9 * *"), "invalid --when '0 9 * *'"),
        (lambda: supertask.daily().tz("Mars/Base"), "unknown time zone 'Mars/Base'"),
    ],
)
def test_builder_errors(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as info:
        make()
    assert message in str(info.value)


async def test_scheduler_runs_a_built_schedule(clock: trio.testing.MockClock) -> None:
    sched = virtual_scheduler(wall_start=dt.datetime(2027, 1, 1, tzinfo=UTC))
    seen: list[dt.datetime] = []
    job = sched.add(supertask.daily().at("09:00").tz("UTC").count(3), lambda task: seen.append(task.scheduled))
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        await sched.wait_idle()
        sched.stop()
    assert [s.astimezone(UTC).isoformat() for s in seen] == [
        "2027-01-01T09:00:00+00:00",
        "2027-01-02T09:00:00+00:00",
        "2027-01-03T09:00:00+00:00",
    ]
    assert job.statistics().runs == 3
