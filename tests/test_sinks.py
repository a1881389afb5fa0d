"""Sink URLs, encodings, the JSON lines and stdout sinks, and the scheduler's sink hooks (no network here)."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from typing import Any

import msgspec
import pytest
import trio

from supertask import Scheduler
from supertask.errors import SinkError
from supertask.sinks import Sink, StdoutSink, parse_sink
from supertask.sinks._encode import encode_value
from supertask.sinks.jsonl import JsonlSink
from supertask.sinks.mqtt import MqttSink

from .conftest import virtual_scheduler

FORMS = (
    "expected stdout, jsonl:PATH or mqtt[s]://[user:pass@]host[:port]/topic"
    "[?qos=0|1|2&retain=0|1&format=auto|text|json|msgpack]"
)


# ------------------------------------------------------------ URLs


def test_parse_mqtt_url_with_everything() -> None:
    sink = parse_sink("mqtt://ann:s%40cret@broker.example:1884/plant/{namespace}/{job}?qos=2&retain=1&format=json")
    assert isinstance(sink, MqttSink)
    assert (sink.host, sink.port, sink.topic) == ("broker.example", 1884, "plant/{namespace}/{job}")
    assert (sink.qos, sink.retain, sink.format) == (2, True, "json")
    assert sink._client._username == b"ann" and sink._client._password == b"s@cret"
    assert "s@cret" not in sink.url and "***" in sink.url


def test_parse_mqtt_defaults() -> None:
    sink = parse_sink("mqtt://localhost/telemetry/sine")
    assert isinstance(sink, MqttSink)
    assert (sink.port, sink.qos, sink.retain, sink.format, sink.wants_runs) == (1883, 0, False, "auto", False)
    assert sink.linger == 0.0
    assert mqtt_linger("mqtt://localhost/t?linger=5ms") == 0.005
    assert mqtt_linger("mqtt://localhost/t?linger=20ms") == 0.02
    assert parse_sink("mqtt://localhost/t", events=True).wants_runs


def mqtt_linger(url: str) -> float:
    sink = parse_sink(url)
    assert isinstance(sink, MqttSink)
    return sink.linger


def test_parse_mqtts_defaults_to_port_8883_with_tls() -> None:
    sink = parse_sink("mqtts://localhost/t?insecure=1")
    assert isinstance(sink, MqttSink)
    assert sink.port == 8883 and sink._client._ssl


def test_parse_stdout_and_jsonl(tmp_path: Any) -> None:
    assert isinstance(parse_sink("stdout"), StdoutSink)
    sink = parse_sink(f"jsonl:{tmp_path}/out.jsonl")
    assert isinstance(sink, JsonlSink) and sink.path == f"{tmp_path}/out.jsonl"
    sink.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("kafka://x/y", f"invalid sink 'kafka://x/y': {FORMS}"),
        ("", f"invalid sink '': {FORMS}"),
        ("jsonl:", "invalid sink 'jsonl:': jsonl needs a file path; expected jsonl:PATH"),
        (
            "mqtt://localhost",
            "invalid sink 'mqtt://localhost': no topic; expected mqtt://host[:port]/topic, "
            "e.g. mqtt://localhost/telemetry/{job}",
        ),
        ("mqtt:///t", "invalid sink 'mqtt:///t': no broker host; expected mqtt://[user:pass@]host[:port]/topic"),
        (
            "mqtt://localhost:99999/t",
            "invalid sink 'mqtt://localhost:99999/t': Port out of range 0-65535; "
            "expected mqtt://[user:pass@]host[:port]/topic",
        ),
        (
            "mqtt://localhost:abc/t",
            "invalid sink 'mqtt://localhost:abc/t': Port could not be cast to integer value as 'abc'; "
            "expected mqtt://[user:pass@]host[:port]/topic",
        ),
        ("mqtt://localhost/t?qos=3", "invalid sink 'mqtt://localhost/t?qos=3': qos='3': expected 0, 1 or 2"),
        (
            "mqtt://localhost/t?format=xml",
            "invalid sink 'mqtt://localhost/t?format=xml': format='xml': expected auto, text, json or msgpack",
        ),
        (
            "mqtt://localhost/t?retain=maybe",
            "invalid sink 'mqtt://localhost/t?retain=maybe': retain='maybe': expected 1 or 0 (true/false)",
        ),
        (
            "mqtt://localhost/a/+/b",
            "invalid sink 'mqtt://localhost/a/+/b': a topic to publish to cannot contain the wildcards '+' or '#'",
        ),
        (
            "mqtt://localhost/a/#",
            "invalid sink 'mqtt://localhost/a/#': a topic to publish to cannot contain the wildcard '#'",
        ),
        (
            "mqtt://localhost/t/{user}",
            "invalid sink 'mqtt://localhost/t/{user}': unknown placeholder {user} in topic 't/{user}'; "
            "expected {job}, {namespace}, {host}",
        ),
        (
            "mqtt://localhost/t?ca=/x.pem",
            "invalid sink 'mqtt://localhost/t?ca=/x.pem': option 'ca' needs TLS: use mqtts://",
        ),
        (
            "mqtt://localhost/t?speed=fast",
            "invalid sink 'mqtt://localhost/t?speed=fast': unknown option 'speed'; expected one of qos, retain, "
            "format, client_id, keepalive, buffer, overflow, flush_timeout, events_topic, reconnect_max, "
            "connect_timeout, inflight, linger",
        ),
        (
            "mqtt://localhost/t?buffer=0",
            "invalid sink 'mqtt://localhost/t?buffer=0': buffer='0': expected a whole number of messages >= 1",
        ),
        (
            "mqtt://localhost/t?flush_timeout=soon",
            "invalid sink 'mqtt://localhost/t?flush_timeout=soon': flush_timeout='soon': "
            "expected a duration such as 5s or 500ms",
        ),
        (
            "mqtt://localhost/t?qos=1&format=json&qos=2",
            "invalid sink 'mqtt://localhost/t?qos=1&format=json&qos=2': option 'qos' given twice ('1' and '2')",
        ),
        (
            "mqtt://u:hunter2@localhost/t?qos=9",
            "invalid sink 'mqtt://u:***@localhost/t?qos=9': qos='9': expected 0, 1 or 2",
        ),
        (
            "mqtts://localhost/t?ca=/nonexistent/ca.pem",
            "invalid sink 'mqtts://localhost/t?ca=/nonexistent/ca.pem': cannot load TLS files: "
            "No such file or directory",
        ),
    ],
)
def test_bad_sink_urls(url: str, message: str) -> None:
    with pytest.raises(SinkError) as info:
        parse_sink(url)
    assert str(info.value) == message


def test_jsonl_unwritable_path() -> None:
    with pytest.raises(SinkError, match=r"^cannot open jsonl:/nonexistent/dir/x.jsonl for appending: No such file"):
        parse_sink("jsonl:/nonexistent/dir/x.jsonl")


def test_cli_bad_emit_is_a_one_line_error() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "supertask", "run", "-c", "python:1", "--emit", "mqtt://localhost/t?qos=5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert r.stderr == "supertask: error: invalid sink 'mqtt://localhost/t?qos=5': qos='5': expected 0, 1 or 2\n"
    assert r.stdout == ""


# ------------------------------------------------------------ encodings


class Point(msgspec.Struct):
    x: float
    y: float


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (0.5, "auto", b"0.5"),
        (0.1 + 0.2, "auto", b"0.30000000000000004"),
        (42, "auto", b"42"),
        ("hi there", "auto", b"hi there"),
        (b"\x00raw", "auto", b"\x00raw"),
        ({"t": 1.5, "v": [1, 2]}, "auto", b'{"t":1.5,"v":[1,2]}'),
        (Point(1.0, 2.0), "auto", b'{"x":1.0,"y":2.0}'),
        (True, "auto", b"true"),
        ("hi", "json", b'"hi"'),
        (0.5, "json", b"0.5"),
        ({"a": 1}, "text", b"{'a': 1}"),
        ({"a": object}, "json", b'{"a":"<class \'object\'>"}'),
    ],
)
def test_encode_value(value: Any, fmt: Any, expected: bytes) -> None:
    assert encode_value(value, fmt) == expected


def test_encode_msgpack_round_trips() -> None:
    assert msgspec.msgpack.decode(encode_value({"t": 0.25, "v": -1}, "msgpack")) == {"t": 0.25, "v": -1}


# ------------------------------------------------------------ jsonl and stdout sinks on virtual time


async def test_jsonl_sink_writes_results_and_events(clock: Any, tmp_path: Any) -> None:
    path = tmp_path / "out.jsonl"
    sink = JsonlSink(path, events=True)
    sched = virtual_scheduler(sinks=[sink])

    def payload(task: Any) -> Any:
        if task.count == 2:
            raise ValueError("two")
        return {"k": task.count, "t": task.elapsed.total_seconds}

    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        sched.add("10ms", payload, count=4, name="j")
        await sched.wait_idle()
        sched.stop()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    results = [r for r in lines if "value" in r]
    events = [r for r in lines if "event" in r]
    assert [r["value"] for r in results] == [{"k": 0, "t": 0.0}, {"k": 1, "t": 0.01}, {"k": 3, "t": 0.03}]
    assert {r["job"] for r in results} == {"j"} and [r["count"] for r in results] == [0, 1, 3]
    assert [e["event"] for e in events] == ["started", "finished"] * 2 + ["started", "failed"] + ["started", "finished"]
    failed = events[5]
    assert failed["error"] == "ValueError: two" and failed["outcome"] == "failed"
    assert all(e["lateness"] >= 0 for e in events) and all("duration" in e for e in events[1::2])


async def test_run_records_of_one_run_agree_on_scheduled_and_started(clock: Any, tmp_path: Any) -> None:
    """Each reading of wall minus monotonic time differs a little: the started and finished
    records of a run, and its result's record, must still carry the same instants."""
    from supertask.engine.clock import TrioClock

    class JitteryClock(TrioClock):
        calls = 0

        def wall(self) -> float:
            self.calls += 1
            return super().wall() + (self.calls % 3) * 3e-6  # as two clocks read in turn

    path = tmp_path / "out.jsonl"
    sched = Scheduler(clock=JitteryClock(dt.datetime(2027, 1, 1, tzinfo=dt.UTC)), sinks=[JsonlSink(path, events=True)])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        sched.add("10ms", lambda task: task.count, count=6, name="j")
        await sched.wait_idle()
        sched.stop()
    by_tick: dict[int, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        by_tick.setdefault(record["tick"], []).append(record)
    assert len(by_tick) == 6
    for records in by_tick.values():
        assert len(records) == 3  # started, result, finished
        assert len({r["scheduled"] for r in records}) == 1, records
        assert len({r["started"] for r in records if "started" in r}) == 1, records


async def test_jsonl_appends(clock: Any, tmp_path: Any) -> None:
    path = tmp_path / "out.jsonl"
    for _ in range(2):
        sched = virtual_scheduler(sinks=[JsonlSink(path)])
        async with trio.open_nursery() as n:
            await n.start(sched.serve)
            sched.add("10ms", lambda task: task.count, count=3)
            await sched.wait_idle()
            sched.stop()
    assert [json.loads(x)["value"] for x in path.read_text().splitlines()] == [0, 1, 2, 0, 1, 2]


async def test_stdout_sink_prints_events_as_json_lines(clock: Any) -> None:
    out = io.StringIO()
    sched = virtual_scheduler(sinks=[StdoutSink(out, events=True)])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        sched.add("10ms", lambda task: task.count * 10, count=2, name="s")
        await sched.wait_idle()
        sched.stop()
    lines = out.getvalue().splitlines()
    assert lines[1] == "0" and lines[4] == "10"  # each result comes before its run's "finished" record
    kinds = [json.loads(x)["event"] for i, x in enumerate(lines) if i not in (1, 4)]
    assert kinds == ["started", "finished", "started", "finished"]


# ------------------------------------------------------------ the scheduler's sink hooks


class ServingSink(Sink):
    def __init__(self) -> None:
        self.log: list[str] = []
        self.results: list[Any] = []

    def result(self, task: Any, value: Any) -> None:
        self.results.append(value)
        self.log.append("result")

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.log.append("serve")
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            self.log.append("serve ended")

    async def aclose(self) -> None:
        self.log.append("aclose")
        await trio.sleep(1)  # I/O during close: serve is still alive
        self.log.append("aclose done")


class BrokenSink(Sink):
    def result(self, task: Any, value: Any) -> None:
        pass

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep(0.015)
        raise RuntimeError("sink crashed")


class SinkBrokenAtStart(Sink):
    def result(self, task: Any, value: Any) -> None:
        pass

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        raise OSError("no such device")


async def test_sink_serve_runs_before_jobs_and_outlives_aclose(clock: Any) -> None:
    sink = ServingSink()
    sched = virtual_scheduler(sinks=[SinkBrokenAtStart(), sink, BrokenSink()])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        sched.add("10ms", lambda task: task.count, count=5)
        await sched.wait_idle()
        sched.stop()
    assert sink.log == ["serve"] + ["result"] * 5 + ["aclose", "aclose done", "serve ended"]
    assert sink.results == [0, 1, 2, 3, 4]  # the crashed sinks stopped nothing


def test_encode_seconds_of_task_elapsed_as_numbers() -> None:
    from supertask.engine.task import Elapsed

    secs = Elapsed(0.25).total_seconds  # a float subclass, callable
    assert encode_value(secs, "auto") == b"0.25"
    assert encode_value({"t": secs}, "json") == b'{"t":0.25}'
    assert msgspec.msgpack.decode(encode_value({"t": secs}, "msgpack")) == {"t": 0.25}


def test_cli_emit_events_on_stdout_and_jsonl(tmp_path: Any) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "supertask",
            "run",
            "-c",
            "python:task.count * 2",
            "--when=10ms",
            "--count",
            "3",
            "--emit-events",
            "--emit",
            "stdout",
            "--emit",
            "jsonl:out.jsonl",
            "--name",
            "dbl",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [x for x in lines if not x.startswith("{")] == ["0", "2", "4"]
    events = [json.loads(x) for x in lines if x.startswith("{")]
    assert [e["event"] for e in events] == ["started", "finished"] * 3
    assert all(e["job"] == "dbl" for e in events) and [e["result"] for e in events[1::2]] == [0, 2, 4]
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [x["value"] for x in records if "value" in x] == [0, 2, 4]
    assert len([x for x in records if "event" in x]) == 6


async def test_jobs_sink_routes_by_job_name(clock: Any, tmp_path: Any) -> None:
    from supertask.sinks import JobsSink

    a, b = io.StringIO(), io.StringIO()
    sched = virtual_scheduler(sinks=[JobsSink(StdoutSink(a), {"a"}), JobsSink(StdoutSink(b, events=True), ["b"])])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        sched.add("10ms", lambda task: f"a{task.count}", count=2, name="a")
        sched.add("10ms", lambda task: f"b{task.count}", count=1, name="b")
        await sched.wait_idle()
        sched.stop()
    assert a.getvalue() == "a0\na1\n"
    lines = b.getvalue().splitlines()
    assert lines[1] == "b0" and [json.loads(x)["event"] for x in (lines[0], lines[2])] == ["started", "finished"]


class FakeTask:
    name = "j"


@pytest.mark.parametrize(
    ("overflow", "kept"), [("drop-oldest", [b"2", b"3", b"4"]), ("drop-newest", [b"0", b"1", b"2"])]
)
def test_mqtt_buffer_overflow_rules(overflow: str, kept: list[bytes], caplog: pytest.LogCaptureFixture) -> None:
    sink = parse_sink(f"mqtt://127.0.0.1:1/t?buffer=3&overflow={overflow}")  # never served: nothing is sent
    assert isinstance(sink, MqttSink)
    for k in range(5):
        sink.result(FakeTask(), k)  # type: ignore[arg-type]
    st = sink.statistics()
    assert (st.accepted, st.dropped, st.buffered, st.undelivered) == (5, 2, 3, 5)
    assert [payload for _, payload in sink._buffer] == kept
    assert any("buffer of 3 messages full" in r.getMessage() for r in caplog.records)


def test_stdout_sink_counts_error_output_repeated_by_a_jobs_runs(caplog: pytest.LogCaptureFixture) -> None:
    from supertask.engine.task import Task
    from supertask.sinks import StdoutSink

    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    sink = StdoutSink(err=err)

    def task(name: str, count: int, namespace: str | None = None) -> Task:
        return Task(name, count, count, {}, 0.0, 0.0, 0.0, None, None, namespace)  # type: ignore[arg-type]

    for k in range(8):
        sink.error_output(task("backup", k, "a"), b"connection refused\n")
    sink.error_output(task("backup", 0, "b"), b"connection refused\n")  # another job: shown
    sink.error_output(task("backup", 8, "a"), b"line 1\n")
    sink.error_output(task("backup", 8, "a"), b"line 1\n")  # the same run: always shown
    sink.close()
    shown = err.buffer.getvalue().decode()  # type: ignore[attr-defined]
    assert shown.count("connection refused") == 5 + 1
    assert shown.count("line 1") == 2
    assert "job 'backup' in namespace a: the same error output came from 3 more run(s)" in caplog.text
