"""Isolation benchmark: the cost of one run per isolation level, next to the same operation without Supertask.

For each level a job runs back to back (relaxed mode, 1 µs period: the next run
starts as soon as the previous one ended) and the time per run is measured once
warm (the first runs, e.g. an actor's start, are excluded). In the same round,
the raw operation runs in a plain trio loop: ``exec`` of the compiled code,
``trio.to_thread.run_sync``, a bare tractor ``portal.run``, and a bare
``trio.run_process`` capturing output. Rounds alternate the two; medians are shown.

- *per run*: wall time per run; its inverse is the highest sustainable rate.
- *overhead*: Supertask's time per run minus the raw operation's.
- *ratio*: Supertask / raw (1.0 = no overhead).

Usage::

    flock /tmp/supertask-bench.lock uv run python benchmarks/isolation.py
    uv run python benchmarks/isolation.py --rounds 1 --scale 0.2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

PY = sys.executable

#: name -> (supertask payload, Scheduler.add keyword arguments, runs per round)
LEVELS: dict[str, tuple[str, dict[str, Any], int]] = {
    "in-process python:pass": ("python:pass", {}, 20000),
    "thread python:pass": ("python:pass", {"isolation": "thread"}, 2000),
    "warm actor python:pass": ("python:pass", {"isolation": "actor"}, 1000),
    "sh -c true": ("cmd:true", {}, 200),
    "--exec /bin/true": ("/bin/true", {"exec": True}, 200),
    "python -c pass (--exec)": (f"{PY} -c pass", {"exec": True}, 40),
    "--in process python:pass": ("python:pass", {"isolation": "process"}, 40),
}


async def _supertask(payload: str, kwargs: dict[str, Any], n: int, warm: int) -> float:
    """Seconds per run of a warm job run back to back."""
    from supertask.engine import Scheduler
    from supertask.runners import parse_payload

    kwargs = dict(kwargs)
    spec: Any = payload
    if kwargs.pop("exec", False):
        spec = parse_payload([payload], exec_argv=True)
    sched = Scheduler(sinks=[])
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        job = sched.add(every_us(1), spec, mode="relaxed", count=warm + n, **kwargs)
        counters = job.counters
        while counters.runs < warm:
            await trio.sleep(0.001)
        r0, t0 = counters.runs, time.perf_counter()
        await job.wait()
        r1, t1 = counters.runs, time.perf_counter()
        assert counters.failed == 0, job.last_error
        sched.stop()
    return (t1 - t0) / (r1 - r0)


def every_us(us: float) -> Any:
    from supertask import every

    return every(us * 1e-6)


async def _timed(op: Callable[[], Awaitable[Any]], n: int, warm: int) -> float:
    for _ in range(warm):
        await op()
    t0 = time.perf_counter()
    for _ in range(n):
        await op()
    return (time.perf_counter() - t0) / n


async def _raw(name: str, n: int, warm: int) -> float:
    if name.startswith("in-process"):
        code = compile("pass", "<raw>", "exec")
        ns: dict[str, Any] = {}
        t0 = time.perf_counter()
        for _ in range(n):
            exec(code, ns)
        return (time.perf_counter() - t0) / n
    if name.startswith("thread"):
        return await _timed(lambda: trio.to_thread.run_sync(lambda: None), n, warm)
    if name.startswith("warm actor"):
        return await _raw_actor(n, warm)
    argv = {
        "sh -c true": ["/bin/sh", "-c", "true"],
        "--exec /bin/true": ["/bin/true"],
        "python -c pass (--exec)": [PY, "-c", "pass"],
        "--in process python:pass": [PY, "-c", "pass"],
    }[name]
    return await _timed(
        lambda: trio.run_process(argv, stdin=subprocess.DEVNULL, capture_stdout=True, capture_stderr=True), n, warm
    )


async def _raw_actor(n: int, warm: int) -> float:
    from supertask.runners import _actor_worker
    from supertask.runners.actor import _import_tractor, _no_main_fixup, free_port

    tractor = _import_tractor()
    async with (
        tractor.open_root_actor(arbiter_addr=("127.0.0.1", free_port()), loglevel="critical"),
        tractor.open_nursery() as an,
    ):
        with _no_main_fixup():
            portal = await an.start_actor("bench", enable_modules=["supertask.runners._actor_worker"])
        per_run = await _timed(lambda: portal.run(_actor_worker.ping), n, warm)
        await an.cancel()
    return per_run


def _fmt(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} µs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the runs per round")
    ap.add_argument("--only", nargs="*", help="level names (substrings) to run")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    for name, (payload, kwargs, n0) in LEVELS.items():
        if args.only and not any(s in name for s in args.only):
            continue
        n = max(5, int(n0 * args.scale))
        warm = max(2, n // 20)
        st_times, raw_times = [], []
        for i in range(args.rounds):  # alternate which goes first: the machine's load drifts
            if i % 2:
                raw_times.append(trio.run(_raw, name, n, warm))
            st_times.append(trio.run(_supertask, payload, kwargs, n, warm))
            if not i % 2:
                raw_times.append(trio.run(_raw, name, n, warm))
        st, raw = statistics.median(st_times), statistics.median(raw_times)
        results[name] = {"supertask": st, "raw": raw, "runs": n}
        print(f"{name}: supertask {_fmt(st)}, raw {_fmt(raw)}", file=sys.stderr)
    python_c = results.get("python -c pass (--exec)", {}).get("supertask")
    print(f"Time per run, medians of {args.rounds} round(s); the highest sustainable rate is 1 / time per run.\n")
    print("| level | Supertask per run | runs/s | raw per run | overhead | ratio | vs python -c |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        st, raw = r["supertask"], r["raw"]
        vs = f"{python_c / st:.1f}× cheaper" if python_c else "—"
        print(f"| {name} | {_fmt(st)} | {1 / st:,.0f} | {_fmt(raw)} | {_fmt(st - raw)} | {st / raw:.2f}× | {vs} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
