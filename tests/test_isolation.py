"""Where payloads run: threads, warm tractor actors, fresh interpreters, script payloads, timeouts,
environments, and clean kills; every test checks that no process it started is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio

from supertask.engine import Scheduler
from supertask.model import Run
from supertask.runners import DockerRunner, build_runner, parse_payload
from supertask.runners.actor import ActorHost
from supertask.sinks import Sink

CMD = [sys.executable, "-m", "supertask"]
EXAMPLES = Path(__file__).parent.parent / "examples"
MARK = f"ST_TEST_MARK_{uuid.uuid4().hex[:12]}"


def marked_pids() -> list[int]:
    """Processes (other than this one) whose environment carries this module's marker."""
    found = []
    needle = f"{MARK}=1".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    with open(f"/proc/{entry}/stat") as s:
                        if s.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(entry))
                        else:
                            found.append(int(entry))  # a zombie counts too
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def no_stray_processes() -> Any:
    os.environ[MARK] = "1"  # inherited by everything the test starts
    try:
        yield
    finally:
        del os.environ[MARK]
        deadline = time.monotonic() + 3
        while (left := marked_pids()) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes left behind: {[_cmdline(p) for p in left]}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"pid {pid}"


def st(*args: str, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=timeout, **kwargs)


class Runs(Sink):
    wants_runs = True

    def __init__(self) -> None:
        self.ended: list[Run] = []

    def result(self, task: Any, value: Any) -> None:
        pass

    def run_ended(self, run: Run) -> None:
        self.ended.append(run)


# ---------------------------------------------------------------- the command lines


def test_actor_example_is_one_warm_reused_actor() -> None:
    try:
        import numpy  # noqa: F401

        module = "numpy"
    except ImportError:  # numpy is no dependency: the same line with a stdlib module
        module = "json"
    code = f'python:import {module}; print(task.count, __import__("os").getpid())'
    r = st("run", "--in", "actor", "--when=5ms", "-c", code, "--count", "30")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    assert len(rows) == 30
    assert [int(c) for c, _ in rows] == list(range(len(rows)))
    pids = {pid for _, pid in rows}
    assert len(pids) == 1 and int(pids.pop()) != os.getpid()
    assert "Warning" not in r.stderr and "Traceback" not in r.stderr


def test_process_example_is_a_fresh_interpreter_per_run() -> None:
    r = st("run", "--in", "process", "--when=100ms", "--count", "3", "-c", 'python:print(__import__("os").getpid())')
    assert r.returncode == 0, r.stderr
    pids = [int(x) for x in r.stdout.split()]
    assert len(pids) == 3 and len(set(pids)) == 3


def test_python_file_example() -> None:
    r = st("run", "--when=10s", "--count", "1", "--", "python:./scripts/collect.py", cwd=EXAMPLES)
    assert r.returncode == 0, r.stderr
    assert "load=" in r.stdout and "disk_free=" in r.stdout


