"""The MQTT examples run as a user would run them: the sine emitter, the subscriber, the timetable file."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .mqtt_support import Collector, unique_topic

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SINE = [sys.executable, str(EXAMPLES / "mqtt_sine.py")]
SUB = [sys.executable, str(EXAMPLES / "mqtt_subscribe.py")]


def test_sine_example_and_subscriber() -> None:
    topic = unique_topic("telemetry")
    sub = subprocess.Popen(
        [*SUB, "--host", "127.0.0.1", "--topic", f"{topic}/#", "--count", "50", "--timeout", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sub.stderr is not None
        assert sub.stderr.readline().startswith(f"subscribed to {topic}/#")  # subscribed before we publish
        r = subprocess.run(
            [*SINE, "--url", f"mqtt://127.0.0.1:1883/{topic}/sine?qos=1", "--count", "50", "--period", "10ms"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert re.fullmatch(r"sine: 50 runs, lateness p99 \d+ µs; mqtt: 50 sent, 0 dropped, 0 undelivered\n", r.stdout)
        out, err = sub.communicate(timeout=30)
    finally:
        sub.kill()
    assert sub.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 50
    values = [float(line.split()[1]) for line in lines]
    assert all(line.startswith(f"{topic}/sine ") and line.endswith("|") for line in lines)
    # sin rises over the first 0.5 s; on a loaded machine the first tick may come too late
    # and be skipped (the job then starts at sin(0.01), sin(0.02), …), so 0.0 is not required
    assert values == sorted(values) and 0.0 <= values[0] < 0.1
    for v in values:  # each is sin of a 10 ms grid time (rounded to 4 digits by the printout)
        k = round(math.asin(v) / 0.01)
        assert v == pytest.approx(math.sin(k * 0.01), abs=6e-5)
    if values[0] < 0.025:  # (almost) zero: an empty bar
        assert "|" + " " * 20 + "|" in lines[0]


def test_sine_example_events() -> None:
    topic = unique_topic("telemetry")
    with Collector(f"{topic}/#") as sub:
        r = subprocess.run(
            [*SINE, "--url", f"mqtt://127.0.0.1/{topic}/{{job}}?qos=1", "--count", "5", "--period", "10ms", "--events"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        values = sub.wait_for(5, topic=f"{topic}/sine")
        events = sub.wait_for(10, topic=f"{topic}/sine/events")
    assert len(values) == 5 and len(events) == 10


def test_subscriber_reports_a_missing_broker() -> None:
    r = subprocess.run(
        [*SUB, "--host", "127.0.0.1", "--port", "1", "--count", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and r.stderr.startswith("mqtt_subscribe: cannot connect to 127.0.0.1:1:")


def test_timetable_example_runs(tmp_path: Path) -> None:
    """The sine timetable, as written (topics moved to a test prefix), sends every value of both jobs."""
    topic = unique_topic("telemetry")
    text = (EXAMPLES / "mqtt_sine.yaml").read_text().replace("/telemetry/", f"/{topic}/")
    assert text.count(f"/{topic}/") == 2
    (tmp_path / "sine.yaml").write_text(text)
    with Collector(f"{topic}/#") as sub:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "supertask",
                "run",
                "--file",
                "sine.yaml",
                "--count=20",
                "--store=memory://",
                "--no-watch",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stderr
        sine = sub.wait_for(20, topic=f"{topic}/sine")
        cos = sub.wait_for(20, topic=f"{topic}/telemetry-demo/cos")
        events = [json.loads(e)["event"] for e in sub.wait_for(40, topic=f"{topic}/telemetry-demo/cos/events")]
    assert r.stdout == ""  # both jobs have their own sinks
    assert len(sine) == 20 and len(cos) == 20
    assert (events.count("started"), events.count("finished")) == (20, 20)  # 1 kHz may also skip ticks
    lines = [json.loads(line) for line in (tmp_path / "cos.jsonl").read_text().splitlines()]
    assert sum("event" not in line for line in lines) == 20  # the results, beside the events


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "mqtt://localhost"], "invalid sink 'mqtt://localhost': no topic"),
        (["--period", "0"], "invalid --when 'every 0'"),
    ],
)
def test_sine_example_bad_input_is_a_one_line_error(args: list[str], message: str) -> None:
    r = subprocess.run([*SINE, *args, "--count", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"mqtt_sine.py: error: {message}" in r.stderr
