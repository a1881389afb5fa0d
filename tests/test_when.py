"""The --when language: every accepted form, and exact one-line errors for the rest."""

from __future__ import annotations

import datetime as dt

import pytest

from supertask.errors import WhenError
from supertask.model import At, Cron, Every, Once
from supertask.when import WHEN_FORMS, parse_when


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("every 5s", 5.0),
        ("@every 1h30m", 5400.0),
        ("PT20M", 1200.0),
        ("P1DT2H", 93600.0),
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("100ns", 100e-9),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("50Hz", 0.02),
        ("10kHz", 1e-4),
        ("1khz", 1e-3),
        ("@every 10kHz", 1e-4),
    ],
)
def test_intervals(text: str, seconds: float) -> None:
    spec = parse_when(text)
    assert isinstance(spec, Every)
    assert spec.period == pytest.approx(seconds)


def test_once_is_the_default_form() -> None:
    assert parse_when("once") == Once()
    assert parse_when("ONCE") == Once()


def test_iso_datetime_is_once_at() -> None:
    spec = parse_when("2026-12-24T18:00:00+01:00")
    assert isinstance(spec, At)
    assert spec.at == dt.datetime(2026, 12, 24, 17, tzinfo=dt.UTC)


def test_naive_iso_datetime_uses_the_given_zone() -> None:
    spec = parse_when("2027-01-01T00:00:00", tz="Asia/Tokyo")
    assert isinstance(spec, At)
    assert spec.at.utcoffset() == dt.timedelta(hours=9)


@pytest.mark.parametrize(
    ("text", "expr"),
    [
        ("@yearly", "0 0 0 1 1 *"),
        ("@annually", "0 0 0 1 1 *"),
        ("@monthly", "0 0 0 1 * *"),
        ("@weekly", "0 0 0 * * SUN"),
        ("@daily", "0 0 0 * * *"),
        ("@midnight", "0 0 0 * * *"),
        ("@hourly", "0 0 * * * *"),
        ("*/5 * * * *", "*/5 * * * *"),
        ("*/5 * * * * *", "*/5 * * * * *"),
        ("0 0 12 * * MON-FRI 2027", "0 0 12 * * MON-FRI 2027"),
        ("0  9 * * mon,wed", "0 9 * * mon,wed"),
    ],
)
def test_calendar_forms(text: str, expr: str) -> None:
    spec = parse_when(text, tz="UTC")
    assert spec == Cron(expr=expr, tz="UTC")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus", f"invalid --when 'bogus': expected {WHEN_FORMS}"),
        ("", f"invalid --when '': it is empty; expected {WHEN_FORMS}"),
        ("5", f"invalid --when '5': expected {WHEN_FORMS}"),
        ("20 ms please", f"invalid --when '20 ms please': expected {WHEN_FORMS}"),
        ("@fortnightly", f"invalid --when '@fortnightly': unknown shorthand '@fortnightly'; expected {WHEN_FORMS}"),
        ("@every soon", f"invalid --when '@every soon': 'soon' is not a duration; expected {WHEN_FORMS}"),
        ("0s", f"invalid --when '0s': an interval must be greater than zero; expected {WHEN_FORMS}"),
        ("2026-13-01T00:00", f"invalid --when '2026-13-01T00:00': not a valid ISO datetime; expected {WHEN_FORMS}"),
        ("61 * * * *", "invalid --when '61 * * * *': minute value 61 is out of range 0-59"),
        ("* * * * * * * *", f"invalid --when '* * * * * * * *': expected {WHEN_FORMS}"),
        ("*/0 * * * *", "invalid --when '*/0 * * * *': minute step '0' must be a positive number"),
        ("0 0 * * FOO", "invalid --when '0 0 * * FOO': day-of-week value 'FOO' is not a number or name"),
        ("0 0 5-1 * *", "invalid --when '0 0 5-1 * *': day-of-month range '5-1' runs backwards"),
        ("? * * * *", "invalid --when '? * * * *': '?' is only allowed in day-of-month or day-of-week"),
        (
            "P1M1D",
            "invalid --when 'P1M1D': ISO duration 'P1M1D' has years or months, which have no fixed length; "
            "expected days or smaller (e.g. P1DT2H, PT20M)",
        ),
    ],
)
def test_errors_quote_the_spec_and_the_forms(text: str, message: str) -> None:
    with pytest.raises(WhenError) as info:
        parse_when(text)
    assert str(info.value) == message
    assert "\n" not in str(info.value)