def test_uv_example_caches_its_environment(tmp_path: Path) -> None:
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    first = st("run", "--when=1h", "--count", "1", "--", "uv:./scripts/report.py", cwd=EXAMPLES, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("report: sniffio 1.3.1")
    assert "Installed" in first.stderr
    second = st("run", "--when=1h", "--count", "1", "--", "uv:./scripts/report.py", cwd=EXAMPLES, env=env)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert "Installed" not in second.stderr and "Resolved" not in second.stderr


def test_node_example() -> None:
    r = st("run", "--when=1m", "--count", "1", "--", "node:./scripts/ping.js", cwd=EXAMPLES)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ping 127.0.0.1:1883 ok")


def test_docker_command_line_and_clear_error_without_engine() -> None:
    spec = parse_payload(["docker:alpine:3", "df", "-h", "/"])
    runner = build_runner(spec)
    assert isinstance(runner, DockerRunner)
    assert runner.command("c1")[1:] == ["run", "--rm", "--name", "c1", "alpine:3", "df", "-h", "/"]
    with_env = build_runner(spec, _runtime(env={"A": "1"}))
    assert isinstance(with_env, DockerRunner)
    assert with_env.command("c2")[1:] == ["run", "--rm", "--name", "c2", "-e", "A=1", "alpine:3", "df", "-h", "/"]
    r = st("run", "--", "docker:alpine:3", "df", "-h", "/")
    assert r.returncode == 125
    assert "no docker engine reachable" in r.stderr and "Traceback" not in r.stderr


def test_timeout_example_kills_and_records_timed_out() -> None:
    t0 = time.monotonic()
    r = st("run", "--when=1s", "--timeout", "300ms", "--count", "1", "--", "cmd:sleep 5")
    assert time.monotonic() - t0 < 4
    assert r.returncode == 124
    assert "timed out after 0.3s (killed by SIGTERM)" in r.stderr


def test_stats_show_timed_out_runs() -> None:
    r = st("run", "--when=200ms", "--count", "2", "--timeout", "100ms", "--stats", "--", "cmd:sleep 5")
    assert r.returncode == 1
    header, row = r.stderr.splitlines()[-2:]
    assert header.split()[:6] == ["job", "runs", "ok", "failed", "timeouts", "skipped"]
    assert row.split()[2:7] == ["2", "0", "2", "2", "0"]


def test_env_and_cwd_example(tmp_path: Path) -> None:
    r = st("run", "--when=1s", "--count", "1", "--env", "FOO=1", "--cwd", str(tmp_path), "--", "cmd:echo $FOO; pwd")
    assert (r.returncode, r.stdout) == (0, f"1\n{tmp_path}\n")
    envf = tmp_path / "job.env"
    envf.write_text('# comment\nexport BAR="two words"\nFOO=from-file\n')
    r = st("run", "--env-file", str(envf), "--env", "FOO=1", "-c", "echo $FOO $BAR")
    assert r.stdout == "1 two words\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "FOO", "-c", "true"], "invalid --env 'FOO': expected NAME=VALUE"),
        (["--env", "A=1", "-c", "python:1"], "--env cannot apply to python code running in-process"),
        (["--cwd", "/nonexistent-dir", "-c", "true"], "invalid --cwd '/nonexistent-dir': no such directory"),
        (["--timeout", "1s", "-c", "python:1"], "--timeout cannot stop python code running in-process"),
        (["--in", "actor", "-c", "true"], "--in actor applies to python: code"),
        (["--", "python:./missing.py"], "python: script './missing.py' not found"),
        (["--timeout", "soon", "-c", "true"], "--timeout"),
        (["--kill-grace", "soon", "-c", "true"], "--kill-grace"),
        (["--", "docker:"], "empty docker: payload"),
        (["--in", "actor", "-c", "python:1 +"], "invalid python payload"),
    ],
)
def test_bad_runtime_options_are_one_line_errors(args: list[str], message: str) -> None:
    r = st("run", *args)
    assert r.returncode == 2
    assert message in r.stderr and r.stderr.count("\n") == 1, r.stderr


# ---------------------------------------------------------------- actors


def test_actor_state_copy_crash_restart_and_timeout() -> None:
    code = (
        "python:import os, time\n"
        "task.state['n'] = task.state.get('n', 0) + 1\n"
        "if task.count == 1: os._exit(3)\n"
        "if task.count == 3: time.sleep(30)\n"
        "print(task.count, task.state['n'], os.getpid())"
    )
    r = st("run", "--in", "actor", "--when=50ms", "--count", "6", "--timeout", "2s", "--overrun", "queue", "-c", code)
    # (with --overrun queue, a tick queued behind the last counted run may still run: look at the first four)
    rows = [line.split() for line in r.stdout.splitlines()][:4]
    assert r.returncode == 1
    assert [row[0] for row in rows] == ["0", "2", "4", "5"]
    # state lives in the parent: the crashed run's change is lost, the timed-out one's too
    assert [row[1] for row in rows] == ["1", "2", "3", "4"]
    pids = [row[2] for row in rows]
    assert pids[0] != pids[1] != pids[2] and pids[2] == pids[3]  # restarted after the crash and the timeout
    assert "actor died during the run (exit code 3)" in r.stderr
    assert "timed out after 2s (killed by SIGKILL)" in r.stderr


