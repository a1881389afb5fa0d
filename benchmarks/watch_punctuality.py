"""How punctually ``supertask watch -p`` fires, side by side with procps ``watch -p``, in the same run.

Each watcher runs on a pty of its own (so both draw their full screen, as a user sees them), at
the same time, with a command that appends a timestamp to a file: ``date +%s%N >> FILE``. The
timestamps are then set on the watcher's grid (``t0 + k·period``): lateness is each run's offset
from its grid point, less the smallest offset seen (the cost of starting ``sh`` and ``date``,
which both pay), so what remains is the scheduler's jitter. "missed" counts grid points without
a run; "drift" is the slope of start time over grid index, minus the period, per run.

    uv run python benchmarks/watch_punctuality.py --seconds 20
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROCPS = "/usr/bin/watch"


def run_on_ptys(commands: dict[str, list[str]], seconds: float) -> None:
    procs = []
    for argv in commands.values():
        master, slave = os.openpty()
        env = {**os.environ, "TERM": os.environ.get("TERM", "xterm"), "COLUMNS": "80", "LINES": "24"}
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, env=env)
        os.close(slave)
        procs.append((proc, master))
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([m for _, m in procs], [], [], 0.1)
            for _, master in procs:
                if master in ready:
                    with contextlib.suppress(OSError):
                        os.read(master, 1 << 16)
    finally:
        for proc, master in procs:
            with contextlib.suppress(OSError):
                os.write(master, b"q")
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
            os.close(master)


def analyse(stamps_ns: list[int], period: float, skip: int) -> dict[str, float]:
    t = [s / 1e9 for s in stamps_ns][skip:]
    t0 = t[0]
    ks = [round((x - t0) / period) for x in t]
    offsets = [x - (t0 + k * period) for x, k in zip(t, ks, strict=True)]
    base = min(offsets)
    late = sorted(o - base for o in offsets)
    n = len(late)
    mean_k = statistics.fmean(ks)
    mean_t = statistics.fmean(t)
    slope = sum((k - mean_k) * (x - mean_t) for k, x in zip(ks, t, strict=True)) / sum((k - mean_k) ** 2 for k in ks)
    gaps = [b - a for a, b in itertools.pairwise(t)]
    return {
        "runs": n,
        "missed": (ks[-1] - ks[0] + 1) - len(set(ks)),
        "p50_us": late[n // 2] * 1e6,
        "p99_us": late[min(n - 1, int(0.99 * n))] * 1e6,
        "max_us": late[-1] * 1e6,
        "period_ms": statistics.fmean(gaps) * 1e3,
        "drift_us_per_run": (slope - period) * 1e6,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="how long each round runs (default 20)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args()
    st = [sys.executable, "-m", "supertask", "watch"]
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: Path(tmp, name) for name in ("st-0.1", "procps-0.1", "st-0.01", "procps-0.01")}
        cmd = {name: f"date +%s%N >> {path}" for name, path in files.items()}
        rounds = {
            "-n 0.1 -p": {
                "st-0.1": [*st, "-p", "-n", "0.1", cmd["st-0.1"]],
                "procps-0.1": [PROCPS, "-p", "-n", "0.1", cmd["procps-0.1"]],
            },
            "-n 0.01 -p": {
                "st-0.01": [*st, "-p", "-n", "0.01", cmd["st-0.01"]],
                "procps-0.01": [PROCPS, "-p", "-n", "0.01", cmd["procps-0.01"]],
            },
        }
        results = []
        for label, commands in rounds.items():
            run_on_ptys(commands, args.seconds)
            for name in commands:
                stamps = [int(x) for x in files[name].read_text().split()]
                # procps cannot go below 0.1 s: measure it on the grid it really keeps
                period = 0.1 if name.startswith("procps") else float(label.split()[1])
                row = {"options": label, "system": name.split("-")[0], "grid_s": period}
                row.update(analyse(stamps, period, skip=2))
                results.append(row)
    print(f"Lateness against the grid, {args.seconds:g} s per round, both watchers at once on ptys\n")
    print("| options | system | grid | runs | missed | p50 µs | p99 µs | max µs | period ms | drift µs/run |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        system = "supertask watch" if r["system"] == "st" else "procps watch 4.0.2"
        print(
            f"| `{r['options']}` | {system} | {r['grid_s'] * 1e3:g} ms | {r['runs']} | {r['missed']} | "
            f"{r['p50_us']:.0f} | {r['p99_us']:.0f} | {r['max_us']:.0f} | {r['period_ms']:.2f} | "
            f"{r['drift_us_per_run']:+.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
