"""The MQTT examples run as a user would run them: the sine emitter, the subscriber, the timetable file."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from supertask.runners import parse_payload
from supertask.sinks import parse_sink
from supertask.when import parse_when

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
    assert values[0] == 0.0 and values == sorted(values)  # sin rises over the first 0.5 s
    for v in values:  # each is sin of a 10 ms grid time (rounded to 4 digits by the printout)
        k = round(math.asin(v) / 0.01)
        assert v == pytest.approx(math.sin(k * 0.01), abs=6e-5)
    assert "|" + " " * 20 + "|" in lines[0]  # zero: an empty bar


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


def test_timetable_example_names_valid_sinks_payloads_and_schedules() -> None:
    """The timetable loader (issue 4) runs this file; here: every sink, payload and `when` in it is valid."""
    text = (EXAMPLES / "mqtt_sine.yaml").read_text()
    urls = re.findall(r"^\s+- ((?:mqtt|mqtts|jsonl)\S*)\s*$", text, re.M)
    whens = re.findall(r"^\s+when: (\S+)\s*$", text, re.M)
    runs = re.findall(r'^\s+run: "(.*)"\s*$', text, re.M)
    assert len(urls) == 3 and len(whens) == 2 and len(runs) == 2
    for url in urls:
        if url.startswith("jsonl:"):
            continue  # would create the file
        parse_sink(url)
    for when in whens:
        parse_when(when)
    for run in runs:
        parse_payload([run], exec_argv=False)
