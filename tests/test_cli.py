"""The command line, driven through real subprocesses as a user would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CMD = [sys.executable, "-m", "supertask"]


def st(*args: str, timeout: float = 30, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]


def test_once_is_the_default() -> None:
    r = st("run", "--command", "echo hello")
    assert (r.returncode, r.stdout) == (0, "hello\n")


def test_twenty_ms_job_runs_about_fifty_times_a_second() -> None:
    r = st("run", "-c", "python:print(math.sin(task.elapsed.total_seconds))", "--when=20ms", "--for", "1s")
    lines = r.stdout.splitlines()
    assert r.returncode == 0
    assert 40 <= len(lines) <= 51
    assert float(lines[1]) == pytest.approx(0.0199986, abs=1e-6)  # sin(0.02): exact grid time


def test_count_and_lateness_in_python_payload() -> None:
    r = st(
        "run",
        "-c",
        'python:print(task.count, round(task.lateness.total_seconds*1e6), "us late")',
        "--when=1ms",
        "--count",
        "500",
    )
    lines = r.stdout.splitlines()
    assert r.returncode == 0
    assert len(lines) == 500
    assert lines[0].startswith("0 ") and lines[-1].startswith("499 ")
    assert all(line.endswith(" us late") for line in lines)


def test_shell_payload_after_double_dash() -> None:
    r = st("run", "--when=100ms", "--count", "3", "--", "cmd:echo", "a  b", "$((1+2))")
    assert r.stdout.splitlines() == ["a  b $((1+2))"] * 3 or r.stdout.splitlines() == ["a  b 3"] * 3


def test_first_token_is_shell_text() -> None:
    r = st("run", "--", "cmd:echo $((1+2))")
    assert r.stdout == "3\n"


def test_exec_runs_without_a_shell() -> None:
    r = st("run", "--when=100ms", "--count", "2", "--exec", "--", "/bin/echo", "no shell here: $HOME")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["no shell here: $HOME"] * 2


def test_six_field_cron_has_seconds_first() -> None:
    r = st("run", "--when=* * * * * *", "--count", "2", "-c", "python:print(task.scheduled.microsecond)")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["0", "0"]  # whole seconds


def test_bad_when_is_one_line_and_exit_2() -> None:
    r = st("run", "--when=often", "-c", "echo")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("supertask: error: invalid --when 'often': expected once, an ISO datetime")


def test_python_syntax_error_before_anything_runs() -> None:
    r = st("run", "--when=10ms", "-c", "python:print(1")
    assert r.returncode == 2
    assert r.stderr == "supertask: error: invalid python payload 'print(1': '(' was never closed at column 6\n"


def test_unknown_option_is_a_usage_error() -> None:
    r = st("run", "--bogus", "-c", "echo")
    assert r.returncode == 2
    assert r.stderr.startswith("supertask: error: Unknown option: --bogus")
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "soon"], "invalid --for 'soon': expected a duration like 20ms"),
        (["--overrun", "later"], "invalid --overrun 'later': expected skip, queue, cancel, catchup or concurrent[:N]"),
        (["--spin", "lots"], "invalid --spin 'lots': expected a duration like 20ms"),
        (["--count", "0"], "invalid --count 0: expected a whole number >= 1"),
        (["--count", "2.5"], "Invalid value for --count: '2.5' is not a whole number"),
        (["--actors", "two"], "Invalid value for --actors: 'two' is not a whole number"),
        (["--spin", "-5us"], "invalid --spin '-5us': expected a duration like 20ms"),
        (["--spin", "200us", "--no-spin"], "give --spin '200us' or --no-spin, not both"),
        (["--for", "-1s"], "invalid --for '-1s': expected a duration like 20ms"),
        (["--when", "2001-01-01T00:00:00Z"], "invalid --when '2001-01-01T00:00:00Z': 2001-01-01T00:00:00+00:00 is in"),
        (["--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    extra = ["--when=@daily"] if "--tz" in args else []
    r = st("run", *args, *extra, "-c", "echo")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("supertask: error: " + message)
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--when", "0 0 31 2 *"], "invalid --when '0 0 31 2 *': it never fires (no time matches after now)"),
        (
            ["--when", "0 0 * * *", "--end", "2020-01-01T00:00:00Z"],
            "invalid --when '0 0 * * *': it never fires (no time matches after now before --end)",
        ),
    ],
)
def test_a_schedule_that_never_fires_is_an_error(args: list[str], message: str) -> None:
    r = st("run", *args, "--", "cmd:echo x")
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"supertask: error: {message}\n")


def test_with_state_a_schedule_without_future_times_is_left_to_the_misfire_policy(tmp_path: Path) -> None:
    # missed instants recorded in the state file may still run: no usage error here
    r = st("run", "--state", str(tmp_path / "state.json"), "--when", "0 0 31 2 *", "--", "cmd:echo x")
    assert r.returncode == 0, r.stderr
    assert "never fires" in r.stderr


def test_spin_zero_needs_no_unit() -> None:
    r = st("run", "--spin", "0", "--when=10ms", "--count", "2", "-c", "python:task.count")
    assert (r.returncode, r.stdout, r.stderr) == (0, "0\n1\n", "")


def test_missing_command_exits_127_with_a_clear_line() -> None:
    r = st("run", "-c", "no-such-command-xyz")
    assert r.returncode == 127
    assert "run 0 failed: exit code 127 (command not found)" in r.stderr
    r = st("run", "--exec", "--", "/no/such/program")
    assert r.returncode == 127
    assert "run 0 failed: command not found: /no/such/program" in r.stderr


def test_the_same_error_output_from_many_runs_is_counted_not_flooded() -> None:
    r = st("run", "--when=1ms", "--count", "300", "--", "no-such-command-xyz")
    shell_lines = [line for line in r.stderr.splitlines() if line.startswith("/bin/sh")]
    assert len(shell_lines) == 5
    assert "job 'cmd:no-such-command-xyz': the same error output came from 295 more run(s)" in r.stderr
    r = st("run", "--when=1ms", "--count", "20", "--", "cmd:echo run $(date +%N) >&2")  # differs: all shown
    assert len([line for line in r.stderr.splitlines() if line.startswith("run ")]) == 20


def test_a_single_run_killed_by_a_signal_exits_128_plus_the_signal() -> None:
    r = st("run", "--", "cmd:kill -9 $$")
    assert r.returncode == 128 + 9
    assert "run 0 failed: killed by SIGKILL" in r.stderr


def test_failures_at_khz_are_counted_not_flooded() -> None:
    r = st("run", "--when=1kHz", "--for", "1s", "-c", "python:1/0", "--stats")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    failed_lines = [line for line in r.stderr.splitlines() if "failed" in line]
    assert 5 <= len(failed_lines) <= 10
    assert "ZeroDivisionError: division by zero" in r.stderr


def test_stats_table() -> None:
    r = st("run", "--when=10kHz", "--for", "1s", "-c", "python:pass", "--stats")
    assert r.returncode == 0
    header, row = r.stderr.splitlines()[-2:]
    assert header.split()[:5] == ["job", "runs", "ok", "failed", "skipped"]
    name, runs, ok, failed, skipped = row.split()[:5]
    assert name == "python:pass"
    assert int(runs) == int(ok) and int(failed) == 0
    assert int(runs) + int(skipped) >= 9000


def test_head_closes_the_pipe_cleanly() -> None:
    for payload in (["-c", "python:print(task.count)", "--when=1ms"], ["--when=10ms", "--", "cmd:echo hi"]):
        proc = subprocess.Popen([*CMD, "run", *payload], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        proc.stdout.close()
        _, err = proc.communicate(timeout=10)
        assert len(lines) == 3
        assert proc.returncode == 0
        assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_closed_pipe_is_noticed_without_output() -> None:
    proc = subprocess.Popen(
        [*CMD, "run", "--when=1h", "-c", "python:print('once')"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"once\n"
    proc.stdout.close()
    proc.wait(timeout=5)
    assert proc.returncode == 0


def _wait_for_line(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline()


def test_ctrl_c_at_10khz_returns_within_a_second() -> None:
    proc = subprocess.Popen(
        [*CMD, "run", "--when=10kHz", "-c", "python:print(task.count) if task.count == 0 else None"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_line(proc)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=5)
    assert time.monotonic() - sent < 1.0
    assert proc.returncode == 130


def _pids_with(marker: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_sigterm_kills_the_process_group_after_grace() -> None:
    marker = "31.4159"
    # the child ignores SIGTERM and starts a grandchild: both must go
    script = f"trap '' TERM; sleep {marker} & sleep {marker}; wait"
    proc = subprocess.Popen(
        [*CMD, "run", "--grace", "300ms", "--", f"cmd:{script}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while len(_pids_with(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_pids_with(marker)) >= 2
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert proc.returncode == 0
    deadline = time.monotonic() + 5
    while _pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pids_with(marker) == []


def test_help_documents_the_when_forms() -> None:
    r = st("run", "--help")
    assert r.returncode == 0
    for form in ("@daily", "10kHz", "PT20M", "*/5 * * * * *", "--overrun", "--spin", "--no-spin", "--for"):
        assert form in r.stdout
    top = st("--help")
    assert "run" in top.stdout and top.returncode == 0


def test_environment_is_not_needed_from_the_repo(tmp_path: os.PathLike[str]) -> None:
    r = st("run", "-c", "python:print(task.name)", "--name", "probe", cwd=tmp_path)
    assert r.stdout == "probe\n"


def test_help_is_cached_and_the_same_as_rendered(tmp_path: os.PathLike[str]) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "COLUMNS": "100"}
    first = st("run", "--help", env=env)
    second = st("run", "--help", env=env)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert "--when" in first.stdout
    assert len(list(__import__("pathlib").Path(tmp_path).rglob("help-*.txt"))) == 1


def test_second_ctrl_c_interrupts_a_hanging_inprocess_payload() -> None:
    proc = subprocess.Popen(
        [*CMD, "run", "--when=1s", "-c", "python:print('start', flush=True)\nwhile True: pass"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_line(proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 130
    assert b"Traceback" not in err
