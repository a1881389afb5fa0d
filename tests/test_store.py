"""The store: SQLite (file and memory://) and PostgreSQL (the real server on 127.0.0.1:5432), and the store sink."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from supertask.errors import StoreError
from supertask.model import Cron, Every, JobSpec, Metadata, Namespace, Origin, PythonCode, Run, RunAggregate
from supertask.sinks.store import StoreSink
from supertask.store import Store, default_store_path, store_from_url
from tests.conftest import virtual_scheduler

UTC = dt.UTC
PG = "postgresql://postgres@127.0.0.1:5432/test"


def job(name: str, when: object = Every(period=60.0), ns: str = "ns1", history: str = "auto") -> JobSpec:
    return JobSpec(
        when="x",
        trigger=when,  # type: ignore[arg-type]
        payload=PythonCode(code="1"),
        meta=Metadata(name=name),
        namespace=ns,
        history=history,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["sqlite", "memory", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    schema = None
    if request.param == "sqlite":
        st = store_from_url(f"sqlite:///{tmp_path}/st.db?retention=5")
    elif request.param == "memory":
        st = store_from_url("memory://?retention=5")
    else:
        schema = f"st_test_{uuid.uuid4().hex[:10]}"
        st = store_from_url(f"{PG}?schema={schema}&prefix=x_&retention=5")
    st.open()
    try:
        yield st
    finally:
        st.close()
        if schema:
            import psycopg

            with psycopg.connect(PG, connect_timeout=5, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(name: str, i: int, outcome: str = "ok", ns: str = "ns1") -> Run:
    t = dt.datetime(2027, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i)
    return Run(
        job=name,
        namespace=ns,
        tick=i,
        count=i,
        scheduled=t,
        started=t,
        ended=t + dt.timedelta(milliseconds=5),
        lateness=0.001,
        duration=0.005,
        outcome=outcome,  # type: ignore[arg-type]
        result={"i": i} if outcome == "ok" else None,
        error=None if outcome == "ok" else "boom",
        exit_code=None if outcome == "ok" else 3,
    )


def test_namespaces_jobs_runs_history_and_retention(store: Store) -> None:
    origin = Origin(source="/x/t.yaml", host="h", user="u")
    store.save_namespace(Namespace(id="ns1", origin=origin), [job("a"), job("b", Cron(expr="* * * * *"))])
    store.save_namespace(Namespace(id="ns2", origin=origin), [job("a", ns="ns2")])
    store.add_runs([run("a", i) for i in range(3)] + [run("a", 3, "failed")])
    store.add_runs(
        [],
        [RunAggregate(job="b", namespace="ns1", start=dt.datetime(2027, 1, 1, tzinfo=UTC),
                      end=dt.datetime(2027, 1, 1, 0, 0, 10, tzinfo=UTC), runs=10, ok=10)],
    )  # fmt: skip
    rows = {n.id: n for n in store.namespaces()}
    assert set(rows) == {"ns1", "ns2"} and rows["ns1"].jobs == 2 and rows["ns1"].runs == 4
    assert rows["ns1"].source == "/x/t.yaml" and rows["ns1"].host == "h" and rows["ns1"].user == "u"
    assert [j.name for j in store.jobs("ns1")] == ["a", "b"] and len(store.jobs()) == 3
    hist = store.history("ns1", "a", last=2)
    assert [(h.count, h.outcome) for h in hist] == [(2, "ok"), (3, "failed")]  # type: ignore[union-attr]
    assert hist[0].result == {"i": 2} and hist[1].exit_code == 3 and hist[1].error == "boom"  # type: ignore[union-attr]
    agg = store.history("ns1", "b")
    assert len(agg) == 1 and isinstance(agg[0], RunAggregate) and agg[0].runs == 10
    assert store.last_fired("ns1") == {
        "a": dt.datetime(2027, 1, 1, 0, 0, 3, tzinfo=UTC),
        "b": dt.datetime(2027, 1, 1, 0, 0, 10, tzinfo=UTC),
    }
    assert store.last_fired("ns2") == {}
    # retention: 5 runs per job
    store.add_runs([run("a", i) for i in range(4, 12)])
    assert store.prune() == 7
    assert [h.count for h in store.history("ns1", "a", last=100)] == [7, 8, 9, 10, 11]  # type: ignore[union-attr]
    # replacing the namespace's job set removes jobs no longer there
    store.save_namespace(Namespace(id="ns1", origin=origin), [job("b", Cron(expr="* * * * *"))])
    assert [j.name for j in store.jobs("ns1")] == ["b"]


def test_retention_holds_for_runs_shorter_than_the_prune_interval(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/st.db?retention=2"
    st = store_from_url(url)
    st.open()
    st.save_namespace(Namespace(id="ns1"), [job("a")])
    for i in range(6):  # the first write prunes; the next pass would be 30 s later
        st.add_runs([run("a", i)])
    st.close()
    again = store_from_url(url)
    again.open()
    try:
        assert [h.count for h in again.history("ns1", "a", last=100)] == [4, 5]  # type: ignore[union-attr]
    finally:
        again.close()


def test_store_addresses(tmp_path: Path) -> None:
    assert default_store_path() == Path(os.environ["XDG_DATA_HOME"]) / "supertask" / "supertask.db"
    assert store_from_url(None).url == f"sqlite://{default_store_path()}"
    assert store_from_url("memory://").url == "memory://"
    assert store_from_url(f"{tmp_path}/a.db").url == f"sqlite://{tmp_path}/a.db"
    with pytest.raises(StoreError, match=r"invalid store 'mongodb://x': expected memory://, sqlite:///"):
        store_from_url("mongodb://x")
    with pytest.raises(StoreError, match=r"invalid store schema 'a-b': expected letters, digits and _"):
        store_from_url(f"{PG}?schema=a-b")
    with pytest.raises(StoreError, match=r"unknown parameter 'colour'"):
        store_from_url("memory://?colour=red")
    with pytest.raises(StoreError, match=r"cannot connect to store postgresql://postgres:\*\*\*@127.0.0.1:1/x"):
        store_from_url("postgresql://postgres:secret@127.0.0.1:1/x").open()


async def test_sink_records_slow_jobs_per_run_and_fast_jobs_as_aggregates(clock: object, tmp_path: Path) -> None:
    st = store_from_url(f"sqlite:///{tmp_path}/s.db")
    st.open()
    slow, fast = job("slow", Every(period=1.0)), job("fast", Every(period=0.001))
    boom = job("boom", Every(period=0.001), history="aggregate")
    st.save_namespace(Namespace(id="ns1"), [slow, fast, boom])
    sink = StoreSink(st, [slow, fast, boom], aggregate_every=1.0)
    sched = virtual_scheduler(sinks=[sink])
    async with trio.open_nursery() as n:
        await n.start(sched.serve)
        sched.add(Every(period=1.0), lambda: 1, name="slow", count=3, namespace="ns1")  # type: ignore[arg-type]
        sched.add(Every(period=0.001), lambda: None, name="fast", count=2500, namespace="ns1")  # type: ignore[arg-type]
        sched.add(Every(period=0.001), lambda: 1 / 0, name="boom", count=100, namespace="ns1")  # type: ignore[arg-type]
        await sched.wait_idle()
        sched.stop()
    st.open()
    runs = st.history("ns1", "slow", last=10)
    assert [(r.count, r.outcome, r.result) for r in runs] == [(0, "ok", 1), (1, "ok", 1), (2, "ok", 1)]  # type: ignore[union-attr]
    fast_rows = st.history("ns1", "fast", last=100)
    assert all(isinstance(r, RunAggregate) for r in fast_rows) and 2 <= len(fast_rows) <= 4
    assert sum(r.runs for r in fast_rows) == 2500  # type: ignore[union-attr]
    boom_rows = st.history("ns1", "boom", last=100)
    failures = [r for r in boom_rows if isinstance(r, Run)]
    assert len(failures) == 5 and failures[0].error == "ZeroDivisionError: division by zero"  # a few, not 100
    assert sum(r.failed for r in boom_rows if isinstance(r, RunAggregate)) == 100
    assert set(st.last_fired("ns1")) == {"slow", "fast", "boom"}
    st.close()
