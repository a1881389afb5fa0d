"""The SQL both stores share; dialects differ only in types, placeholders and connections.

Tables (names configurable with a prefix, and a schema for PostgreSQL)::

    namespaces (id PK, name, description, source, host, user, created, updated)
    jobs       (namespace, id PK pair, name, description, enabled, when_text, payload, spec JSON,
                version, source, created, updated, last_fired)
    runs       (seq PK, namespace, job, tick, count, scheduled, started, ended, lateness, duration,
                outcome, exit_code, signal, error, result JSON, output, version, source)
    run_aggregates (seq PK, namespace, job, start, end, runs, ok, failed, skipped, cancelled,
                lateness_p50/p99/max, duration_p50/max, last_error, version)

Times are UTC; jobs given without a namespace are stored under ``""``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from ..errors import StoreError
from ..model import JobSpec, Namespace, Run, RunAggregate
from .base import JobRow, NamespaceRow, Store

__all__ = ["SQLStore", "check_identifier"]

log = logging.getLogger(__name__)

#: seconds between retention passes
PRUNE_EVERY = 30.0

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_identifier(value: str, what: str) -> str:
    """Raises StoreError unless *value* is a plain SQL identifier."""
    if not _IDENT.fullmatch(value):
        raise StoreError(f"invalid store {what} {value!r}: expected letters, digits and _ (not starting with a digit)")
    return value


def _payload_text(spec: JobSpec) -> str:
    from ..model import (
        ExecArgv,
        PythonCode,
        PythonEntrypoint,
        PythonFile,
        ShellCommand,
        Steps,
    )

    p = spec.payload
    if isinstance(p, Steps):
        return " ; ".join(_payload_text(msgspec.structs.replace(spec, payload=s.payload)) for s in p.steps if s.enabled)
    if isinstance(p, PythonCode):
        return f"python:{p.code}"
    if isinstance(p, ShellCommand):
        return f"cmd:{p.script}"
    if isinstance(p, ExecArgv):
        return " ".join(p.argv)
    if isinstance(p, PythonEntrypoint):
        return f"python-entrypoint:{p.target}"
    if isinstance(p, PythonFile):
        return f"python-file:{p.path}" + (f":{p.entrypoint}" if p.entrypoint else "")
    tag = p.__struct_config__.tag
    return f"{tag}:{getattr(p, 'path', None) or getattr(p, 'image', '')}"


class SQLStore(Store):
    """Shared implementation; subclasses supply the connection and the DDL types."""

    #: DDL types: key, autoincrement key, float, timestamp, text, bool
    T_SEQ = "INTEGER PRIMARY KEY AUTOINCREMENT"
    T_TIME = "TEXT"
    T_FLOAT = "REAL"
    T_BOOL = "INTEGER"
    placeholder = "?"

    def __init__(self, *, prefix: str = "", retention: int = 10_000) -> None:
        self.prefix = check_identifier(prefix, "table prefix") if prefix else ""
        if retention < 1:
            raise StoreError(f"invalid store retention {retention}: expected a whole number >= 1")
        self.retention = retention
        self._conn: Any = None
        self._last_prune = 0.0
        self._touched: set[tuple[str, str]] = set()

    # ------------------------------------------------------------ dialect hooks

    def table(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _connect(self) -> Any:
        raise NotImplementedError

    def _time(self, value: _dt.datetime | None) -> Any:
        return value

    def _read_time(self, value: Any) -> _dt.datetime | None:
        return value  # type: ignore[no-any-return]

    def _execute(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.placeholder != "?":
            sql = sql.replace("?", self.placeholder)
        cur.execute(sql, params)
        return cur

    def _executemany(self, cur: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.placeholder != "?":
            sql = sql.replace("?", self.placeholder)
        cur.executemany(sql, rows)

    # ------------------------------------------------------------ schema

    def ddl(self) -> list[str]:
        ns, jobs, runs, agg = (self.table(n) for n in ("namespaces", "jobs", "runs", "run_aggregates"))
        t, f, b = self.T_TIME, self.T_FLOAT, self.T_BOOL
        return [
            f"""CREATE TABLE IF NOT EXISTS {ns} (
                id TEXT PRIMARY KEY, name TEXT, description TEXT, source TEXT, host TEXT, "user" TEXT,
                created {t}, updated {t})""",
            f"""CREATE TABLE IF NOT EXISTS {jobs} (
                namespace TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
                enabled {b} NOT NULL, when_text TEXT NOT NULL, payload TEXT NOT NULL, spec TEXT NOT NULL,
                version TEXT, source TEXT, created {t}, updated {t}, last_fired {t},
                PRIMARY KEY (namespace, id))""",
            f"""CREATE TABLE IF NOT EXISTS {runs} (
                seq {self.T_SEQ}, namespace TEXT NOT NULL, job TEXT NOT NULL, tick BIGINT, count BIGINT,
                scheduled {t}, started {t}, ended {t}, lateness {f}, duration {f}, outcome TEXT NOT NULL,
                exit_code INTEGER, signal INTEGER, error TEXT, result TEXT, output TEXT, skipped BIGINT,
                version TEXT, source TEXT)""",
            f"CREATE INDEX IF NOT EXISTS {self.prefix}runs_by_job ON {runs} (namespace, job, seq)",
            f"""CREATE TABLE IF NOT EXISTS {agg} (
                seq {self.T_SEQ}, namespace TEXT NOT NULL, job TEXT NOT NULL, start_at {t}, end_at {t},
                runs BIGINT, ok BIGINT, failed BIGINT, skipped BIGINT, cancelled BIGINT,
                lateness_p50 {f}, lateness_p99 {f}, lateness_max {f}, duration_p50 {f}, duration_max {f},
                last_error TEXT, version TEXT)""",
            f"CREATE INDEX IF NOT EXISTS {self.prefix}aggregates_by_job ON {agg} (namespace, job, seq)",
        ]

    def open(self) -> None:
        if self._conn is not None:
            return
        self._conn = self._connect()
        try:
            cur = self._conn.cursor()
            for stmt in self.ddl():
                self._execute(cur, stmt)
            self._conn.commit()
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot create the tables of store {self.url}: {exc}".strip()) from None

    def close(self) -> None:
        if self._conn is not None:
            try:
                if self._touched:  # a run shorter than PRUNE_EVERY keeps the retention limit too
                    self.prune()
                self._conn.close()
            finally:
                self._conn = None

    def _rollback(self) -> None:
        try:
            self._conn.rollback()
        except Exception:
            pass

    def _cursor(self) -> Any:
        if self._conn is None:
            self.open()
        return self._conn.cursor()

    # ------------------------------------------------------------ writing

    def save_namespace(self, namespace: Namespace, jobs: Sequence[JobSpec], *, replace: bool = True) -> None:
        from ..timetable import job_version

        now = _dt.datetime.now(_dt.UTC)
        o = namespace.origin
        cur = self._cursor()
        try:
            ns_t, jobs_t = self.table("namespaces"), self.table("jobs")
            self._execute(
                cur,
                f"""INSERT INTO {ns_t} (id, name, description, source, host, "user", created, updated)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
                source = excluded.source, host = excluded.host, "user" = excluded."user", updated = excluded.updated""",
                (
                    namespace.id,
                    namespace.name,
                    namespace.description,
                    o.source,
                    o.host,
                    o.user,
                    self._time(namespace.created or now),
                    self._time(now),
                ),
            )
            ids = []
            for spec in jobs:
                jid = spec.meta.id or spec.meta.name
                ids.append(jid)
                blob = msgspec.json.encode(spec).decode()
                self._execute(
                    cur,
                    f"""INSERT INTO {jobs_t} (namespace, id, name, description, enabled, when_text, payload, spec,
                    version, source, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (namespace, id) DO UPDATE SET name = excluded.name,
                    description = excluded.description, enabled = excluded.enabled, when_text = excluded.when_text,
                    payload = excluded.payload, spec = excluded.spec, version = excluded.version,
                    source = excluded.source,
                    updated = CASE WHEN {jobs_t}.version = excluded.version THEN {jobs_t}.updated
                                   ELSE excluded.updated END""",
                    (
                        namespace.id,
                        jid,
                        spec.meta.name,
                        spec.meta.description,
                        self._bool(spec.meta.enabled),
                        spec.when,
                        _payload_text(spec),
                        blob,
                        job_version(spec),
                        spec.meta.origin.source if spec.meta.origin else None,
                        self._time(spec.meta.created or now),
                        self._time(spec.meta.updated or now),
                    ),
                )
            if replace:
                rows = self._execute(cur, f"SELECT id FROM {jobs_t} WHERE namespace = ?", (namespace.id,)).fetchall()
                for (old,) in rows:
                    if old not in ids:
                        self._execute(cur, f"DELETE FROM {jobs_t} WHERE namespace = ? AND id = ?", (namespace.id, old))
            self._conn.commit()
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot save namespace {namespace.id} in store {self.url}: {exc}") from None

    def _bool(self, v: bool) -> Any:
        return int(v)

    def add_runs(self, runs: Sequence[Run], aggregates: Sequence[RunAggregate] = ()) -> None:
        if not runs and not aggregates:
            return
        cur = self._cursor()
        fired: dict[tuple[str, str], _dt.datetime] = {}
        rows = []
        for r in runs:
            ns = r.namespace or ""
            if r.outcome != "skipped" and r.started is not None:
                key = (ns, r.job)
                if key not in fired or r.scheduled > fired[key]:
                    fired[key] = r.scheduled
            self._touched.add((ns, r.job))
            result = None
            if r.result is not None:
                try:
                    result = json.dumps(r.result)
                except (TypeError, ValueError):
                    result = json.dumps(repr(r.result))
            rows.append(
                (
                    ns,
                    r.job,
                    r.tick,
                    r.count,
                    self._time(r.scheduled),
                    self._time(r.started),
                    self._time(r.ended),
                    r.lateness,
                    r.duration,
                    r.outcome,
                    r.exit_code,
                    r.signal,
                    r.error,
                    result,
                    r.output,
                    r.skipped,
                    r.version,
                    r.source,
                )
            )
        agg_rows = []
        for a in aggregates:
            ns = a.namespace or ""
            self._touched.add((ns, a.job))
            key = (ns, a.job)
            if a.runs and (key not in fired or a.end > fired[key]):
                fired[key] = a.end
            agg_rows.append(
                (
                    ns,
                    a.job,
                    self._time(a.start),
                    self._time(a.end),
                    a.runs,
                    a.ok,
                    a.failed,
                    a.skipped,
                    a.cancelled,
                    a.lateness_p50,
                    a.lateness_p99,
                    a.lateness_max,
                    a.duration_p50,
                    a.duration_max,
                    a.last_error,
                    a.version,
                )
            )
        try:
            if rows:
                self._executemany(
                    cur,
                    f"""INSERT INTO {self.table("runs")} (namespace, job, tick, count, scheduled, started, ended,
                    lateness, duration, outcome, exit_code, signal, error, result, output, skipped, version, source)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    rows,
                )
            if agg_rows:
                self._executemany(
                    cur,
                    f"""INSERT INTO {self.table("run_aggregates")} (namespace, job, start_at, end_at, runs, ok,
                    failed, skipped, cancelled, lateness_p50, lateness_p99, lateness_max, duration_p50,
                    duration_max, last_error, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    agg_rows,
                )
            jobs_t = self.table("jobs")
            for (ns, job), when in fired.items():
                self._execute(
                    cur,
                    f"""UPDATE {jobs_t} SET last_fired = ? WHERE namespace = ? AND name = ?
                    AND (last_fired IS NULL OR last_fired < ?)""",
                    (self._time(when), ns, job, self._time(when)),
                )
            self._conn.commit()
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot write runs to store {self.url}: {exc}") from None
        if time.monotonic() - self._last_prune >= PRUNE_EVERY:
            self.prune()

    def prune(self) -> int:
        self._last_prune = time.monotonic()
        touched, self._touched = self._touched, set()
        removed = 0
        cur = self._cursor()
        try:
            for table in (self.table("runs"), self.table("run_aggregates")):
                for ns, job in touched:
                    row = self._execute(
                        cur,
                        f"SELECT seq FROM {table} WHERE namespace = ? AND job = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                        (ns, job, self.retention),
                    ).fetchone()
                    if row is not None:
                        self._execute(
                            cur, f"DELETE FROM {table} WHERE namespace = ? AND job = ? AND seq <= ?", (ns, job, row[0])
                        )
                        removed += max(cur.rowcount, 0)
            self._conn.commit()
        except Exception as exc:
            self._rollback()
            log.warning("pruning store %s failed: %s", self.url, exc)
        return removed

    # ------------------------------------------------------------ reading

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._cursor()
        try:
            rows = self._execute(cur, sql, params).fetchall()
            self._conn.commit()
            return rows  # type: ignore[no-any-return]
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot read store {self.url}: {exc}") from None

    def namespaces(self) -> list[NamespaceRow]:
        ns_t, jobs_t, runs_t = self.table("namespaces"), self.table("jobs"), self.table("runs")
        rows = self._fetch(
            f"""SELECT n.id, n.name, n.description, n.source, n.host, n."user", n.created, n.updated,
            (SELECT COUNT(*) FROM {jobs_t} j WHERE j.namespace = n.id),
            (SELECT COUNT(*) FROM {runs_t} r WHERE r.namespace = n.id),
            (SELECT MAX(j.last_fired) FROM {jobs_t} j WHERE j.namespace = n.id)
            FROM {ns_t} n ORDER BY n.updated DESC, n.id"""
        )
        return [
            NamespaceRow(
                id=r[0],
                name=r[1],
                description=r[2],
                source=r[3],
                host=r[4],
                user=r[5],
                created=self._read_time(r[6]),
                updated=self._read_time(r[7]),
                jobs=int(r[8]),
                runs=int(r[9]),
                last_fired=self._read_time(r[10]),
            )
            for r in rows
        ]

    def jobs(self, namespace: str | None = None) -> list[JobRow]:
        jobs_t = self.table("jobs")
        where, params = ("WHERE namespace = ?", (namespace,)) if namespace is not None else ("", ())
        rows = self._fetch(
            f"""SELECT namespace, id, name, description, enabled, when_text, payload, spec, version, source,
            created, updated, last_fired FROM {jobs_t} {where} ORDER BY namespace, name""",
            params,
        )
        return [
            JobRow(
                namespace=r[0],
                id=r[1],
                name=r[2],
                description=r[3],
                enabled=bool(r[4]),
                when=r[5],
                payload=r[6],
                spec=json.loads(r[7]) if r[7] else None,
                version=r[8],
                source=r[9],
                created=self._read_time(r[10]),
                updated=self._read_time(r[11]),
                last_fired=self._read_time(r[12]),
            )
            for r in rows
        ]

    def history(self, namespace: str | None = None, job: str | None = None, last: int = 20) -> list[Run | RunAggregate]:
        conds, params = [], []
        if namespace is not None:
            conds.append("namespace = ?")
            params.append(namespace)
        if job is not None:
            conds.append("job = ?")
            params.append(job)
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        runs = self._fetch(
            f"""SELECT namespace, job, tick, count, scheduled, started, ended, lateness, duration, outcome,
            exit_code, signal, error, result, output, skipped, version, source, seq FROM {self.table("runs")}
            {where} ORDER BY seq DESC LIMIT ?""",
            (*params, last),
        )
        aggs = self._fetch(
            f"""SELECT namespace, job, start_at, end_at, runs, ok, failed, skipped, cancelled, lateness_p50,
            lateness_p99, lateness_max, duration_p50, duration_max, last_error, version, seq
            FROM {self.table("run_aggregates")} {where} ORDER BY seq DESC LIMIT ?""",
            (*params, last),
        )
        items: list[tuple[_dt.datetime, Run | RunAggregate]] = []
        for r in runs:
            scheduled = self._read_time(r[4])
            assert scheduled is not None
            run = Run(
                namespace=r[0] or None,
                job=r[1],
                tick=r[2] or 0,
                count=r[3],
                scheduled=scheduled,
                started=self._read_time(r[5]),
                ended=self._read_time(r[6]),
                lateness=r[7],
                duration=r[8],
                outcome=r[9],
                exit_code=r[10],
                signal=r[11],
                error=r[12],
                result=json.loads(r[13]) if r[13] else None,
                output=r[14],
                skipped=r[15] or 0,
                version=r[16],
                source=r[17],
            )
            items.append((run.ended or run.scheduled, run))
        for a in aggs:
            start, end = self._read_time(a[2]), self._read_time(a[3])
            assert start is not None and end is not None
            agg = RunAggregate(
                namespace=a[0] or None,
                job=a[1],
                start=start,
                end=end,
                runs=a[4],
                ok=a[5],
                failed=a[6],
                skipped=a[7],
                cancelled=a[8],
                lateness_p50=a[9],
                lateness_p99=a[10],
                lateness_max=a[11],
                duration_p50=a[12],
                duration_max=a[13],
                last_error=a[14],
                version=a[15],
            )
            items.append((agg.end, agg))
        items.sort(key=lambda x: x[0])
        return [it for _, it in items[-last:]]

    def last_fired(self, namespace: str | None) -> dict[str, _dt.datetime]:
        rows = self._fetch(
            f"SELECT name, last_fired FROM {self.table('jobs')} WHERE namespace = ? AND last_fired IS NOT NULL",
            (namespace or "",),
        )
        out = {}
        for name, when in rows:
            t = self._read_time(when)
            if t is not None:
                out[name] = t
        return out
