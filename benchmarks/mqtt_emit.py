"""MQTT emit benchmark: a 1 kHz job's punctuality when it streams to MQTT, next to the same job printing to /dev/null.

Each measurement runs the real command line in a fresh process::

    supertask run -c "python:math.sin(task.elapsed.total_seconds)" --when=1kHz --for 10s \\
        --emit stdout                                   # stdout redirected to /dev/null (the baseline)
        --emit 'mqtt://127.0.0.1:1883/<topic>?qos=0'    # or qos=1

and reads its ``--stats`` (lateness p50/p99/max, skipped ticks, the sink's sent/dropped
counters). A subscriber (``mosquitto_sub``, started here) counts the messages that
reach the broker's other side: every message must arrive. The three variants alternate within each round
(in a rotating order), so a noisy machine disturbs them alike; the table shows each
round and the medians, and the ratio of the MQTT p99 to the stdout p99 of the same round.

Usage (one benchmark at a time on a shared machine)::

    flock /tmp/supertask-bench.lock uv run python benchmarks/mqtt_emit.py      # 5 rounds of 3 × 10 s
    uv run python benchmarks/mqtt_emit.py --rounds 1 --seconds 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import paho.mqtt.client as paho

from supertask.durations import parse_duration

PAYLOAD = "python:math.sin(task.elapsed.total_seconds)"
VARIANTS = ["stdout", "qos0", "qos1"]


class Counter:
    """Counts the messages per topic that reach a subscriber.

    The subscriber is ``mosquitto_sub`` (C: it takes little CPU from the job under test)
    writing ``topic payload`` lines to a file; without it, a paho client in a thread.
    """

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: paho.Client | None = None
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        exe = shutil.which("mosquitto_sub")
        if exe:
            self.file = tempfile.NamedTemporaryFile(prefix="mqtt-bench-", suffix=".txt")  # noqa: SIM115
            self.proc = subprocess.Popen(
                [exe, "-h", host, "-p", str(port), "-t", f"{prefix}/#", "-q", "1", "-v"], stdout=self.file
            )
        else:
            ready = threading.Event()
            self.client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
            self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{prefix}/#", 1)
            self.client.on_subscribe = lambda *a: ready.set()
            self.client.on_message = self._on_message
            self.client.connect(host, port)
            self.client.loop_start()
            ready.wait(5)
        self._probe()

    def _probe(self) -> None:
        """Publish to the prefix until the subscriber sees it: then it is subscribed."""
        probe = f"{self.prefix}/probe"
        pub = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
        pub.connect(self.host, self.port)
        pub.loop_start()
        try:
            for _ in range(100):
                pub.publish(probe, b"1", qos=1).wait_for_publish(2)
                if self.wait_for(probe, 1, timeout=0.1):
                    return
            raise SystemExit(f"the subscriber at {self.host}:{self.port} receives nothing")
        finally:
            pub.loop_stop()
            pub.disconnect()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.counts[msg.topic] = self.counts.get(msg.topic, 0) + 1

    def count(self, topic: str) -> int:
        if self.proc is None:
            with self._lock:
                return self.counts.get(topic, 0)
        with open(self.file.name, "rb") as f:
            head = topic.encode() + b" "
            return sum(1 for line in f if line.startswith(head))

    def wait_for(self, topic: str, n: int, timeout: float = 5.0) -> int:
        end = time.monotonic() + timeout
        while (got := self.count(topic)) < n and time.monotonic() < end:
            time.sleep(0.05)
        return got

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.file.close()
        if self.client is not None:
            self.client.loop_stop()
            self.client.disconnect()


def _stats(stderr: str) -> dict[str, float]:
    """Parse the ``--stats`` lines of one run."""
    out: dict[str, float] = {}
    for line in stderr.splitlines():
        cells = line.split()
        if cells and cells[0] == "bench":
            runs, _ok, failed, skipped, p50, p99, mx = cells[1:8]
            out.update(
                runs=int(runs),
                failed=int(failed),
                skipped=int(skipped),
                p50=parse_duration(p50, allow_zero=True),
                p99=parse_duration(p99, allow_zero=True),
                max=parse_duration(mx, allow_zero=True),
            )
        elif line.startswith("mqtt://") and " accepted, " in line:
            nums = [int(w) for w in line.replace(",", " ").split() if w.isdigit()]
            out.update(accepted=nums[0], sent=nums[1], dropped=nums[2])
    if "p99" not in out:
        raise SystemExit(f"no statistics in the output:\n{stderr}")
    return out


def run_variant(variant: str, seconds: float, host: str, port: int, topic: str, counter: Counter) -> dict[str, float]:
    emit = "stdout" if variant == "stdout" else f"mqtt://{host}:{port}/{topic}?qos={variant[-1]}"
    cmd = [sys.executable, "-m", "supertask", "run", "-c", PAYLOAD, "--when=1kHz", "--for", f"{seconds}s"]
    cmd += ["--name", "bench", "--stats", "--emit", emit]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(os.devnull, "w") as devnull:
        r = subprocess.run(cmd, stdout=devnull, stderr=subprocess.PIPE, text=True, timeout=seconds + 60)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{variant}: exit code {r.returncode}\n{r.stderr}")
    result = _stats(r.stderr)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    result["cpu"] = 100.0 * cpu / wall
    result["cpu_per_run"] = cpu / max(1, result["runs"])  # includes start-up, alike for all variants
    if variant != "stdout":
        result["received"] = counter.wait_for(topic, int(result["accepted"]))
    return result


def _us(x: float) -> str:
    return f"{x * 1e6:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the three variants (default 5)")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per run (default 10)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    prefix = f"supertask-bench/{uuid.uuid4().hex[:8]}"
    counter = Counter(args.host, args.port, prefix)
    rounds: list[dict[str, dict[str, float]]] = []
    for i in range(args.rounds):
        order = VARIANTS[i % 3 :] + VARIANTS[: i % 3]
        row: dict[str, dict[str, float]] = {}
        for variant in order:
            row[variant] = run_variant(variant, args.seconds, args.host, args.port, f"{prefix}/{i}/{variant}", counter)
            print(f"  round {i + 1}: {variant} done", file=sys.stderr)
        rounds.append(row)
    counter.close()

    print(
        f"\n1 kHz job, {args.seconds:g} s per run, {args.rounds} round(s); lateness in µs; "
        "ratio = p99 / stdout p99 of the same round (median row: median of the ratios)"
    )
    print()
    print(
        "| round | emit | runs | skipped | received | dropped | p50 µs | p99 µs | max µs | CPU % | CPU µs/run "
        "| p99 ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, row in enumerate(rounds, 1):
        base = row["stdout"]["p99"]
        for variant in VARIANTS:
            r = row[variant]
            received = "—" if variant == "stdout" else f"{int(r['received'])}/{int(r['accepted'])}"
            dropped = "—" if variant == "stdout" else str(int(r["dropped"]))
            ratio = "—" if variant == "stdout" else f"{r['p99'] / base:.2f}×"
            print(
                f"| {i} | {variant} | {int(r['runs'])} | {int(r['skipped'])} | {received} | {dropped} "
                f"| {_us(r['p50'])} | {_us(r['p99'])} | {_us(r['max'])} | {r['cpu']:.1f} "
                f"| {_us(r['cpu_per_run'])} | {ratio} |"
            )
    medians = {v: {k: statistics.median(row[v][k] for row in rounds) for k in rounds[0][v]} for v in VARIANTS}
    for variant in VARIANTS:
        m = medians[variant]
        ratios = [row[variant]["p99"] / row["stdout"]["p99"] for row in rounds]
        ratio = "—" if variant == "stdout" else f"{statistics.median(ratios):.2f}×"
        lost = (
            "—"
            if variant == "stdout"
            else str(int(sum(row[variant]["accepted"] - row[variant]["received"] for row in rounds)))
        )
        print(
            f"| median | {variant} | {int(m['runs'])} | {int(m['skipped'])} | lost: {lost} | "
            f"{'—' if variant == 'stdout' else int(m['dropped'])} | {_us(m['p50'])} | {_us(m['p99'])} "
            f"| {_us(m['max'])} | {m['cpu']:.1f} | {_us(m['cpu_per_run'])} | {ratio} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": rounds, "medians": medians}, f, indent=2)


if __name__ == "__main__":
    main()
