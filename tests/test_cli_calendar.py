"""`supertask next` and the calendar options of `supertask run`, through real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

CMD = [sys.executable, "-m", "supertask"]
ENV = {**os.environ, "TZ": "UTC"}


def st(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def table(stdout: str) -> list[tuple[str, str]]:
    """(local, UTC) columns of the rows of `supertask next`."""
    rows = []
    for line in stdout.splitlines():
        parts = line.split("  ")
        if line.strip()[:1].isdigit():
            cells = [p.strip() for p in parts if p.strip()]
            rows.append((cells[1], cells[2]))
    return rows


def test_next_cron_in_berlin() -> None:
    r = st("next", "--when=0 9 * * MON-FRI", "-n", "5", "--tz", "Europe/Berlin", "--from", "2027-03-24")
    assert r.returncode == 0, r.stderr
    assert table(r.stdout) == [
        ("Wed 2027-03-24 09:00:00 CET", "Wed 2027-03-24 08:00:00 UTC"),
        ("Thu 2027-03-25 09:00:00 CET", "Thu 2027-03-25 08:00:00 UTC"),
        ("Fri 2027-03-26 09:00:00 CET", "Fri 2027-03-26 08:00:00 UTC"),
        ("Mon 2027-03-29 09:00:00 CEST", "Mon 2027-03-29 07:00:00 UTC"),
        ("Tue 2027-03-30 09:00:00 CEST", "Tue 2027-03-30 07:00:00 UTC"),
    ]
    assert "cron '0 9 * * MON-FRI' in Europe/Berlin" in r.stdout


def test_next_across_a_dst_gap() -> None:
    r = st("next", "--when=0 30 2 * * *", "--tz", "Europe/Berlin", "--from", "2027-03-27", "-n", "3")
    assert table(r.stdout) == [
        ("Sat 2027-03-27 02:30:00 CET", "Sat 2027-03-27 01:30:00 UTC"),
        ("Sun 2027-03-28 03:00:00 CEST", "Sun 2027-03-28 01:00:00 UTC"),
        ("Mon 2027-03-29 02:30:00 CEST", "Mon 2027-03-29 00:30:00 UTC"),
    ]


@pytest.mark.parametrize(
    ("when", "n", "expected"),
    [
        (
            "Mon..Fri *-*-* 09:00:00",
            "3",
            ["Fri 2027-01-01 09:00:00", "Mon 2027-01-04 09:00:00", "Tue 2027-01-05 09:00:00"],
        ),
        ("*-02-29 12:00", "3", ["Tue 2028-02-29 12:00:00", "Sun 2032-02-29 12:00:00", "Fri 2036-02-29 12:00:00"]),
        (
            "RRULE:FREQ=MONTHLY;BYDAY=-1FR",
            "12",
            [
                f"Fri 2027-{d} 00:00:00"
                for d in [
                    "01-29",
                    "02-26",
                    "03-26",
                    "04-30",
                    "05-28",
                    "06-25",
                    "07-30",
                    "08-27",
                    "09-24",
                    "10-29",
                    "11-26",
                    "12-31",
                ]
            ],
        ),
        ("0 0 L * *", "3", ["Sun 2027-01-31 00:00:00", "Sun 2027-02-28 00:00:00", "Wed 2027-03-31 00:00:00"]),
    ],
)
def test_next_issue_examples(when: str, n: str, expected: list[str]) -> None:
    r = st("next", f"--when={when}", "-n", n, "--from", "2027-01-01")
    assert r.returncode == 0, r.stderr
    assert [loc.removesuffix(" UTC") for loc, _ in table(r.stdout)] == expected


def test_next_without_from_counts_from_now() -> None:
    r = st("next", "--when=Mon..Fri *-*-* 09:00:00", "-n", "3")
    assert r.returncode == 0 and len(table(r.stdout)) == 3
    assert all(" in " in line for line in r.stdout.splitlines()[3:])


def test_next_calendar_interval_from_start_and_json() -> None:
    r = st("next", "--when=@every 1mo", "--start", "2027-01-31", "-n", "4", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["utc"][:10] for row in rows] == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]


def test_next_union_and_end() -> None:
    r = st("next", "--when=0 */2 * * *", "--when=0 */3 * * *", "--from", "2027-01-01", "--end", "2027-01-01 12:00")
    hours = [loc.split()[2][:2] for loc, _ in table(r.stdout)]
    assert hours == ["00", "02", "03", "04", "06"]
    r = st("next", "--when=0 */6 * * *", "--from", "2027-01-01", "--end", "2027-01-01 12:00", "-n", "9")
    assert len(table(r.stdout)) == 3 and "(no more times: 3 in all)" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--when=Mon..Fry 09:00"], "invalid calendar expression 'Mon..Fry 09:00': unknown weekday in 'Mon..Fry'"),
        (["--when=0 0 32 * *"], "invalid --when '0 0 32 * *': day-of-month value 32 is out of range 1-31"),
        (["--when=daily", "--from", "tomorrow"], "invalid --from 'tomorrow': expected an ISO date or datetime"),
        (["--when=daily", "--tz", "Mars/Base"], "unknown time zone 'Mars/Base'"),
    ],
)
def test_next_errors_are_one_line(args: list[str], message: str) -> None:
    r = st("next", *args)
    assert r.returncode == 2
    assert r.stderr.startswith(f"supertask: error: {message}")
    assert len(r.stderr.strip().splitlines()) == 1


def first_log_line(*args: str) -> tuple[int, str, str]:
    """Start `supertask ARGS`, wait for its first log line, send Ctrl-C; return (exit code, stdout, that line)."""
    p = subprocess.Popen([*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert p.stderr is not None
        line = p.stderr.readline()  # blocks until the scheduler logged (or exited)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=20)
    finally:
        p.kill()
    return p.returncode, out, line


def test_run_last_day_of_month_waits_and_logs_its_first_time() -> None:
    code, out, err = first_log_line("run", "--when=0 0 L * *", "--", "cmd:./close-month.sh")
    assert (code, out) == (130, "")
    assert "first run at" in err and " 00:00:00 UTC (in " in err


def test_run_monthly_interval_from_start_logs_the_anchor() -> None:
    code, _out, err = first_log_line(
        "run", "--when=@every 1mo", "--start", "2099-01-31", "-c", "python:print(task.scheduled)"
    )
    assert code == 130
    assert "first run at Sat 2099-01-31 00:00:00 UTC" in err


def test_run_union_with_start_and_jitter() -> None:
    r = st("run", "--when=100ms", "--when=*:*:*", "--count", "3", "--jitter", "1ms", "-c", "python:print(task.count)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "soon"], "invalid --start 'soon': expected an ISO date or datetime"),
        (["--start", "2027-01-02", "--end", "2027-01-01"], "invalid --end '2027-01-01': it is not after --start"),
        (
            ["--misfire", "later"],
            "invalid --misfire 'later': expected run-once, catch-up[:N] (N >= 1, default 10) or skip",
        ),
        (["--jitter", "lots"], "invalid --jitter 'lots': expected a duration"),
    ],
)
def test_run_calendar_option_errors(args: list[str], message: str) -> None:
    r = st("run", "--when=@daily", *args, "-c", "python:pass")
    assert r.returncode == 2
    assert r.stderr.startswith(f"supertask: error: {message}")


def test_help_lists_next_and_documents_the_rules() -> None:
    r = st("--help")
    assert "next" in r.stdout
    r = st("next", "--help")
    assert "--when" in r.stdout and "first occurrence" in r.stdout
    r = st("run", "--help")
    assert "classic cron OR" in r.stdout and "--misfire" in r.stdout and "--jitter" in r.stdout


def test_run_state_file_catches_up_missed_seconds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    path = tmp_path / "last-fired.json"
    ten_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10)).replace(microsecond=0)
    path.write_text(json.dumps({"jobs": {"tick": ten_ago.isoformat()}}))
    r = st(
        "run", "--when=* * * * * *", "--name", "tick", "--state", str(path), "--misfire", "catch-up:3",
        "--count", "3", "-c", "python:print(int(task.scheduled.timestamp()))",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    stamps = [int(x) for x in r.stdout.split()]
    assert len(stamps) == 3 and stamps[1] - stamps[0] == 1 and stamps[2] - stamps[1] == 1
    assert ten_ago.timestamp() + 7 <= stamps[0] <= ten_ago.timestamp() + 12  # the latest missed seconds
    assert "catch-up: 3 run now" in r.stderr
    saved = json.loads(path.read_text())["jobs"]["tick"]
    assert dt.datetime.fromisoformat(saved).timestamp() == stamps[-1]


def test_next_into_a_closed_pipe_ends_cleanly() -> None:
    proc = subprocess.Popen(
        [*CMD, "next", "--when=*:*:0/0.25", "-n", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()
    _, err = proc.communicate(timeout=30)
    assert lines[0].startswith(b"  Original form:")
    assert proc.returncode == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_next_rejects_an_end_before_the_start() -> None:
    r = st("next", "--when=0 9 * * *", "--start", "2028-01-01", "--end", "2027-01-01")
    assert r.returncode == 2
    assert r.stderr == "supertask: error: invalid --end '2027-01-01': it is not after --start '2028-01-01'\n"


def test_next_says_when_count_ends_the_list() -> None:
    r = st("next", "--when", "0 9 * * *", "-n", "5", "--count", "2")
    assert r.returncode == 0
    assert len(table(r.stdout)) == 2
    assert r.stdout.splitlines()[-1] == "(no more runs: --count 2)"
    r = st("next", "--when", "0 9 * * *", "-n", "2", "--count", "5")
    assert "no more" not in r.stdout
