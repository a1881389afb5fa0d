"""Cron parsing and the next-fire search, checked against brute force over long spans."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from supertask.triggers.cron import CronTrigger, parse_cron

UTC = dt.UTC


def brute_matches(trigger: CronTrigger, t: dt.datetime) -> bool:
    """Field-by-field match of a naive wall time, written independently of the search."""
    f = trigger.fields
    dom_ok = t.day in f.days
    dow_ok = (t.isoweekday() % 7) in f.weekdays
    day_ok = (dom_ok or dow_ok) if (f.dom_restricted and f.dow_restricted) else (dom_ok and dow_ok)
    return (
        t.second in f.seconds
        and t.minute in f.minutes
        and t.hour in f.hours
        and t.month in f.months
        and t.year in f.years
        and day_ok
    )


def test_fields_of_a_six_field_expression() -> None:
    f = parse_cron("*/15 0-10/5 9,17 * JAN-MAR mon-fri")
    assert f.seconds == (0, 15, 30, 45)
    assert f.minutes == (0, 5, 10)
    assert f.hours == (9, 17)
    assert f.months == (1, 2, 3)
    assert f.weekdays == frozenset({1, 2, 3, 4, 5})
    assert not f.dom_restricted and f.dow_restricted


def test_sunday_is_0_and_7() -> None:
    assert parse_cron("0 0 * * 7").weekdays == frozenset({0})
    assert parse_cron("0 0 * * 5-7").weekdays == frozenset({5, 6, 0})


def test_step_from_a_start_value() -> None:
    assert parse_cron("5/20 * * * *").minutes == (5, 25, 45)


@pytest.mark.parametrize(
    "expr",
    [
        "*/7 * * * *",
        "0 */6 * * *",
        "30 9 * * MON-FRI",
        "0 0 13 * FRI",  # Friday or the 13th (classic OR)
        "0 12 31 * *",  # only months with 31 days
        "*/20 */13 * * * *",
        "0 0 0 29 FEB * *",
    ],
)
def test_search_agrees_with_brute_force(expr: str) -> None:
    trigger = CronTrigger(expr, UTC)
    start = dt.datetime(2027, 1, 1, tzinfo=UTC)
    step = dt.timedelta(seconds=1) if len(expr.split()) >= 6 else dt.timedelta(minutes=1)
    horizon = dt.timedelta(days=3) if step.total_seconds() == 1 else dt.timedelta(days=62)
    expected = []
    t = start + step
    while t <= start + horizon:
        if brute_matches(trigger, t.replace(tzinfo=None)):
            expected.append(t)
        t += step
    got = []
    cur = start
    while True:
        nxt = trigger.next_after(cur)
        if nxt is None or nxt > start + horizon:
            break
        got.append(nxt)
        cur = nxt
    assert got == expected


def test_a_year_of_a_cron_expression_is_fast_and_exact() -> None:
    trigger = CronTrigger("0 */6 * * *", UTC)
    cur = dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    fires = []
    while True:
        cur = trigger.next_after(cur)
        if cur.year > 2027:
            break
        fires.append(cur)
    assert len(fires) == 365 * 4
    assert all(f.hour % 6 == 0 and f.minute == 0 and f.second == 0 for f in fires)


def test_leap_day_expression_finds_the_next_leap_year() -> None:
    trigger = CronTrigger("0 0 12 29 2 *", UTC)
    assert trigger.next_after(dt.datetime(2027, 3, 1, tzinfo=UTC)) == dt.datetime(2028, 2, 29, 12, tzinfo=UTC)


def test_impossible_expression_has_no_next_time() -> None:
    assert CronTrigger("0 0 0 30 2 * *", UTC).next_after(dt.datetime(2027, 1, 1, tzinfo=UTC)) is None


def test_year_field_bounds_the_schedule() -> None:
    trigger = CronTrigger("0 0 0 1 1 * 2028", UTC)
    first = trigger.next_after(dt.datetime(2027, 6, 1, tzinfo=UTC))
    assert first == dt.datetime(2028, 1, 1, tzinfo=UTC)
    assert trigger.next_after(first) is None


def test_times_are_local_to_the_zone() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    trigger = CronTrigger("0 9 * * *", berlin)
    nxt = trigger.next_after(dt.datetime(2027, 7, 1, tzinfo=UTC))
    assert nxt is not None
    assert nxt.astimezone(UTC) == dt.datetime(2027, 7, 1, 7, tzinfo=UTC)  # CEST = UTC+2


def test_fall_back_fold_never_goes_backwards() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    trigger = CronTrigger("*/30 * * * *", berlin)
    cur = dt.datetime(2027, 10, 30, 23, 0, tzinfo=UTC)  # 01:00 CEST, the fold is at 03:00 CEST
    prev = cur
    for _ in range(12):
        nxt = trigger.next_after(prev)
        assert nxt is not None and nxt.timestamp() > prev.timestamp()
        prev = nxt
