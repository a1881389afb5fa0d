"""Timetable files, task files and the original Supertask's format, loaded into model records."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
import socket
import sys
from pathlib import Path

import pytest
import trio

from supertask.errors import TimetableError
from supertask.model import Cron, Every, PythonEntrypoint, PythonFile, ShellCommand, Steps
from supertask.runners import build_runner
from supertask.sinks import Sink
from supertask.timetable import legacy_cron, load_timetable, namespace_digest
from tests.conftest import virtual_scheduler

FIXTURES = Path(__file__).parent / "fixtures" / "original"

YAML = """\
meta:
  namespace: ops
  authors: [ops@example.org]
jobs:
  - name: disk
    when: 1m
    run: "cmd:df -h /"
    env: {FOO: 1}
    timeout: 30s
  - name: fn
    cron: "*/5 * * * *"
    payload: {kind: python-entrypoint, target: "os.path:join", args: [a, b]}
"""

JSON = """{"meta": {"namespace": "ops", "authors": ["ops@example.org"]}, "jobs": [
 {"name": "disk", "when": "1m", "run": "cmd:df -h /", "env": {"FOO": 1}, "timeout": "30s"},
 {"name": "fn", "cron": "*/5 * * * *",
  "payload": {"kind": "python-entrypoint", "target": "os.path:join", "args": ["a", "b"]}}]}
"""

TOML = """\
[meta]
namespace = "ops"
authors = ["ops@example.org"]

[[jobs]]
name = "disk"
when = "1m"
run = "cmd:df -h /"
env = { FOO = 1 }
timeout = "30s"

[[jobs]]
name = "fn"
cron = "*/5 * * * *"
payload = { kind = "python-entrypoint", target = "os.path:join", args = ["a", "b"] }
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("name", "text"), [("t.yaml", YAML), ("t.json", JSON), ("t.toml", TOML)])
def test_one_schema_in_yaml_json_and_toml(tmp_path: Path, name: str, text: str) -> None:
    t = load_timetable(write(tmp_path, name, text))
    assert t.namespace.id == "ops"
    disk, fn = t.jobs
    assert (disk.meta.name, disk.trigger, disk.payload) == ("disk", Every(period=60.0), ShellCommand(script="df -h /"))
    assert disk.runtime.env == {"FOO": "1"} and disk.runtime.timeout == 30.0
    assert disk.meta.authors == ["ops@example.org"] and disk.meta.origin.source == str(tmp_path / name)
    assert fn.trigger == Cron(expr="*/5 * * * *") and fn.payload == PythonEntrypoint(
        target="os.path:join", args=["a", "b"]
    )
    assert disk.namespace == fn.namespace == "ops"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.yaml",
            "jobs:\n  - name: a\n    run: cmd:date\n    colour: red\n",
            "a.yaml:4: at jobs[0].colour: unknown field 'colour'; expected one of: name, id,",
        ),
        (
            "b.yaml",
            "jobs:\n  - name: a\n    run: cmd:date\n    count: many\n",
            "b.yaml:4: at jobs[0].count: expected int",
        ),
        (
            "c.toml",
            '[[jobs]]\nname = "a"\nrun = "cmd:date"\n\n[[jobs]]\nname = "b"\nwhen = "every banana"\nrun = "cmd:x"\n',
            "c.toml:7: at jobs[1].when: invalid when 'every banana': 'banana' is not a duration; expected once,",
        ),
        ("d.yaml", "jobs:\n  - name: a\n", "d.yaml:2: at jobs[0]: job 'a' has no payload: expected exactly one of run"),
        ("e.yaml", "jobs:\n  - name: [a\n", "e.yaml:3: invalid YAML: expected ',' or ']'"),
        ("f.json", '{"jobs": [}', "f.json:1: invalid JSON: Expecting value at column 11"),
        ("g.txt", "jobs: []", "g.txt: unknown file type '.txt': expected .yaml, .yml, .json, .toml"),
        (
            "h.yaml",
            "jobs:\n  - name: a\n    run: cmd:date\n  - name: a\n    run: cmd:date\n",
            "h.yaml:4: at jobs[1].name: duplicate job 'a' (also jobs[0]): expected unique names",
        ),
        (
            "i.yaml",
            "jobs:\n  - name: a\n    run: 'python:print(('\n",
            "i.yaml:2: at jobs[0]: invalid python payload 'print((': ",
        ),
        (
            "j.yaml",
            "jobs:\n  - name: a\n    run: cmd:date\n    mode: sloppy\n",
            "j.yaml:4: at jobs[0].mode: invalid value 'sloppy'; expected one of: precise, relaxed",
        ),
        (
            "k.yaml",
            "tasks:\n  - meta: {id: x, name: x}\n    on:\n      schedule:\n        - cron: '1 2 3'\n    steps: []\n",
            "k.yaml:5: at tasks[0].on.schedule[0].cron: invalid cron '1 2 3': expected 5 fields",
        ),
        (
            "l.yaml",
            "jobs:\n  - name: a\n    cron: '0 * * * *'\n    tz: Mars/Olympus\n    run: cmd:date\n",
            "l.yaml:4: at jobs[0].tz: unknown time zone 'Mars/Olympus': expected an IANA name",
        ),
        (
            "n.yaml",
            "jobs:\n  - name: a\n    payload: {kind: rocket}\n",
            "n.yaml:3: at jobs[0].payload.kind: invalid value 'rocket'; expected one of: python, shell, exec,",
        ),
        (
            "m.py",
            "# /// task\n# when = '1s'\n# tz = 'Mars/Olympus'\n# ///\n",
            "m.py:3: at tz: unknown time zone 'Mars/Olympus': expected an IANA name",
        ),
    ],
)
def test_errors_name_file_line_field_and_expected_form(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(TimetableError) as info:
        load_timetable(path)
    assert str(info.value).startswith(str(tmp_path / name).replace(str(tmp_path / name), path) + message[len(name) :])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("t.yaml", "jobs:\n  - name: a\n    when: 2030-01-01T08:00:00+01:00\n    run: cmd:date\n"),
        ("t.toml", '[[jobs]]\nname = "a"\nwhen = 2030-01-01T08:00:00+01:00\nrun = "cmd:date"\n'),
        ("t.py", "# /// task\n# when = 2030-01-01T08:00:00+01:00\n# ///\n"),
    ],
)
def test_unquoted_datetime_when(tmp_path: Path, name: str, text: str) -> None:
    (job,) = load_timetable(write(tmp_path, name, text)).jobs
    assert job.trigger.at == dt.datetime(2030, 1, 1, 7, tzinfo=dt.UTC)  # type: ignore[attr-defined]


