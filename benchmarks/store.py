"""Store benchmark: a 1 kHz job's punctuality with the store on, next to ``memory://``, in the same run.

Configurations:

- ``memory://``: the in-memory store (the baseline of the ratios);
- ``no store``: no sink that wants run records (the engine alone);
- ``sqlite``: the default embedded SQLite store (WAL, a file), ``history: auto`` (summaries at 1 kHz);
- ``sqlite-all``: the same store asked to record every run (a row per run, 1000 rows/s);
- ``postgresql`` (with ``--pg URL``): PostgreSQL, ``history: auto``.

The machine is shared and its load changes from second to second, so the
configurations are *interleaved*: one fresh interpreter per round runs 1-second
segments of each configuration in turn (order shuffled per segment), each with a
new scheduler and a new store sink, and merges each configuration's lateness
histograms over all its segments. Lateness is measured by the engine (start − due
of every tick). Ratios compare p99 to memory:// of the same round.

Usage::

    uv run python benchmarks/store.py                      # 3 rounds of 10 segments
    uv run python benchmarks/store.py --rounds 1 --segments 5 --pg postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any


def _segment(url: str, history: str, seconds: float, stores: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    import trio

    from supertask.engine import Scheduler
    from supertask.model import Every, JobSpec, Metadata, Namespace, PythonCode
    from supertask.sinks.store import StoreSink
    from supertask.store import open_store

    spec = JobSpec(
        when="1kHz",
        trigger=Every(period=0.001),
        payload=PythonCode(code="pass"),
        meta=Metadata(name="bench"),
        namespace="bench",
        history=history,  # type: ignore[arg-type]
    )
    sink = None
    if url != "none":
        store = open_store(url)
        store.save_namespace(Namespace(id="bench"), [spec])
        sink = StoreSink(store, [spec], aggregate_every=1.0)
    out: dict[str, Any] = {}

    async def main() -> None:
        sched = Scheduler(sinks=[sink] if sink else [])
        async with trio.open_nursery() as n:
            await n.start(sched.serve)
            job = sched.add_spec(spec)
            c0, w0 = time.process_time(), time.monotonic()
            await trio.sleep(seconds)
            sched.stop()
        out.update(
            hist=job.counters.lateness,
            runs=job.counters.runs,
            skipped=job.counters.skipped,
            cpu=time.process_time() - c0,
            wall=time.monotonic() - w0,
            rows=sink.written if sink else 0,
        )

    trio.run(main)
    return out["hist"], out


def _child(configs: list[tuple[str, str, str]], segments: int, seconds: float) -> dict[str, dict[str, float]]:
    from supertask.engine.stats import Histogram

    hists = {name: Histogram() for name, _, _ in configs}
    totals: dict[str, dict[str, float]] = {name: {"runs": 0, "skipped": 0, "cpu": 0, "wall": 0, "rows": 0}
                                           for name, _, _ in configs}  # fmt: skip
    order = list(configs)
    for _ in range(segments):
        random.shuffle(order)
        for name, url, history in order:
            h, out = _segment(url, history, seconds, {})
            hists[name].merge(h)
            for key in totals[name]:
                totals[name][key] += out[key]
    return {
        name: {
            "p50": hists[name].quantile(0.5),
            "p99": hists[name].quantile(0.99),
            "max": hists[name].max,
            "runs": t["runs"],
            "skipped": t["skipped"],
            "rows": t["rows"],
            "cpu": 100 * t["cpu"] / t["wall"],
        }
        for name, t in totals.items()
    }


def _configs(pg: str | None, tmp: str) -> list[tuple[str, str, str]]:
    configs = [
        ("memory://", "memory://", "auto"),
        ("no store", "none", "-"),
        ("sqlite", f"sqlite:///{tmp}/bench.db", "auto"),
        ("sqlite-all", f"sqlite:///{tmp}/bench-all.db", "all"),
    ]
    if pg:
        schema = f"st_bench_{uuid.uuid4().hex[:8]}"
        configs.append(("postgresql", f"{pg}?schema={schema}", "auto"))
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--segments", type=int, default=10, help="1-second segments per configuration and round")
    parser.add_argument("--pg", help="a PostgreSQL URL to include, e.g. postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(_child([tuple(c) for c in spec["configs"]], spec["segments"], 1.0)))
        return
    tmp = tempfile.mkdtemp(prefix="supertask-bench-")
    configs = _configs(args.pg, tmp)
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        for _ in range(args.rounds):
            blob = json.dumps({"configs": configs, "segments": args.segments})
            r = subprocess.run([sys.executable, __file__, "--child", blob], capture_output=True, text=True, check=True)
            rounds.append(json.loads(r.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if args.pg:
            import psycopg

            for name, url, _ in configs:
                if name == "postgresql":
                    with psycopg.connect(args.pg, autocommit=True) as conn:
                        conn.execute(f'DROP SCHEMA IF EXISTS "{url.rsplit("schema=", 1)[1]}" CASCADE')

    def med(name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in rounds)

    def ratio(name: str) -> float:
        return statistics.median(r[name]["p99"] / r["memory://"]["p99"] for r in rounds)

    print(
        f"1 kHz job (python:pass), {args.segments} interleaved 1 s segments per store and round, "
        f"medians of {args.rounds} round(s); ratio = p99 / memory:// p99 of the same round"
    )
    print()
    print("| store | history | p50 µs | p99 µs | max µs | skipped/runs | rows written | CPU % | p99 ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, history in configs:
        print(
            f"| {name} | {history} | {med(name, 'p50') * 1e6:.1f} | {med(name, 'p99') * 1e6:.1f} | "
            f"{med(name, 'max') * 1e6:.1f} | {med(name, 'skipped'):.0f}/{med(name, 'runs'):.0f} | "
            f"{med(name, 'rows'):.0f} | {med(name, 'cpu'):.1f} | {ratio(name):.2f}× |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"configs": configs, "rounds": rounds}, f, indent=2)


if __name__ == "__main__":
    main()
