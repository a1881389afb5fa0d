"""Dispatch cost against the number of jobs: Supertask's engine beside a bare heap loop, in the same run.

Two measurements, each in a fresh interpreter:

- **dispatch** (virtual time, trio's ``MockClock``): N interval jobs with a no-op
  payload, all on the same 1 s grid (so the wait for each instant is shared by N
  runs and the cost left is the dispatch), run until about ``--dispatches`` runs
  have happened. Reported: CPU µs per run. The baseline is a plain ``heapq`` loop
  doing the same pops, pushes and no-op calls for N entries (the O(log N) core any
  deadline scheduler pays). If dispatch grew faster than log N, the ratio would
  grow with N.
- **idle jobs** (real time): one 1 kHz job for ``--seconds`` beside N ``@daily``
  cron jobs that do not fire meanwhile. Reported: the 1 kHz job's lateness p50/p99,
  its skipped ticks and the process CPU. Idle jobs should cost nothing per tick.
- **jobs due together** (real time): N ``python:pass`` jobs on one 1 kHz grid (every
  tick, N runs are due at the same instant) for ``--seconds``, beside N trio tasks
  each running a ``trio.sleep_until`` loop on the same grid. Reported: lateness over
  all runs, ticks missed (skipped, or a full period late) and the process CPU.

Usage::

    uv run python benchmarks/many_jobs.py
    uv run python benchmarks/many_jobs.py --sizes 1,1000,100000 --json out.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import math
import subprocess
import sys
import time


def _noop(task: object) -> None:
    return None


def dispatch_engine(n: int, dispatches: int) -> dict[str, float]:
    import trio
    import trio.testing

    from supertask.engine import Scheduler
    from supertask.engine.clock import TrioClock
    from supertask.triggers import IntervalTrigger

    period = 1.0
    per_job = max(2, dispatches // n)

    async def main() -> dict[str, float]:
        sched = Scheduler(clock=TrioClock(), sinks=[])
        async with trio.open_nursery() as nursery:
            await nursery.start(sched.serve)
            jobs = [
                sched.add(IntervalTrigger(period), _noop, count=per_job, spin=0.0, name=f"job {k}") for k in range(n)
            ]
            c0 = time.process_time()
            for job in jobs:
                await job.wait()
            cpu = time.process_time() - c0
            sched.stop()
        runs = sum(job.statistics().runs for job in jobs)
        return {"runs": runs, "us_per_run": cpu / runs * 1e6}

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def dispatch_heap(n: int, dispatches: int) -> dict[str, float]:
    period = 1.0
    per_job = max(2, dispatches // n)
    heap = [(0.0, k, k) for k in range(n)]
    heapq.heapify(heap)
    left = [per_job] * n
    seq = n
    runs = 0
    c0 = time.process_time()
    while heap:
        due, _, k = heapq.heappop(heap)
        _noop(None)
        runs += 1
        left[k] -= 1
        if left[k]:
            seq += 1
            heapq.heappush(heap, (due + period, seq, k))
    cpu = time.process_time() - c0
    return {"runs": runs, "us_per_run": cpu / runs * 1e6}


def idle_jobs(n: int, seconds: float) -> dict[str, float]:
    import gc

    import trio
    from punctuality import timed_job  # benchmarks/ is on the path of a script run from it

    from supertask.engine import Scheduler

    async def main() -> dict[str, float]:
        sched = Scheduler(sinks=[])
        async with trio.open_nursery() as nursery:
            await nursery.start(sched.serve)
            for k in range(n):
                sched.add("@daily", _noop, name=f"daily {k}")
            gc.collect()
            gc.freeze()
            job, cpu = await timed_job(sched, 0.001, seconds)
            sched.stop()
        s = job.statistics()
        return {"p50": s.lateness_p50, "p99": s.lateness_p99, "skipped": s.skipped, "runs": s.runs, "cpu": cpu}

    return trio.run(main)


def together_engine(n: int, seconds: float) -> dict[str, float]:
    import gc

    import trio

    from supertask.engine import Scheduler
    from supertask.engine.stats import Histogram
    from supertask.runners import PythonCodeRunner
    from supertask.triggers import IntervalTrigger

    async def main() -> dict[str, float]:
        gc.freeze()
        sched = Scheduler(sinks=[])
        async with trio.open_nursery() as nursery:
            await nursery.start(sched.serve)
            c0, w0 = time.process_time(), time.monotonic()
            start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.05)  # one grid for all
            jobs = [
                sched.add(
                    IntervalTrigger(0.001), PythonCodeRunner("pass"), start=start, duration=seconds, name=f"job {k}"
                )
                for k in range(n)
            ]
            for job in jobs:
                await job.wait()
            cpu, wall = time.process_time() - c0, time.monotonic() - w0
            sched.stop()
        h = Histogram()
        for job in jobs:
            h.merge(job.counters.lateness)
        missed = sum(job.statistics().skipped for job in jobs) + h.count_at_least(0.001)
        return _lateness(h, missed, 100.0 * cpu / wall)

    return trio.run(main)


def together_trio(n: int, seconds: float) -> dict[str, float]:
    import trio

    from supertask.engine.stats import Histogram

    h = Histogram()

    async def loop(t0: float, offset: float) -> None:
        for k in range(int(seconds / 0.001)):
            due = t0 + k * 0.001
            await trio.sleep_until(due + offset)
            h.add(max(0.0, time.monotonic() - due))

    async def main() -> dict[str, float]:
        offset = trio.current_time() - time.monotonic()
        c0, w0 = time.process_time(), time.monotonic()
        t0 = time.monotonic() + 0.01
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(loop, t0, offset)
        cpu, wall = time.process_time() - c0, time.monotonic() - w0
        return _lateness(h, h.count_at_least(0.001), 100.0 * cpu / wall)

    return trio.run(main)


def _lateness(h: object, missed: int, cpu: float) -> dict[str, float]:
    from supertask.engine.stats import Histogram

    assert isinstance(h, Histogram)
    return {"runs": h.n, "p50": h.quantile(0.5), "p99": h.quantile(0.99), "missed": missed, "cpu": cpu}


def _child(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,1000,100000", help="numbers of jobs (default 10,1000,100000)")
    ap.add_argument("--dispatches", type=int, default=200_000, help="runs per dispatch measurement (default 200000)")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds of the 1 kHz job (default 5)")
    ap.add_argument("--together", default="1,8,32", help="numbers of jobs due together (default 1,8,32)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--one", nargs=3, metavar=("KIND", "N", "AMOUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        kind, n, amount = args.one[0], int(args.one[1]), float(args.one[2])
        if kind in ("engine", "heap"):
            result = (dispatch_engine if kind == "engine" else dispatch_heap)(n, int(amount))
        else:
            result = {"idle": idle_jobs, "together": together_engine, "together-trio": together_trio}[kind](n, amount)
        print(json.dumps(result))
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    results: dict[str, list[dict[str, float]]] = {"dispatch": [], "idle": []}
    print("Dispatch cost, virtual time; µs of CPU per run; ratio = engine / bare heap loop\n")
    print("| jobs | log2 N | engine µs/run | heap loop µs/run | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        eng = _child(["engine", str(n), str(args.dispatches)])
        base = _child(["heap", str(n), str(args.dispatches)])
        results["dispatch"].append({"jobs": n, "engine": eng["us_per_run"], "heap": base["us_per_run"]})
        print(
            f"| {n} | {math.log2(n):.1f} | {eng['us_per_run']:.2f} | {base['us_per_run']:.3f} "
            f"| {eng['us_per_run'] / base['us_per_run']:.1f}× |",
            flush=True,
        )
    print(f"\nA 1 kHz job for {args.seconds:g}s beside N idle @daily jobs (real time)\n")
    print("| idle jobs | runs | skipped | p50 µs | p99 µs | CPU % |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in [0, *sizes]:
        r = _child(["idle", str(n), str(args.seconds)])
        results["idle"].append({"jobs": n, **r})
        print(
            f"| {n} | {int(r['runs'])} | {int(r['skipped'])} | {r['p50'] * 1e6:.2f} | {r['p99'] * 1e6:.2f} "
            f"| {r['cpu']:.1f} |",
            flush=True,
        )
    print(f"\nN jobs due together on a 1 kHz grid for {args.seconds:g}s (real time), beside N trio tasks\n")
    print("| jobs | system | runs | missed | p50 µs | p99 µs | CPU % | p99 ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    results["together"] = []
    for n in [int(x) for x in args.together.split(",")]:
        eng = _child(["together", str(n), str(args.seconds)])
        base = _child(["together-trio", str(n), str(args.seconds)])
        results["together"].append({"jobs": n, "engine": eng, "trio": base})  # type: ignore[dict-item]
        for name, r in (("supertask", eng), ("trio tasks", base)):
            ratio = "—" if name == "supertask" else f"{eng['p99'] / r['p99']:.3g}×"
            print(
                f"| {n} | {name} | {int(r['runs'])} | {int(r['missed'])} | {r['p50'] * 1e6:.2f} "
                f"| {r['p99'] * 1e6:.2f} | {r['cpu']:.1f} | {ratio} |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