def test_missing_file() -> None:
    with pytest.raises(TimetableError, match=r"timetable file 'nope.yaml' not found: expected a file in \.yaml"):
        load_timetable("nope.yaml")


def test_original_timetable_loads_unchanged() -> None:
    path = FIXTURES / "timetable.yaml"
    t = load_timetable(str(path))
    assert t.format == "legacy-timetable"
    expected_ns = hashlib.md5(f"{socket.gethostname()}-{getpass.getuser()}-{path.resolve()}".encode()).hexdigest()
    assert t.namespace.id == expected_ns == namespace_digest(str(path.resolve()))
    (job,) = t.jobs
    assert (job.meta.id, job.meta.name, job.meta.enabled) == ("lKPzlamA", "Example Python reference", True)
    assert job.meta.description == "Run a Python function every five seconds."
    assert job.trigger == Cron(expr="*/5 * * * * * *")  # seconds first, year last
    assert isinstance(job.payload, Steps)
    waiter, notifier = job.payload.steps
    assert waiter.payload == PythonEntrypoint(
        target="supertask.contrib.testing:example_waiter", args=[], kwargs={"jitter": 0.42}
    )
    assert waiter.enabled and not notifier.enabled  # `if: false`
    # the disabled step names a module that does not exist: it is never imported
    runner = build_runner(job.payload)
    assert [name for name, _ in runner.steps] == ["Invoke example waiter"]  # type: ignore[attr-defined]


def test_original_timetable_booleans_as_its_pydantic_model_read_them(tmp_path: Path) -> None:
    text = (FIXTURES / "timetable.yaml").read_text()
    assert "enabled: true" in text and "if: false" in text
    path = write(tmp_path, "t.yaml", text.replace("enabled: true", "enabled: no").replace("if: false", "if: 'on'"))
    (job,) = load_timetable(path).jobs
    assert not job.meta.enabled
    assert [s.enabled for s in job.payload.steps] == [True, True]  # type: ignore[union-attr]
    with pytest.raises(TimetableError, match=r"t2.yaml:17: at tasks\[0\].meta.enabled: expected bool, got str"):
        load_timetable(write(tmp_path, "t2.yaml", text.replace("enabled: true", "enabled: maybe")))


