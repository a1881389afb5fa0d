"""Store benchmark: a 1 kHz job's punctuality with the store on, next to ``memory://``, in the same run.

Each configuration runs in a fresh interpreter, in turn, for several rounds:

- ``memory://``: the in-memory store (the baseline);
- ``no store``: no run records at all (what the engine costs without any sink that wants runs);
- ``sqlite``: the default embedded SQLite store (WAL, a file), ``history: auto`` (10 s summaries at 1 kHz);
- ``sqlite-all``: the same store asked to record every run (a row per run, 1000 rows/s);
- ``postgresql`` (with ``--pg URL``): PostgreSQL, ``history: auto``.

Lateness is measured by the engine (start − due of every tick). The ratio compares
each p99 to the memory:// p99 of the same round.

Usage::

    uv run python benchmarks/store.py                      # 3 rounds of 5 s
    uv run python benchmarks/store.py --rounds 1 --seconds 3 --pg postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid


def _child(url: str, history: str, seconds: float) -> dict[str, float]:
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
    out: dict[str, float] = {}

    async def main() -> None:
        sched = Scheduler(sinks=[sink] if sink else [])
        async with trio.open_nursery() as n:
            await n.start(sched.serve)
            job = sched.add_spec(spec)
            c0, w0 = time.process_time(), time.monotonic()
            await trio.sleep(seconds)
            sched.stop()
        st = job.statistics()
        out.update(
            p50=st.lateness_p50,
            p99=st.lateness_p99,
            max=st.lateness_max,
            runs=st.runs,
            skipped=st.skipped,
            cpu=100 * (time.process_time() - c0) / (time.monotonic() - w0),
            rows=sink.written if sink else 0,
            errors=sink.errors if sink else 0,
        )

    trio.run(main)
    return out


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
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pg", help="a PostgreSQL URL to include, e.g. postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--child", nargs=3, metavar=("URL", "HISTORY", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, history, seconds = args.child
        print(json.dumps(_child(url, history, float(seconds))))
        return
    tmp = tempfile.mkdtemp(prefix="supertask-bench-")
    configs = _configs(args.pg, tmp)
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in configs}
    ratios: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    for _ in range(args.rounds):
        base = None
        for name, url, history in configs:
            r = subprocess.run(
                [sys.executable, __file__, "--child", url, history, str(args.seconds)],
                capture_output=True,
                text=True,
                check=True,
            )
            res = json.loads(r.stdout.strip().splitlines()[-1])
            results[name].append(res)
            if name == "memory://":
                base = res["p99"]
            ratios[name].append(res["p99"] / base if base else float("nan"))
    if args.pg:
        import psycopg

        for name, url, _ in configs:
            if name == "postgresql":
                schema = url.rsplit("schema=", 1)[1]
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(
        f"1 kHz job (python:pass), medians of {args.rounds} round(s) of {args.seconds:g}s; ratio = p99 / memory:// p99"
    )
    print()
    print("| store | history | p50 µs | p99 µs | max µs | skipped/runs | rows written | CPU % | p99 ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, history in configs:
        print(
            f"| {name} | {history} | {med(name, 'p50') * 1e6:.1f} | {med(name, 'p99') * 1e6:.1f} | "
            f"{med(name, 'max') * 1e6:.1f} | {med(name, 'skipped'):.0f}/{med(name, 'runs'):.0f} | "
            f"{med(name, 'rows'):.0f} | {med(name, 'cpu'):.1f} | {statistics.median(ratios[name]):.2f}× |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "ratios": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
