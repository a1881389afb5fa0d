"""The MQTT sink against real Mosquitto brokers: every value arrives, broker restarts, overflow, TLS, the CLI."""

from __future__ import annotations

import json
import logging
import math
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as paho
import pytest
import trio

import supertask
from supertask.sinks import parse_sink
from supertask.sinks.mqtt import MqttSink

from .mqtt_support import BROKER, Collector, free_port, private_broker, unique_topic

CMD = [sys.executable, "-m", "supertask"]
URL = f"mqtt://{BROKER[0]}:{BROKER[1]}"


def mqtt_sink(url: str, **kwargs: Any) -> MqttSink:
    sink = parse_sink(url, **kwargs)
    assert isinstance(sink, MqttSink)
    return sink


async def run_job(sink: MqttSink, payload: Any, *, when: str = "5ms", count: int = 100, name: str = "job") -> Any:
    async with supertask.open_scheduler(sinks=[sink]) as sched:
        job = sched.add(when, payload, count=count, name=name)
    return job.statistics()


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_every_value_arrives_in_order(qos: int) -> None:
    topic = unique_topic()
    with Collector(topic, qos=qos) as sub:
        sink = mqtt_sink(f"{URL}/{topic}?qos={qos}")
        stats = await run_job(sink, lambda task: task.count + 0.5, count=200, when="2ms")
        got = sub.wait_for(200)
    assert stats.runs == 200
    assert got == [repr(k + 0.5).encode() for k in range(200)]  # text: the float's repr
    st = sink.statistics()
    assert (st.accepted, st.sent, st.dropped, st.undelivered, st.connects) == (200, 200, 0, 0, 1)


async def test_formats_and_topic_template() -> None:
    base = unique_topic()
    with Collector(f"{base}/#") as sub:
        sinks = [
            mqtt_sink(f"{URL}/{base}/json/{{job}}?format=json&qos=1"),
            mqtt_sink(f"{URL}/{base}/msgpack/{{namespace}}/{{job}}?format=msgpack"),
            mqtt_sink(f"{URL}/{base}/text/{{job}}?format=text"),
        ]
        async with supertask.open_scheduler(sinks=sinks) as sched:
            point = lambda task: {"t": task.elapsed.total_seconds, "n": task.count, "k": task.tick}  # noqa: E731
            sched.add("5ms", point, count=5, name="pt+1")
        got = sub.wait_for(15)
    by_topic: dict[str, list[bytes]] = {}
    for t, p in sub.messages:
        by_topic.setdefault(t, []).append(p)
    assert set(by_topic) == {f"{base}/json/pt_1", f"{base}/msgpack/default/pt_1", f"{base}/text/pt_1"}
    decoded = [json.loads(p) for p in by_topic[f"{base}/json/pt_1"]]
    assert [d["n"] for d in decoded] == list(range(5))
    assert all(d["t"] == pytest.approx(d["k"] * 0.005, abs=1e-9) for d in decoded)  # a number, not text
    assert [msgspec.msgpack.decode(p)["n"] for p in by_topic[f"{base}/msgpack/default/pt_1"]] == list(range(5))
    first = by_topic[f"{base}/text/pt_1"][0].decode()  # str() of the dict
    k = decoded[0]["k"]
    assert first == f"{{'t': {k * 0.005!r}, 'n': 0, 'k': {k}}}" or first.startswith(f"{{'t': {k * 0.005:.3f}")
    assert len(got) == 15


async def test_run_events_with_lateness_and_duration() -> None:
    topic = unique_topic()

    async def payload(task: Any) -> int:
        if task.count == 3:
            raise RuntimeError("boom")
        await trio.sleep(0.025 if task.count == 5 else 0)  # overruns: the next ticks are skipped
        return task.count

    with Collector(f"{topic}/#") as sub:
        sink = mqtt_sink(f"{URL}/{topic}?qos=1", events=True)
        stats = await run_job(sink, payload, when="10ms", count=8)
        sub.wait_for(1, topic=f"{topic}/events")
        time.sleep(0.3)
    values = [int(p) for p in sub.payloads(topic)]
    events = [json.loads(p) for p in sub.payloads(f"{topic}/events")]
    assert values == [0, 1, 2, 4, 5, 6, 7]
    kinds = [e["event"] for e in events]
    assert kinds.count("started") == 8 and kinds.count("finished") == 7 and kinds.count("failed") == 1
    assert stats.skipped >= 1 and sum(e.get("skipped", 0) for e in events if e["event"] == "skipped") == stats.skipped
    failed = next(e for e in events if e["event"] == "failed")
    assert failed["error"] == "RuntimeError: boom" and failed["count"] == 3
    finished = [e for e in events if e["event"] == "finished"]
    assert all(e["job"] == "job" and e["lateness"] >= 0 and e["duration"] >= 0 for e in finished)
    assert [e["result"] for e in finished] == [0, 1, 2, 4, 5, 6, 7]
    assert next(e for e in finished if e["count"] == 5)["duration"] >= 0.02