def test_original_cron_weekdays_count_from_monday() -> None:
    assert legacy_cron("0 9 * * 0-4") == "0 9 * * MON,TUE,WED,THU,FRI"
    assert legacy_cron("*/10 * * * * * 2026") == "*/10 * * * * * 2026"
    assert legacy_cron("0 0 0 * * sat,sun") == "0 0 0 * * SAT,SUN"
    assert legacy_cron("0 0 * * */2") == "0 0 * * MON,WED,FRI,SUN"


def test_original_task_file(tmp_path: Path) -> None:
    t = load_timetable(str(FIXTURES / "hellotask.py"))
    (job,) = t.jobs
    assert t.format == "task-file" and job.meta.name == "hellotask"
    assert job.trigger == Cron(expr="*/5 * * * * * *")
    assert job.payload == PythonFile(
        path=str((FIXTURES / "hellotask.py").resolve()), entrypoint="run", kwargs={"greeting": "hello", "repeat": 2}
    )
    assert job.runtime.env == {"GREETING_TARGET": "task file"}
    over = load_timetable(str(FIXTURES / "hellotask.py"), when="@daily", namespace="mine")
    assert over.jobs[0].when == "@daily" and over.namespace.id == "mine" and over.jobs[0].namespace == "mine"
    script = load_timetable(str(FIXTURES / "script_task.py")).jobs[0]
    assert isinstance(script.payload, PythonFile) and script.payload.entrypoint is None


def test_task_file_without_task_block_needs_when(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.py", "print('hi')\n")
    with pytest.raises(TimetableError, match=r"plain.py:1: no '# /// task' block and no --when"):
        load_timetable(path)
    assert load_timetable(path, when="1s").jobs[0].trigger == Every(period=1.0)


class Collect(Sink):
    def __init__(self) -> None:
        self.results: list[object] = []
        self.out: list[bytes] = []
        self.runs: list[object] = []

    wants_runs = True

    def result(self, task, value):  # type: ignore[no-untyped-def]
        self.results.append(value)

    def output(self, task, data):  # type: ignore[no-untyped-def]
        self.out.append(data)

    def run_ended(self, run):  # type: ignore[no-untyped-def]
        self.runs.append(run)


async def test_task_file_env_applies_to_the_job_only() -> None:
    assert "GREETING_TARGET" not in os.environ
    spec = load_timetable(str(FIXTURES / "hellotask.py"), when="once").jobs[0]
    sink = Collect()
    from supertask.engine import Scheduler

    sched = Scheduler(sinks=[sink])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        job = sched.add_spec(spec)
        with trio.fail_after(20):
            await job.wait()
        sched.stop()
    assert b"".join(sink.out) == b"hello from the task file\nhello from the task file\n"
    assert "GREETING_TARGET" not in os.environ


async def test_steps_run_in_order_and_stop_at_the_first_failure(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "steps.yaml",
        f"""\
jobs:
  - name: s
    steps:
      - {{name: one, uses: python-entrypoint, run: "{tmp_path}/mod.py:record", args: [1]}}
      - {{name: skipped, uses: python-entrypoint, run: "{tmp_path}/mod.py:record", args: [99], if: false}}
      - {{name: two, uses: python-file, run: "{tmp_path}/mod.py:record", args: ["2"]}}
      - {{name: boom, uses: python-entrypoint, run: "{tmp_path}/mod.py:boom"}}
      - {{name: never, uses: python-entrypoint, run: "{tmp_path}/mod.py:record", args: [3]}}
""",
    )
    write(
        tmp_path,
        "mod.py",
        "import sys\nseen = sys.modules.setdefault('seen_steps', type(sys)('seen_steps'))\n"
        "seen.list = getattr(seen, 'list', [])\n"
        "def record(x):\n    seen.list.append(x)\n    return x\n"
        "def boom():\n    raise RuntimeError('step failed')\n",
    )
    spec = load_timetable(path).jobs[0]
    sink = Collect()
    from supertask.engine import Scheduler

    sched = Scheduler(sinks=[sink])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        job = sched.add_spec(spec)
        with trio.fail_after(20):
            await job.wait()
        sched.stop()
    assert sys.modules["seen_steps"].list == [1, "2"]
    (run,) = sink.runs
    assert run.outcome == "failed" and run.error == "step 'boom': RuntimeError: step failed"  # type: ignore[attr-defined]


async def test_misfire_runs_once_for_the_missed_fire_times(clock: object) -> None:
    start = dt.datetime(2027, 1, 1, 12, 0, 30, tzinfo=dt.UTC)
    sink = Collect()
    sched = virtual_scheduler(start, sinks=[sink])
    last = dt.datetime(2027, 1, 1, 11, 50, 0, tzinfo=dt.UTC)  # ten minutes ago
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        sched.add(Cron(expr="0 * * * * *", tz="UTC"), lambda: "ran", count=2, last_fired=last)
        await sched.wait_idle()
        sched.stop()
    skipped = [r for r in sink.runs if r.outcome == "skipped"]  # type: ignore[attr-defined]
    ran = [r for r in sink.runs if r.outcome == "ok"]  # type: ignore[attr-defined]
    assert sum(r.skipped for r in skipped) == 9  # 11:51 … 11:59 coalesced
    assert [r.scheduled for r in ran] == [  # type: ignore[attr-defined]
        dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC),  # the latest missed instant, at once
        dt.datetime(2027, 1, 1, 12, 1, tzinfo=dt.UTC),
    ]


