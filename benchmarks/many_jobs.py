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

Usage::

    uv run python benchmarks/many_jobs.py
    uv run python benchmarks/many_jobs.py --sizes 1,1000,100000 --json out.json
"""

from __future__ import annotations

import argparse
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


def _child(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,1000,100000", help="numbers of jobs (default 10,1000,100000)")
    ap.add_argument("--dispatches", type=int, default=200_000, help="runs per dispatch measurement (default 200000)")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds of the 1 kHz job (default 5)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--one", nargs=3, metavar=("KIND", "N", "AMOUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        kind, n, amount = args.one[0], int(args.one[1]), float(args.one[2])
        fn = {"engine": dispatch_engine, "heap": dispatch_heap}.get(kind)
        result = fn(n, int(amount)) if fn else idle_jobs(n, amount)
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
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
