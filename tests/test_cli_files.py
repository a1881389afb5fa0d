"""The file-based commands through real subprocesses: run (./supertask.yaml, --file, https://, --store), validate,
list-namespaces, list-jobs, history; hot reload; SIGKILL; misfire after a restart."""

from __future__ import annotations

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CMD = [sys.executable, "-m", "supertask"]
FIXTURES = Path(__file__).parent / "fixtures" / "original"
PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["XDG_DATA_HOME"] = str(tmp_path / "data")
    e.pop("SUPERTASK_STORE", None)
    return e


def st(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


TIMETABLE = """\
meta:
  namespace: ops
jobs:
  - name: hello
    run: "cmd:echo hello $WHO"
    env: {WHO: world}
  - name: count
    when: 50ms
    count: 3
    run: "python:print('count', task.count)"
"""


def test_run_without_arguments_runs_supertask_yaml_and_records_history(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "supertask.yaml").write_text(TIMETABLE)
    r = st("run", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["count 0", "count 1", "count 2", "hello world"]
    assert (tmp_path / "data" / "supertask" / "supertask.db").is_file()  # the default store
    ns = st("list-namespaces", env=env)
    assert ns.stdout.splitlines()[1].split()[:3] == ["ops", "2", "1"]  # 2 jobs, 1 run row (count: a summary)
    jobs = st("list-jobs", "--ns=ops", env=env)
    assert [line.split()[0] for line in jobs.stdout.splitlines()] == ["job", "count", "hello"]
    hist = st("history", "--ns=ops", "--job=hello", "--last", "20", "--json", env=env)
    (row,) = json.loads(hist.stdout)
    assert (row["job"], row["outcome"], row["output"], row["namespace"]) == ("hello", "ok", "hello world\n", "ops")
    summary = json.loads(st("history", "--ns=ops", "--job=count", "--json", env=env).stdout)
    assert [(s["runs"], s["ok"]) for s in summary] == [(3, 3)]


def test_history_names_namespaces_and_rejects_unknown_ones(tmp_path: Path, env: dict[str, str]) -> None:
    for ns in ("n1", "n2"):
        text = f"meta: {{namespace: {ns}}}\njobs:\n  - name: a\n    run: 'cmd:echo {ns}'\n"
        (tmp_path / f"{ns}.yaml").write_text(text)
        assert st("run", "--file", f"{ns}.yaml", env=env, cwd=tmp_path).returncode == 0
    both = st("history", "--job=a", env=env).stdout.splitlines()
    assert both[0].split()[:3] == ["namespace", "scheduled", "job"]
    assert [line.split()[0] for line in both[1:]] == ["n1", "n2"]
    one = st("history", "--ns=n1", env=env).stdout.splitlines()
    assert one[0].split()[0] == "scheduled" and len(one) == 2
    for args, message in (
        (["--ns=n3"], "no namespace 'n3' in sqlite://"),
        (["--ns=n1", "--job=b"], "no job 'b' in namespace 'n1' of sqlite://"),
    ):
        r = st("history", *args, env=env)
        assert (r.returncode, r.stdout) == (2, "") and r.stderr.startswith(f"supertask: error: {message}"), r.stderr


def test_no_payload_and_no_timetable_is_a_usage_error(tmp_path: Path, env: dict[str, str]) -> None:
    r = st("run", env=env, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("supertask: error: no payload given and no supertask.yaml here")
    v = st("validate", env=env, cwd=tmp_path)
    assert v.returncode == 2
    assert v.stderr.startswith("supertask: error: no file given and no supertask.yaml here"), v.stderr


@pytest.mark.parametrize("suffix", ["yml", "json", "toml"])
def test_run_file_in_other_formats(tmp_path: Path, env: dict[str, str], suffix: str) -> None:
    doc = {"meta": {"namespace": f"ns-{suffix}"}, "jobs": [{"name": "a", "run": f"cmd:echo {suffix}"}]}
    if suffix == "toml":
        text = f'[meta]\nnamespace = "ns-{suffix}"\n[[jobs]]\nname = "a"\nrun = "cmd:echo {suffix}"\n'
    else:
        text = json.dumps(doc)
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / f"timetable.{suffix}").write_text(text)
    r = st("run", "--file", f"ops/timetable.{suffix}", env=env, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, f"{suffix}\n"), r.stderr


def test_validate(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "timetable.yaml").write_text(TIMETABLE)
    r = st("validate", "--file", "ops/timetable.yaml", env=env, cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == f"{tmp_path}/ops/timetable.yaml: ok, timetable, namespace ops, 2 job(s)"
    (tmp_path / "ops" / "timetable.yaml").write_text(TIMETABLE.replace("when: 50ms", "when: 50 parsecs"))
    r = st("validate", "--file", "ops/timetable.yaml", env=env, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(
        "supertask: error: ops/timetable.yaml:8: at jobs[1].when: invalid when '50 parsecs': expected once,"
    )
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "data").exists()  # validate stores nothing
    listed = st("list-namespaces", env=env)
    assert (listed.returncode, listed.stdout) == (0, "")
    assert listed.stderr == f"no namespaces in sqlite://{tmp_path}/data/supertask/supertask.db\n"
    assert not (tmp_path / "data").exists()  # nor do the listing commands


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(root), **k)  # type: ignore[arg-type]

        def log_message(self, *a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


def test_run_remote_timetable(http_root: tuple[str, Path], env: dict[str, str]) -> None:
    base, root = http_root
    (root / "timetable.yaml").write_text("jobs:\n  - name: remote\n    run: cmd:echo from afar\n")
    r = st("run", "--file", f"{base}/timetable.yaml", env=env)
    assert (r.returncode, r.stdout) == (0, "from afar\n"), r.stderr
    (line,) = st("list-namespaces", "--json", env=env).stdout and json.loads(
        st("list-namespaces", "--json", env=env).stdout
    )
    assert line["source"] == f"{base}/timetable.yaml" and len(line["id"]) == 32  # a digest of host-user-URL
    missing = st("run", "--file", f"{base}/missing.yaml", env=env)
    assert missing.returncode == 2
    assert missing.stderr == f"supertask: error: cannot fetch {base}/missing.yaml: HTTP 404 File not found\n"


def test_task_file_with_when_override(env: dict[str, str]) -> None:
    p = subprocess.Popen(
        [*CMD, "run", "--file", str(FIXTURES / "hellotask.py"), "--when=@daily"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 130 and out == "", err
    jobs = json.loads(st("list-jobs", "--json", env=env).stdout)
    assert [(j["name"], j["when"]) for j in jobs] == [("hellotask", "@daily")]
    assert "GREETING_TARGET" not in os.environ


def test_run_with_postgresql_store(tmp_path: Path, env: dict[str, str]) -> None:
    schema = f"st_cli_{uuid.uuid4().hex[:10]}"
    url = f"{PG}?schema={schema}"
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "timetable.yaml").write_text(TIMETABLE)
    try:
        r = st("run", "--store", url, "--file", "ops/timetable.yaml", env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        hist = json.loads(st("history", "--store", url, "--ns=ops", "--job=hello", "--json", env=env).stdout)
        assert [(h["outcome"], h["output"]) for h in hist] == [("ok", "hello world\n")]
        assert not (tmp_path / "data").exists()
    finally:
        import psycopg

        with psycopg.connect(PG, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_hot_reload_adds_changes_removes_and_survives_a_bad_edit(tmp_path: Path, env: dict[str, str]) -> None:
    tt = tmp_path / "supertask.yaml"
    tt.write_text(
        "jobs:\n"
        "  - {name: steady, when: 100ms, run: \"python:print('steady', task.count)\"}\n"
        "  - {name: changing, when: 100ms, run: \"python:print('v1')\"}\n"
        "  - {name: leaving, when: 100ms, run: \"python:print('leaving')\"}\n"
    )
    out_path = tmp_path / "out.txt"
    with out_path.open("w") as out:
        p = subprocess.Popen([*CMD, "run"], stdout=out, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        try:
            _wait_for(lambda: "v1" in out_path.read_text())
            time.sleep(1.2)  # distinct mtime
            tt.write_text(
                "jobs:\n"
                "  - {name: steady, when: 100ms, run: \"python:print('steady', task.count)\"}\n"
                "  - {name: changing, when: 100ms, run: \"python:print('v2')\"}\n"
                "  - {name: new, when: 100ms, run: \"python:print('new')\"}\n"
            )
            _wait_for(lambda: "new" in out_path.read_text() and "v2" in out_path.read_text())
            mark = len(out_path.read_text())
            tt.write_text("jobs:\n  - {name: broken, when: 5 parsecs, run: cmd:true}\n")
            time.sleep(2.5)
            after = out_path.read_text()[mark:]
            assert "v2" in after and "new" in after  # the previous version keeps running
            assert "leaving" not in after
        finally:
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=20)
    text = out_path.read_text()
    steady = [int(line.split()[1]) for line in text.splitlines() if line.startswith("steady")]
    assert steady == list(range(len(steady))) and len(steady) > 20  # never restarted: one unbroken count
    assert "reloaded: 1 added, 1 changed, 1 removed" in err
    assert "reload failed, the previous version keeps running:" in err and "'5 parsecs'" in err


def test_sigkill_loses_no_recorded_run_and_misfire_uses_last_fired(tmp_path: Path, env: dict[str, str]) -> None:
    tt = tmp_path / "supertask.yaml"
    tt.write_text(
        "meta: {namespace: crash}\n"
        "jobs:\n"
        '  - {name: fast, when: 20ms, history: all, run: "python:task.count"}\n'
        "  - {name: secs, when: '* * * * * *', run: \"python:task.count\"}\n"
    )
    db = tmp_path / "data" / "supertask" / "supertask.db"
    p = subprocess.Popen([*CMD, "run", "-q"], stdout=subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        _wait_for(lambda: db.exists() and len(json.loads(st("history", "--ns=crash", "--job=secs", "--json",
                                                                env=env).stdout or "[]")) >= 2)  # fmt: skip
        before = json.loads(st("history", "--ns=crash", "--job=fast", "--last", "100000", "--json", env=env).stdout)
        assert len(before) > 20
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after = json.loads(st("history", "--ns=crash", "--job=fast", "--last", "100000", "--json", env=env).stdout)
    assert {r["count"] for r in before} <= {r["count"] for r in after}  # nothing reported was lost
    last_secs = json.loads(st("history", "--ns=crash", "--job=secs", "--json", env=env).stdout)[-1]
    time.sleep(3.2)  # at least two fire times of `secs` pass while nothing runs
    tt.write_text(
        "meta: {namespace: crash}\njobs:\n  - {name: secs, when: '* * * * * *', run: \"python:task.count\"}\n"
    )
    import datetime as dt

    p = subprocess.Popen([*CMD, "run", "-q"], stdout=subprocess.DEVNULL, env=env, cwd=tmp_path)

    def ran_again() -> bool:
        rows = json.loads(st("history", "--ns=crash", "--job=secs", "--json", env=env).stdout)
        return any(r["outcome"] == "ok" and r["scheduled"] > last_secs["scheduled"] for r in rows)

    try:
        _wait_for(ran_again)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=20)
    rows = json.loads(st("history", "--ns=crash", "--job=secs", "--last", "100", "--json", env=env).stdout)
    newer = [r for r in rows if r["scheduled"] > last_secs["scheduled"]]
    skipped = [r for r in newer if r["outcome"] == "skipped"]
    first_run = next(r for r in newer if r["outcome"] == "ok")
    # the fire times missed while nothing ran are counted, from the recorded last-fired instant on ...
    first_missed = dt.datetime.fromisoformat(last_secs["scheduled"]) + dt.timedelta(seconds=1)
    assert dt.datetime.fromisoformat(skipped[0]["scheduled"]) == first_missed
    assert sum(r["skipped"] for r in skipped) >= 2
    # ... and the latest missed one ran at once, late, before any regular tick
    assert first_run["lateness"] > 0.0 and rows.index(first_run) > rows.index(skipped[-1])


def test_command_line_jobs_are_recorded_with_ns_only(tmp_path: Path, env: dict[str, str]) -> None:
    r = st("run", "-c", "echo unrecorded", env=env)
    assert r.returncode == 0 and not (tmp_path / "data").exists()
    r = st(
        "run",
        "--ns",
        "adhoc",
        "--name",
        "greet",
        "--when=50ms",
        "--count",
        "2",
        "--history",
        "all",
        "-c",
        "echo hi",
        env=env,
    )
    assert (r.returncode, r.stdout) == (0, "hi\nhi\n"), r.stderr
    rows = json.loads(st("history", "--ns=adhoc", "--json", env=env).stdout)
    ran = [(h["job"], h["count"], h["output"]) for h in rows if h["outcome"] == "ok"]
    assert ran == [("greet", 0, "hi\n"), ("greet", 1, "hi\n")]


def test_timeout_env_and_failures_from_a_timetable(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "supertask.yaml").write_text(
        "meta: {namespace: t}\n"
        "jobs:\n"
        "  - {name: slow, run: 'cmd:sleep 5', timeout: 200ms}\n"
        "  - {name: bad, run: 'cmd:echo oops >&2; exit 3'}\n"
        "  - {name: envy, run: 'cmd:echo $ONLY_HERE', env: {ONLY_HERE: yes-here}}\n"
        "  - {name: other, run: 'cmd:echo [$ONLY_HERE]'}\n"
    )
    t0 = time.monotonic()
    r = st("run", env=env, cwd=tmp_path)
    assert time.monotonic() - t0 < 4.5
    assert r.returncode == 1 and sorted(r.stdout.splitlines()) == ["[]", "yes-here"]
    rows = {h["job"]: h for h in json.loads(st("history", "--ns=t", "--json", env=env).stdout)}
    assert rows["slow"]["outcome"] == "timed-out"
    assert rows["slow"]["error"].startswith("timed out after 0.2s")
    assert (rows["bad"]["outcome"], rows["bad"]["exit_code"], rows["bad"]["error"]) == (
        "failed",
        3,
        "exit code 3: oops",
    )


def test_task_file_runs_with_command_line_overrides(env: dict[str, str]) -> None:
    r = st("run", "--file", str(FIXTURES / "hellotask.py"), "--when=100ms", "--count", "2", "-q", env=env)
    assert (r.returncode, r.stdout) == (0, "hello from the task file\n" * 4), r.stderr  # options: repeat = 2
    r = st("run", "--file", str(FIXTURES / "hellotask.py"), "--mode", "relaxed", env=env)
    assert r.returncode == 2
    assert r.stderr == (
        "supertask: error: --mode applies to a payload given on the command line: "
        "with timetable files, set it per job in the file\n"
    )


def test_original_format_through_the_command_line(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "jobs.py").write_text("def greet(name, punctuation='.'):\n    return f'hello {name}{punctuation}'\n")
    (tmp_path / "timetable.yaml").write_text(
        "meta: {type: supertask-timetable, version: 1}\n"
        "tasks:\n"
        "  - meta: {id: abc123, name: Greeter, description: Say hello., enabled: true}\n"
        "    on:\n"
        "      schedule:\n"
        "        - cron: '*/5 * * * * * *'\n"
        "    steps:\n"
        "      - {name: greet, uses: python-file, run: 'jobs.py:greet', args: [world], kwargs: {punctuation: '!'}}\n"
        "      - {name: never, if: false, uses: python-entrypoint, run: 'no.such.module:fn'}\n"
        "  - meta: {id: off, name: Disabled, description: Not run., enabled: false}\n"
        "    on: {schedule: [{cron: '* * * * *'}]}\n"
        "    steps: [{name: x, uses: python-entrypoint, run: 'os:getcwd'}]\n"
    )
    r = st(
        "run",
        "--file",
        "timetable.yaml",
        "--when",
        "100ms",
        "--count",
        "2",
        "--history",
        "all",
        "-q",
        env=env,
        cwd=tmp_path,
    )
    assert (r.returncode, r.stdout) == (0, "hello world!\n" * 2), r.stderr
    jobs = json.loads(st("list-jobs", "--json", env=env).stdout)
    assert sorted((j["id"], j["name"], j["enabled"]) for j in jobs) == [
        ("abc123", "Greeter", True),
        ("off", "Disabled", False),
    ]
    hist = json.loads(st("history", "--job=abc123", "--json", env=env).stdout)  # by id, too
    assert [(h["job"], h["result"]) for h in hist if h.get("outcome") == "ok"] == [("Greeter", "hello world!")] * 2


async def test_remote_timetable_reloads_when_its_content_changes(http_root: tuple[str, Path]) -> None:
    import trio

    from supertask.cli._files import _reload_loop, add_job
    from supertask.engine import Scheduler
    from supertask.sinks.store import StoreSink
    from supertask.store import open_store
    from supertask.timetable import load_timetable

    base, root = http_root
    doc = root / "t.yaml"
    doc.write_text("jobs:\n  - {name: a, when: 50ms, run: 'python:1'}\n")
    table = load_timetable(f"{base}/t.yaml")
    sink = StoreSink(open_store("memory://"), table.jobs)
    sched = Scheduler(sinks=[sink])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        add_job(sched, table.jobs[0])
        n.start_soon(_reload_loop, sched, sink, table, None, lambda j: j, 0.1)
        await trio.sleep(0.3)
        doc.write_text("jobs:\n  - {name: b, when: 50ms, run: 'python:2'}\n")
        with trio.fail_after(10):
            while sched.get_job("b", table.namespace.id) is None:
                await trio.sleep(0.05)
        assert sched.get_job("a", table.namespace.id) is None
        doc.write_text("jobs: [[[")  # invalid: the previous version keeps running
        await trio.sleep(0.4)
        assert sched.get_job("b", table.namespace.id) is not None
        sched.stop()
        n.cancel_scope.cancel()