def test_actor_start_does_not_count_against_the_timeout() -> None:
    # starting an actor takes ~1 s; a shorter --timeout used to fail (and kill) every start
    code = 'python:print(task.count, __import__("os").getpid())'
    r = st("run", "--in", "actor", "--when=50ms", "--count", "3", "--timeout", "150ms", "--overrun=queue", "-c", code)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    assert [row[0] for row in rows] == ["0", "1", "2"]
    assert len({row[1] for row in rows}) == 1
    assert "ZOMBIE" not in r.stderr


SLEEPY = "python:import time; time.sleep(0.05)"


def test_actor_output_is_bounded_and_forwarded() -> None:
    r = st("run", "--in", "actor", "-c", 'python:print("x" * 3_000_000); print("to stderr", file=sys.stderr)')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("x" * 1000) and len(r.stdout) < 1_100_000
    assert r.stdout.endswith("[supertask: 1951425 more characters of output dropped]\n")
    assert r.stderr == "to stderr\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_actor_outlives_its_scheduler(sig: int) -> None:
    p = subprocess.Popen(
        [*CMD, "run", "--in", "actor", "--actors", "2", "--overrun", "concurrent:2", "--when=20ms", "-c", SLEEPY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len([p for p in marked_pids() if "tractor._child" in _cmdline(p)]) < 2:
        time.sleep(0.1)
    assert len([p for p in marked_pids() if "tractor._child" in _cmdline(p)]) == 2
    p.send_signal(sig)
    p.wait(timeout=20)
    assert p.returncode == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    # the fixture checks the process table: no actor is left, even after SIGKILL


async def test_actor_host_uses_a_registry_port_of_its_own() -> None:
    seen: list[Any] = []
    sched = Scheduler(sinks=[])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        job = sched.add("20ms", "python:task.state.setdefault('pids', []).append(1) or task.count", count=3)
        job2 = sched.add("20ms", "python:task.count", count=2, isolation="process", name="p")
        await job.wait()
        await job2.wait()
        host = sched._service_values.get("tractor")
        seen.append(host)
        sched.stop()
    assert seen == [None]  # in-process jobs start no actor runtime
    runs = Runs()
    sched = Scheduler(sinks=[runs])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        job = sched.add("20ms", "python:task.state['k'] = task.count * 2; task.count", count=3, isolation="actor")
        await job.wait()
        host = sched._service_values["tractor"]
        assert isinstance(host, ActorHost) and host.port not in (None, 1616)
        sched.stop()
    assert [r.result for r in runs.ended if r.outcome != "skipped"] == [0, 1, 2]
    assert job.state == {"k": 4}  # written back from the actor


# ---------------------------------------------------------------- subprocesses, timeouts, run records


async def test_timeout_kills_children_that_ignore_sigterm() -> None:
    runs = Runs()
    sched = Scheduler(sinks=[runs])
    script = "trap '' TERM; (trap '' TERM; sleep 30) & (sleep 31 &); sleep 32"
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        t0 = trio.current_time()
        job = sched.add("once", f"cmd:{script}", timeout=0.3)
        await job.wait()
        elapsed = trio.current_time() - t0
        sched.stop()
    assert 0.3 <= elapsed < 3  # SIGTERM ignored: SIGKILL after the 1 s grace
    (run,) = runs.ended
    assert (run.outcome, run.signal) == ("timed-out", signal.SIGKILL)
    assert run.error == "timed out after 0.3s (killed by SIGKILL)"
    assert job.statistics().timed_out == 1


STUBBORN_PY = """\
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
subprocess.Popen([sys.executable, "-c", child])
if "crash" in sys.argv:
    time.sleep(0.2)
    import os; os._exit(7)
time.sleep(60)
"""
STUBBORN_JS = """\
process.on("SIGTERM", () => {});
require("child_process").spawn("sleep", ["60"], { stdio: "ignore" });
if (process.argv.includes("crash")) { setTimeout(() => process.exit(7), 200); } else { setInterval(() => {}, 1000); }
"""


async def test_every_kind_timed_out_or_crashed_leaves_no_process(tmp_path: Path) -> None:
    """Payloads of each kind start a child and ignore SIGTERM; they time out or crash. The
    fixture then checks the process table for anything they left behind."""
    (tmp_path / "stubborn.py").write_text(STUBBORN_PY)
    (tmp_path / "stubborn.js").write_text(STUBBORN_JS)
    code = "python:exec(open('stubborn.py').read())"
    kinds: dict[str, tuple[str, dict[str, Any]]] = {
        "shell": ("cmd:exec python3 stubborn.py", {}),
        "exec": (sys.executable, {}),
        "python-file": ("python:stubborn.py", {}),
        "uv": ("uv:stubborn.py", {}),
        "node": ("node:stubborn.js", {}),
        "process": (code, {"isolation": "process"}),
        "actor": (code, {"isolation": "actor"}),
    }
    runs = Runs()
    sched = Scheduler(sinks=[runs], shutdown_grace=0)
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        jobs = []
        for kind, (payload, kw) in kinds.items():
            for how in ("timeout", "crash"):
                spec: Any = payload
                if kind == "exec":
                    spec = parse_payload([payload, "stubborn.py", how], exec_argv=True)
                elif how == "crash" and kind in ("shell", "python-file", "uv", "node"):
                    spec = parse_payload([payload, how])
                elif how == "crash":
                    spec = payload.replace("exec(", "sys.argv.append('crash'); exec(").replace(
                        "python:", "python:import sys; "
                    )
                jobs.append(
                    sched.add("once", spec, name=f"{kind}-{how}", cwd=str(tmp_path), timeout=3, kill_grace=0.2, **kw)
                )
        for job in jobs:
            await job.wait()
        sched.stop()
    outcomes = {r.job: r.outcome for r in runs.ended}
    expected = {
        f"{kind}-{how}": ("timed-out" if how == "timeout" else "failed")
        for kind in kinds
        for how in ("timeout", "crash")
    }
    assert outcomes == expected


async def test_run_record_has_exit_code_signal_and_a_bounded_tail() -> None:
    runs = Runs()
    sched = Scheduler(sinks=[runs])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        a = sched.add("once", "cmd:head -c 10000 /dev/zero | tr '\\0' x; echo; echo last line; kill -9 $$")
        b = sched.add("once", "cmd:echo fine; exit 0")
        c = sched.add("once", "cmd:echo bad >&2; exit 3")
        for job in (a, b, c):
            await job.wait()
        sched.stop()
    by_job = {r.job: r for r in runs.ended}
    killed, ok, bad = by_job[a.name], by_job[b.name], by_job[c.name]
    assert (killed.outcome, killed.signal, killed.exit_code) == ("failed", 9, None)
    assert killed.output is not None and len(killed.output) == 4096 and killed.output.endswith("last line\n")
    assert (ok.outcome, ok.exit_code, ok.output) == ("ok", 0, "fine\n")
    assert (bad.outcome, bad.exit_code, bad.output, bad.error) == ("failed", 3, "bad\n", "exit code 3: bad")


async def test_env_never_leaks_into_the_scheduler_or_other_jobs() -> None:
    out: list[bytes] = []

    class Out(Sink):
        def result(self, task: Any, value: Any) -> None:
            pass

        def output(self, task: Any, data: bytes) -> None:
            out.append(data)

    sched = Scheduler(sinks=[Out()])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        a = sched.add("once", "cmd:echo a=$ST_SECRET", env={"ST_SECRET": "1"}, name="a")
        await a.wait()
        b = sched.add("once", "cmd:echo b=$ST_SECRET", name="b")
        c = sched.add(
            "once", "python:print('c=' + str(__import__('os').environ.get('ST_SECRET')))", isolation="process"
        )
        for job in (b, c):
            await job.wait()
        sched.stop()
    assert sorted(out) == [b"a=1\n", b"b=\n", b"c=None\n"]
    assert "ST_SECRET" not in os.environ


async def test_max_processes_bounds_processes_over_all_jobs(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    runs = Runs()
    sched = Scheduler(sinks=[runs], max_processes=1)
    payload = f"cmd:mkdir {lock} && sleep 0.1 && rmdir {lock}"
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        jobs = [sched.add("30ms", payload, count=4, overrun="concurrent:3", name=f"j{i}") for i in range(2)]
        for job in jobs:
            await job.wait()
        sched.stop()
    outcomes = [r.outcome for r in runs.ended]
    assert outcomes and set(outcomes) <= {"ok", "skipped"} and outcomes.count("ok") == 8


def test_passthrough_gives_the_child_our_stdout(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as f:
        subprocess.run([*CMD, "run", "--passthrough", "--", "cmd:readlink /proc/self/fd/1"], stdout=f, timeout=30)
        subprocess.run([*CMD, "run", "--", "cmd:readlink /proc/self/fd/1"], stdout=f, timeout=30)
    direct, piped = out.read_text().splitlines()
    assert direct == str(out)
    assert piped.startswith("pipe:")


def test_thread_runs_off_the_scheduler_thread() -> None:
    r = st(
        "run",
        "--in",
        "thread",
        "--count",
        "2",
        "--when=50ms",
        "-c",
        "python:import threading; print(threading.current_thread() is threading.main_thread(), task.count)",
    )
    assert (r.returncode, r.stdout) == (0, "False 0\nFalse 1\n")


def test_process_python_failures_are_run_outcomes() -> None:
    r = st("run", "--in", "process", "--count", "3", "--when=50ms", "-c", "python:1 / (task.count - 1)")
    assert r.returncode == 1
    assert r.stdout.splitlines() == ["-1.0", "1.0"]
    assert "ZeroDivisionError: division by zero" in r.stderr


def test_payload_forms_parse_to_their_records() -> None:
    from supertask.model import DockerRun, NodeScript, PythonCode, PythonFile, UvScript

    assert parse_payload(["python:./a.py", "x", "y z"]) == PythonFile(path="./a.py", args=["x", "y z"])
    assert parse_payload(["python:./a.py x 'y z'"]) == PythonFile(path="./a.py", args=["x", "y z"])
    assert parse_payload(["python:print('a.py')"]) == PythonCode(code="print('a.py')")
    assert parse_payload(["uv:./r.py", "--flag"]) == UvScript(path="./r.py", args=["--flag"])
    assert parse_payload(["docker:alpine:3 df -h /"]) == DockerRun(image="alpine:3", argv=["df", "-h", "/"])
    assert parse_payload(["bun:./p.ts", "1"]) == NodeScript(path="./p.ts", args=["1"], interpreter="bun")


def test_missing_interpreter_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from supertask.errors import PayloadError

    script = tmp_path / "p.js"
    script.write_text("console.log(1)\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PayloadError, match=r"^deno: payloads need deno; 'deno' is not on PATH$"):
        build_runner(parse_payload([f"deno:{script}"]))
    with pytest.raises(PayloadError, match=r"^docker: payloads need the docker command; 'docker' is not on PATH$"):
        build_runner(parse_payload(["docker:alpine:3"]))


def test_schedulers_side_by_side_each_with_its_own_registry() -> None:
    import socket

    squatter = socket.socket()  # something else on tractor's default registry port must not matter
    try:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", 1616))
        squatter.listen()
    except OSError:
        pass  # already taken by another program: the same situation
    args = [*CMD, "run", "--in", "actor", "--when=20ms", "--count", "10", "-c", "python:print(task.count)"]
    try:
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        squatter.close()
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert out.split() == [str(i) for i in range(10)]


def _runtime(**kwargs: Any) -> Any:
    from supertask.model import Runtime

    return Runtime(**kwargs)
