"""Punctuality benchmark: Supertask's engine next to plain loops, in the same run.

Each (system, period) pair runs in a fresh interpreter so that one cannot
disturb the next. Lateness = actual start − due time of each tick, measured with
the same clock (CLOCK_MONOTONIC) and summarised with the same histogram for all;
"actual start" is the clock reading that ended the wait (the last one of a spin),
for Supertask's engine and for the plain loops alike.
A tick is *missed* when it started a full period late or not at all (Supertask
skips ticks more than 100 ms late; the plain loops never skip). CPU % is process
CPU time over wall time.

Usage::

    uv run python benchmarks/punctuality.py            # 3 rounds, medians
    uv run python benchmarks/punctuality.py --rounds 1 --seconds 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

SYSTEMS = ["supertask", "trio.sleep_until", "time.sleep", "sleep+spin", "busy-spin"]
PERIODS = {"20ms": 0.02, "1ms": 0.001, "100us": 0.0001}


def _summary(lateness: list[float], missed: int, ticks: int, cpu: float, wall: float) -> dict[str, float]:
    from supertask.engine.stats import Histogram

    h = Histogram()
    for x in lateness:
        h.add(max(0.0, x))
    return {
        "p50": h.quantile(0.5),
        "p99": h.quantile(0.99),
        "max": h.max,
        "missed": missed,
        "ticks": ticks,
        "cpu": 100.0 * cpu / wall,
    }


def _plain_loop(period: float, ticks: int, wait: Callable[[float], float]) -> dict[str, float]:
    lateness = []
    c0, w0 = time.process_time(), time.monotonic()
    t0 = time.monotonic() + 0.01
    for k in range(ticks):
        due = t0 + k * period
        lateness.append(wait(due) - due)
        pass  # the payload
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    missed = sum(1 for x in lateness if x >= period)
    return _summary(lateness, missed, ticks, cpu, wall)


# Each wait returns the clock reading that ended it, as Supertask's engine does with its final spin.


def _wait_sleep(due: float) -> float:
    d = due - time.monotonic()
    if d > 0:
        time.sleep(d)
    return time.monotonic()


def _wait_sleep_spin(due: float, margin: float = 200e-6) -> float:
    d = due - margin - time.monotonic()
    if d > 0:
        time.sleep(d)
    return _wait_spin(due)


def _wait_spin(due: float) -> float:
    monotonic = time.monotonic
    now = monotonic()
    while now < due:
        now = monotonic()
    return now


def _trio_loop(period: float, ticks: int) -> dict[str, float]:
    import trio

    async def main() -> dict[str, float]:
        offset = trio.current_time() - time.monotonic()
        lateness = []
        c0, w0 = time.process_time(), time.monotonic()
        t0 = time.monotonic() + 0.01
        for k in range(ticks):
            due = t0 + k * period
            await trio.sleep_until(due + offset)
            lateness.append(time.monotonic() - due)
        cpu, wall = time.process_time() - c0, time.monotonic() - w0
        return _summary(lateness, sum(1 for x in lateness if x >= period), ticks, cpu, wall)

    return trio.run(main)


def _supertask(period: float, ticks: int) -> dict[str, float]:
    import trio

    from supertask.engine import Scheduler

    async def main() -> dict[str, float]:
        import gc

        gc.freeze()  # as the CLI does
        sched = Scheduler(sinks=[])
        async with trio.open_nursery() as n:
            await n.start(sched.serve)
            job, cpu = await timed_job(sched, period, ticks * period - period / 2)
            sched.stop()
        s = job.statistics()
        return {
            "p50": s.lateness_p50,
            "p99": s.lateness_p99,
            "max": s.lateness_max,
            # skipped, or run a full period late: as for the plain loops
            "missed": s.skipped + job.counters.lateness.count_at_least(period),
            "ticks": s.runs + s.skipped,
            "cpu": cpu,
        }

    return trio.run(main)


async def timed_job(sched: Any, period: float, duration: float) -> tuple[Any, float]:
    """Run a ``python:pass`` job every *period* for *duration* on a serving scheduler; return
    the job and the process CPU % while it ran."""
    from supertask.runners import PythonCodeRunner
    from supertask.triggers import IntervalTrigger

    c0, w0 = time.process_time(), time.monotonic()
    job = sched.add(IntervalTrigger(period), PythonCodeRunner("pass"), duration=duration)
    await job.wait()
    return job, 100.0 * (time.process_time() - c0) / (time.monotonic() - w0)


def run_one(system: str, period: float, seconds: float) -> dict[str, float]:
    ticks = max(50, int(seconds / period))
    if system == "supertask":
        return _supertask(period, ticks)
    if system == "trio.sleep_until":
        return _trio_loop(period, ticks)
    if system == "time.sleep":
        return _plain_loop(period, ticks, _wait_sleep)
    if system == "sleep+spin":
        return _plain_loop(period, ticks, _wait_sleep_spin)
    if system == "busy-spin":
        return _plain_loop(period, ticks, _wait_spin)
    raise SystemExit(f"unknown system {system!r}")


def _us(x: float) -> str:
    return f"{x * 1e6:.2f}" if x < 1e-5 else f"{x * 1e6:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds per cell; the table shows medians (default 3)")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement (default 5)")
    ap.add_argument("--periods", default=",".join(PERIODS), help="comma-separated: 20ms,1ms,100us")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--one", nargs=2, metavar=("SYSTEM", "PERIOD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], PERIODS[args.one[1]], args.seconds)))
        return
    results: dict[str, dict[str, dict[str, float]]] = {}
    for pname in args.periods.split(","):
        results[pname] = {}
        for system in SYSTEMS:
            rounds = []
            for _ in range(args.rounds):
                out = subprocess.run(
                    [sys.executable, __file__, "--one", system, pname, "--seconds", str(args.seconds)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rounds.append(json.loads(out.stdout))
            results[pname][system] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
            print(f"  measured {system} at {pname}", file=sys.stderr)
    print(
        f"\nLateness in µs, medians of {args.rounds} round(s) of {args.seconds:g}s each; "
        "ratio = Supertask p99 / system p99"
    )
    print()
    print("| period | system | p50 µs | p99 µs | max µs | missed/ticks | CPU % | ST p99 ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for pname, row in results.items():
        st_p99 = row["supertask"]["p99"]
        for system, r in row.items():
            ratio = "—" if system == "supertask" else f"{st_p99 / r['p99']:.3g}×" if r["p99"] else "∞"
            print(
                f"| {pname} | {system} | {_us(r['p50'])} | {_us(r['p99'])} | {_us(r['max'])} "
                f"| {int(r['missed'])}/{int(r['ticks'])} | {r['cpu']:.1f} | {ratio} |"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