async def test_broker_restart_mid_stream_loses_nothing_at_qos1(tmp_path: Path) -> None:
    topic = unique_topic()
    n = 400  # 2 s at 200 Hz; the broker is away from 0.5 s to 1.2 s
    with private_broker(tmp_path) as broker:
        sub = Collector(topic, port=broker.port, qos=1, client_id=f"sub-{topic[-12:]}", persistent=True)
        sink = mqtt_sink(f"mqtt://127.0.0.1:{broker.port}/{topic}?qos=1&reconnect_max=0.2&client_id=pub-{topic[-12:]}")

        async def restart() -> None:
            await trio.sleep(0.5)
            await trio.to_thread.run_sync(broker.stop)
            await trio.sleep(0.7)
            await trio.to_thread.run_sync(broker.start)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(restart)
            stats = await run_job(sink, lambda task: task.count, count=n)
        got = sub.wait_for(n, timeout=15)
        sub.close()
    received = sorted({int(p) for p in got})
    st = sink.statistics()
    assert stats.runs == n
    assert st.connects >= 2, "the broker restart was not noticed"
    log = (tmp_path / "mosquitto.log").read_text()
    assert f"Client pub-{topic[-12:]} disconnected." in log  # a clean DISCONNECT at the end
    assert (st.dropped, st.undelivered) == (0, 0)
    assert received == list(range(n))  # QoS 1: duplicates allowed, losses not


async def test_buffer_overflow_drops_oldest_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="supertask")
    topic = unique_topic()
    n = 300  # 1.5 s at 200 Hz; the broker is away from 0.3 s to 1.0 s: ~140 messages for a buffer of 40
    with private_broker(tmp_path) as broker:
        sub = Collector(topic, port=broker.port, qos=1, client_id=f"sub-{topic[-12:]}", persistent=True)
        sink = mqtt_sink(f"mqtt://127.0.0.1:{broker.port}/{topic}?qos=1&buffer=40&reconnect_max=0.2")

        async def restart() -> None:
            await trio.sleep(0.3)
            await trio.to_thread.run_sync(broker.stop)
            await trio.sleep(0.7)
            await trio.to_thread.run_sync(broker.start)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(restart)
            await run_job(sink, lambda task: task.count, count=n)
        st = sink.statistics()
        got = {int(p) for p in sub.wait_for(n - st.dropped, timeout=15)}
        sub.close()
    assert st.dropped > 0
    assert st.undelivered == st.dropped
    assert len(got) == n - st.dropped  # everything not dropped arrived
    assert set(range(n - 40, n)) <= got  # drop-oldest: the newest messages always survive
    assert set(range(40)) <= got  # sent before the broker went away
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("buffer of 40 messages full" in w and "dropping the oldest" in w for w in warnings)
    assert any(f"{st.dropped} dropped: buffer full" in w for w in warnings)