async def test_same_job_name_in_two_namespaces_side_by_side(clock: object, tmp_path: Path) -> None:
    a = load_timetable(write(tmp_path, "a.yaml", "jobs:\n  - {name: hello, when: 1s, count: 2, run: 'python:1'}\n"))
    b = load_timetable(write(tmp_path, "b.yaml", "jobs:\n  - {name: hello, when: 1s, count: 3, run: 'python:2'}\n"))
    assert a.namespace.id != b.namespace.id
    sink = Collect()
    sched = virtual_scheduler(sinks=[sink])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        ja, jb = sched.add_spec(a.jobs[0]), sched.add_spec(b.jobs[0])
        await sched.wait_idle()
        sched.stop()
    assert (ja.name, ja.namespace, jb.name, jb.namespace) == ("hello", a.namespace.id, "hello", b.namespace.id)
    assert sched.get_job("hello", a.namespace.id) is ja and sched.get_job("hello", b.namespace.id) is jb
    by_ns = sorted((r.namespace, r.result) for r in sink.runs)  # type: ignore[attr-defined]
    assert by_ns == sorted([(a.namespace.id, 1)] * 2 + [(b.namespace.id, 2)] * 3)


async def test_task_file_dependencies_are_installed_by_uv_for_that_job_alone(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "deps.py",
        '# /// script\n# dependencies = ["tomli-w==1.2.0"]\n# ///\n'
        '# /// task\n# when = "once"\n# [options]\n# value = 42\n# ///\n'
        "def run(value):\n    import tomli_w\n    print(tomli_w.dumps({'value': value}), end='')\n",
    )
    with pytest.raises(ImportError):
        import tomli_w  # noqa: F401  (not installed here: only the job's own environment has it)
    spec = load_timetable(path).jobs[0]
    sink = Collect()
    from supertask.engine import Scheduler

    sched = Scheduler(sinks=[sink])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        job = sched.add_spec(spec)
        with trio.fail_after(120):
            await job.wait()
        sched.stop()
    assert b"".join(sink.out) == b"value = 42\n", sink.runs


def test_names_are_unique_within_a_namespace(tmp_path: Path) -> None:
    with pytest.raises(TimetableError, match=r"n.yaml:3: at jobs\[1\].name: duplicate job 'a' \(also jobs\[0\]\)"):
        text = "jobs:\n  - {name: a, id: x, run: cmd:true}\n  - {name: a, id: y, run: cmd:true}\n"
        load_timetable(write(tmp_path, "n.yaml", text))
    legacy = (
        "tasks:\n"
        "  - {meta: {id: one, name: same}, on: {schedule: [{cron: '* * * * *'}, {cron: '0 0 * * *'}]}, steps: []}\n"
        "  - {meta: {id: two, name: same}, on: {schedule: [{cron: '* * * * *'}]}, steps: []}\n"
    )
    t = load_timetable(write(tmp_path, "l.yaml", legacy))
    assert [(j.meta.id, j.meta.name) for j in t.jobs] == [("one", "same"), ("one#2", "same#2"), ("two", "same (two)")]
