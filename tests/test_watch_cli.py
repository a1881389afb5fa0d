"""``supertask watch`` when standard output is not a terminal: one block per run, through real processes."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CMD = [sys.executable, "-m", "supertask"]
HEADER = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})\] (.*): run (\d+), exit (\d+), in \S+, late \S+$", re.MULTILINE
)


def st(*args: str, timeout: float = 30, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]


def test_piped_count_prints_one_block_per_run() -> None:
    # the issue's command line, with the pipe to cat
    r = subprocess.run(
        " ".join(CMD) + " watch -n 0.2 --count 10 'date +%T.%N' | cat",
        shell=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    headers = HEADER.findall(r.stdout)
    assert [int(h[2]) for h in headers] == list(range(1, 11))
    assert all(h[1] == "date +%T.%N" and h[3] == "0" for h in headers)
    lines = r.stdout.splitlines()
    assert len(lines) == 20
    times = [lines[i] for i in range(1, 20, 2)]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{9}", t) for t in times)
    # relaxed (no -p): 0.2 s from the end of one run to the start of the next
    secs = [int(t[6:8]) + int(t[9:]) / 1e9 + 60 * int(t[3:5]) for t in times]
    gaps = [b - a for a, b in itertools.pairwise(secs)]
    assert all(0.19 < g < 0.5 for g in gaps), gaps


def test_no_title_prints_the_output_only_and_words_are_joined_like_procps() -> None:
    r = st("watch", "-t", "-n", "0.05", "--count", "2", "echo", "a  b", "$((1+2))")
    assert (r.returncode, r.stdout) == (0, "a b 3\n" * 2)  # joined with single spaces, then sh -c


def test_exec_runs_the_argv_without_a_shell() -> None:
    r = st("watch", "-t", "-x", "-n", "0.05", "--count", "2", "/bin/echo", "a  b", "$HOME")
    assert (r.returncode, r.stdout) == (0, "a  b $HOME\n" * 2)


def test_watch_interval_from_the_environment() -> None:
    # the issue's line, stopped by SIGTERM 1.2 s after its first run: runs at ~0, 0.5 and 1.0 s
    # (with the default 2 s there would be one)
    env = {**os.environ, "WATCH_INTERVAL": "0.5"}
    proc = subprocess.Popen(
        [*CMD, "watch", "uptime"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    time.sleep(1.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    out = first + out
    assert proc.returncode == 0, err
    runs = [int(h[2]) for h in HEADER.findall(out)]
    assert 2 <= len(runs) <= 4 and runs == list(range(1, len(runs) + 1)), out
    assert "load average" in out


def test_chgexit_stops_at_the_first_change(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    script = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; "
        "[ $n -ge 2 ] && echo changed || echo same"
    )
    r = st("watch", "-g", "-t", "-n", "0.05", script)
    assert (r.returncode, r.stdout) == (0, "same\nsame\nchanged\n")


def test_equexit_stops_after_n_unchanged_runs() -> None:
    r = st("watch", "-q", "2", "-t", "-n", "0.05", "echo same")
    assert (r.returncode, r.stdout) == (0, "same\n" * 3)  # the first run, then 2 unchanged ones


def test_errexit_exits_8_on_a_failing_run_without_waiting_for_a_key() -> None:
    r = st("watch", "-e", "-n", "0.05", "echo out; exit 3", stdin=subprocess.DEVNULL)
    assert r.returncode == 8
    (header,) = HEADER.findall(r.stdout)
    assert header[3] == "3" and r.stdout.endswith("out\n")


def test_errexit_with_a_missing_command_in_the_issue_form() -> None:
    r = st("watch", "-e", "-t", "-x", "no-such-command-6", stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout) == (8, "no-such-command-6: No such file or directory\n")


def test_okexit_exits_on_the_first_success() -> None:
    r = st("watch", "-o", "-t", "true")
    assert (r.returncode, r.stdout) == (0, "")


def test_precise_keeps_a_10ms_grid() -> None:
    r = st("watch", "-t", "-p", "-n", "0.01", "--count", "60", "--stats", "date +%s.%N")
    assert r.returncode == 0, r.stderr
    stamps = [float(x) for x in r.stdout.split()]
    assert len(stamps) == 60
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
    assert 0.008 < gaps[len(gaps) // 2] < 0.012  # median period: the grid
    assert abs((stamps[-1] - stamps[0]) / 59 - 0.01) < 0.002  # no drift over the run
    assert re.search(r"supertask watch: 60 runs, \d+ skipped, lateness p50 ", r.stderr)


def test_precise_start_skips_what_an_overrun_covers_and_catchup_fires_it() -> None:
    # a command of 80 ms every 50 ms: -p (procps >= 4.0.5) runs back to back and counts the covered
    # grid points as skipped; --precise=catchup (procps < 4.0.5) runs every grid point, late
    start = st("watch", "-p", "-n", "0.05", "--count", "5", "--stats", "sleep 0.08")
    catchup = st("watch", "--precise=catchup", "-n", "0.05", "--count", "5", "--stats", "sleep 0.08")
    assert start.returncode == catchup.returncode == 0
    assert "skipped 1 run(s): the command overran" in start.stdout
    assert "skipped" not in catchup.stdout
    assert re.search(r"5 runs, [1-9]\d* skipped", start.stderr) and "5 runs, 0 skipped" in catchup.stderr
    late = [float(x) for x in re.findall(r"late ([\d.]+)ms", catchup.stdout)]
    assert late == sorted(late) and late[-1] > 80  # the backlog grows while the command is slower


def test_for_stops_after_a_duration() -> None:
    r = st("watch", "-t", "-n", "0.1", "--for", "0.45", "echo x")
    assert r.returncode == 0 and r.stdout.count("x") in (4, 5)


def test_head_closes_the_pipe_cleanly() -> None:
    r = subprocess.run(
        " ".join(CMD) + " watch -t -n 0.01 'echo x' | head -3", shell=True, capture_output=True, text=True, timeout=20
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "x\nx\nx\n", "")


def test_bad_option_is_one_line_and_exit_2() -> None:
    r = st("watch", "-n", "soon", "date")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        "supertask: error: invalid -n interval 'soon': expected seconds such as 2, 0.5 or 0,5, "
        "or a duration such as 50ms\n"
    )
    r = st("watch")
    assert r.returncode == 2 and r.stderr.startswith("supertask: error: no command to watch")


def test_help_lists_watch_and_watch_help_is_procps_like() -> None:
    r = st("--help")
    assert r.returncode == 0 and re.search(r"│ watch\b", r.stdout)
    r = st("watch", "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage:\n supertask watch [options] command\n")
    assert "-q, --equexit <cycles>" in r.stdout


def test_build_app_routes_watch_words_verbatim(capfd: pytest.CaptureFixture[str]) -> None:
    from supertask.cli import build_app

    app = build_app()
    assert app(["watch", "-t", "-n", "0.01", "--count", "2", "echo", "hi"], result_action="return_value") == 0
    assert capfd.readouterr().out == "hi\nhi\n"


ISSUE_LINES = {
    "supertask watch 'ss -s'": ("ss -s", "Total:"),
    "supertask watch -n 0.05 -p -d 'cat /proc/loadavg'": ("cat /proc/loadavg", "/"),
    "supertask watch -n 1 -d=permanent -- df -h": ("df -h", "Filesystem"),
    "supertask watch -x -n 0.5 ls -l /tmp": ("ls -l /tmp", "total "),
    "supertask watch -g 'ls /tmp/inbox'": ("ls /tmp/inbox", ""),
    "supertask watch -e 'systemctl is-active foo'": ("systemctl is-active foo", ""),
    "WATCH_INTERVAL=0.5 supertask watch 'uptime'": ("uptime", "load average"),
}


def test_the_issues_command_lines_work_piped() -> None:
    # each line verbatim, piped into cat, stopped with SIGTERM once its first block is out
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("WATCH_INTERVAL", None)
    procs = {
        line: subprocess.Popen(
            ["bash", "-c", f"set -o pipefail; {line} | cat"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            start_new_session=True,
        )
        for line in ISSUE_LINES
    }
    for line, proc in procs.items():
        assert proc.stdout is not None
        first = proc.stdout.readline()
        while first.startswith("skipped "):  # a loaded machine can make a run overrun its interval
            first = proc.stdout.readline()
        command, expected = ISSUE_LINES[line]
        assert HEADER.match(first) and HEADER.match(first).group(2) == command, (line, first)  # type: ignore[union-attr]
        seen = ""
        while expected not in seen:
            more = proc.stdout.readline()
            assert more, (line, first + seen)
            seen += more
        if "-e" in line.split():
            proc.wait(timeout=20)
            assert proc.returncode == 8 and re.search(r"exit [1-9]", first)  # stopped at the failing run
        else:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
            assert proc.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM), (line, proc.returncode)