async def test_unresponsive_broker_never_blocks_the_job() -> None:
    """A listener that accepts TCP but never answers CONNECT: the job keeps its rate; the loss is reported."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        sink = mqtt_sink(f"mqtt://127.0.0.1:{port}/t?qos=1&flush_timeout=0.3s")
        t0 = time.monotonic()
        stats = await run_job(sink, lambda task: task.count, count=200, when="2ms")
        took = time.monotonic() - t0
    st = sink.statistics()
    assert stats.runs == 200 and stats.skipped < 500  # a blocking connect would skip ~2500 (5 s)
    assert took < 3.0
    assert (st.accepted, st.sent, st.buffered, st.connects) == (200, 0, 200, 0)


async def test_no_connack_times_out_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="supertask")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        sink = mqtt_sink(f"mqtt://127.0.0.1:{port}/t?connect_timeout=0.2s&flush_timeout=0.1s")
        await run_job(sink, lambda task: task.count, count=60, when="10ms")
    messages = [r.getMessage() for r in caplog.records]
    tries = [m for m in messages if "no answer to CONNECT within 0.2s" in m]
    assert len(tries) >= 2  # gave up on the silent listener, and tried again
    assert any("60 of 60 message(s) not delivered" in m for m in messages)


def test_cli_unreachable_broker_job_runs_and_loss_is_reported() -> None:
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    r = subprocess.run(
        [
            *CMD,
            "run",
            "-c",
            "python:task.count",
            "--when=10ms",
            "--count",
            "30",
            "--emit",
            "stdout",
            "--emit",
            f"mqtt://127.0.0.1:{port}/t?flush_timeout=0.5s",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert time.monotonic() - t0 < 10
    assert r.returncode == 0
    assert r.stdout.splitlines() == [str(k) for k in range(30)]
    assert f"supertask: warning: mqtt://127.0.0.1:{port}/t?flush_timeout=0.5s: cannot connect: connection refused" in (
        r.stderr
    )
    assert "30 of 30 message(s) not delivered (0 dropped: buffer full; 0 lost with a connection; 30 unsent" in r.stderr


def test_cli_second_ctrl_c_cuts_the_exit_flush_short() -> None:
    """Ctrl-C stops the job; while the MQTT sink waits (flush_timeout=60s) for an unreachable
    broker, a second Ctrl-C ends the wait at once, and the loss is still reported."""
    port = free_port()  # nothing listens there
    url = f"mqtt://127.0.0.1:{port}/t?qos=1&flush_timeout=60s"
    proc = subprocess.Popen(
        [*CMD, "run", "-c", "python:task.count", "--when=10ms", "--emit", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        assert "cannot connect" in proc.stderr.readline()  # running, the broker is away
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert "stopping" in proc.stderr.readline()
        time.sleep(1.0)
        assert proc.poll() is None  # waiting for the broker (up to 60 s)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - t0 < 5
    assert proc.returncode == 130
    assert "not delivered" in err and "unsent" in err, err


def test_cli_issue_commands(tmp_path: Path) -> None:
    """The issue's command lines, with a unique topic and a bounded count."""
    topic = unique_topic("telemetry")
    with Collector(f"{topic}/#", qos=1) as sub:
        r = subprocess.run(
            [
                *CMD,
                "run",
                "-c",
                "python:{'t': task.elapsed.total_seconds, 'v': math.cos(task.elapsed.total_seconds)}",
                "--when=1kHz",
                "--count",
                "500",
                "--emit",
                f"mqtt://localhost/{topic}/cos?qos=1&format=json",
                "--emit",
                "jsonl:./cos.jsonl",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout == ""  # --emit given without stdout
        r2 = subprocess.run(
            [
                *CMD,
                "run",
                "-c",
                "python:math.sin(task.elapsed.total_seconds)",
                "--when=20ms",
                "--count",
                "10",
                "--emit",
                f"mqtt://localhost:1883/{topic}/sine",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r2.returncode == 0, r2.stderr
        cos = sub.wait_for(500, topic=f"{topic}/cos")
        sine = sub.wait_for(10, topic=f"{topic}/sine")
    assert len(cos) == 500
    ts = []
    for p in cos:  # a tick may be skipped on a busy machine: t is on the 1 ms grid, rising
        d = json.loads(p)
        assert d["t"] == pytest.approx(round(d["t"] / 0.001) * 0.001, abs=1e-9)
        assert d["v"] == pytest.approx(math.cos(d["t"]))
        ts.append(d["t"])
    # the first tick too may be skipped (late at start-up on a loaded machine)
    assert 0.0 <= ts[0] < 0.05 and ts == sorted(ts) and len(set(ts)) == 500
    assert len(sine) == 10 and 0.0 <= float(sine[0]) < 0.2
    for p in sine:  # sin of a grid time (a tick may be skipped on a busy machine)
        k = round(math.asin(float(p)) / 0.02)
        assert float(p) == pytest.approx(math.sin(k * 0.02), abs=1e-9)
    lines = [json.loads(x) for x in (tmp_path / "cos.jsonl").read_text().splitlines()]
    assert [x["count"] for x in lines] == list(range(500))
    assert all(x["value"]["t"] == pytest.approx(x["tick"] * 0.001, abs=1e-9) for x in lines)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make_certs(d: Path) -> None:
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d,
    )  # fmt: skip


async def test_mqtts_with_ca_and_without(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="supertask")
    _make_certs(tmp_path)
    tls_port = free_port()
    extra = (
        f"listener {tls_port} 127.0.0.1\ncafile {tmp_path}/ca.pem\n"
        + f"certfile {tmp_path}/server.pem\nkeyfile {tmp_path}/server.key\n"
    )
    topic = unique_topic()
    with private_broker(tmp_path, extra=extra) as broker:
        sub = Collector(topic, port=broker.port)
        good = mqtt_sink(f"mqtts://localhost:{tls_port}/{topic}?ca={tmp_path}/ca.pem&qos=1")
        await run_job(good, lambda task: task.count, count=20)
        got = sub.wait_for(20)
        untrusted = mqtt_sink(f"mqtts://localhost:{tls_port}/{topic}?flush_timeout=0.3s")  # system CAs only
        await run_job(untrusted, lambda task: task.count, count=5)
        sub.close()
    assert [int(p) for p in got] == list(range(20))
    assert good.statistics().undelivered == 0
    assert untrusted.statistics().undelivered == 5
    assert any("cannot connect: TLS: CERTIFICATE_VERIFY_FAILED" in r.getMessage() for r in caplog.records)


async def test_credentials_from_the_url(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="supertask")
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "ann", "s@cret"], check=True, timeout=30)
    topic = unique_topic()
    with private_broker(tmp_path, extra=f"password_file {passwd}\n") as broker:
        good = mqtt_sink(f"mqtt://ann:s%40cret@127.0.0.1:{broker.port}/{topic}?qos=1")
        bad = mqtt_sink(f"mqtt://ann:wrong@127.0.0.1:{broker.port}/{topic}?flush_timeout=0.3s")
        await run_job(good, lambda task: task.count, count=10)
        await run_job(bad, lambda task: task.count, count=10)
    assert good.statistics().sent == 10 and good.statistics().undelivered == 0
    assert bad.statistics().undelivered == 10
    warnings = [r.getMessage() for r in caplog.records]
    refused = [w for w in warnings if "broker refused the connection: Not authorized" in w]
    assert refused and all(w.startswith("mqtt://ann:***@127.0.0.1") for w in refused)
    assert not any("wrong" in w for w in warnings)  # the password never shows


def test_cli_command_output_lines_are_messages_and_stderr_still_shows(tmp_path: Path) -> None:
    topic = unique_topic()
    script = 'echo "$((40 + 2))"; echo warm >&2'
    emits = ["--emit", f"{URL}/{topic}?qos=1", "--emit", "jsonl:out.jsonl"]
    with Collector(topic) as sub:
        r = subprocess.run(
            [*CMD, "run", "--when=50ms", "--count", "3", *emits, "--", f"cmd:{script}"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        got = sub.wait_for(3)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""  # stdout is not among the emits
    assert r.stderr.count("warm\n") == 3  # the payloads' stderr reaches the terminal anyway
    assert got == [b"42"] * 3
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(x["output"], x["count"]) for x in records] == [("42", 0), ("42", 1), ("42", 2)]


async def test_retain_keeps_the_last_value_for_late_subscribers() -> None:
    topic = unique_topic()
    sink = mqtt_sink(f"{URL}/{topic}?retain=1&qos=1")
    await run_job(sink, lambda task: task.count, count=3)
    try:
        with Collector(topic) as late:
            assert late.wait_for(1, timeout=5) == [b"2"]
    finally:  # clear the retained message
        cleaner = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
        cleaner.connect(*BROKER)
        cleaner.loop_start()
        cleaner.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        cleaner.loop_stop()
        cleaner.disconnect()


async def test_linger_batches_fast_messages_and_a_timer_sends_the_tail() -> None:
    topic = unique_topic()
    with Collector(topic) as sub:
        sink = mqtt_sink(f"{URL}/{topic}?linger=100ms")
        async with supertask.open_scheduler(sinks=[sink]) as sched:
            with trio.fail_after(5):
                while not sink._client.is_connected():
                    await trio.sleep(0.01)
            sched.add("1ms", lambda task: task.count, count=5)
            await trio.sleep(0.05)
            early = len(sub.payloads())  # the first went at once; the rest linger
            await trio.sleep(0.45)
            late = sub.payloads()  # the fallback timer sent them, before the sink closed
        assert early == 1
        assert late == [b"0", b"1", b"2", b"3", b"4"]
