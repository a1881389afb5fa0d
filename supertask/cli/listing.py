"""``supertask list-namespaces``, ``list-jobs`` and ``history``: what the store knows."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from ._params import WholeNumber

__all__ = ["history", "list_jobs", "list_namespaces"]

_STORE_HELP = "default: $SUPERTASK_STORE, else SQLite in the user's data directory"


def _open(store: str | None):  # type: ignore[no-untyped-def]
    """Open the store for reading; a SQLite file that does not exist yet is not created (it reads as empty)."""
    from pathlib import Path

    from ..store import store_from_url
    from ..store.sqlite import SQLiteStore

    st = store_from_url(store)
    if isinstance(st, SQLiteStore) and st.path != ":memory:" and not Path(st.path).exists():
        empty = SQLiteStore(":memory:")
        empty.url = st.url
        st = empty
    st.open()
    return st


def list_namespaces(
    *,
    store: str | None = None,
    json: Annotated[bool, Parameter(negative="")] = False,
) -> int:
    """List the namespaces in the store: id, source, host and user, jobs, runs, last fired.

    Parameters
    ----------
    store
        The store: memory://, sqlite:///path.db or postgresql://user@host/db (default: $SUPERTASK_STORE,
        else SQLite in the user's data directory).
    json
        Print JSON records instead of a table.
    """
    from ._table import print_json, print_table, when_text

    with _open(store) as st:
        rows = st.namespaces()
    if json:
        print_json(rows)
        return 0
    print_table(
        ("namespace", "jobs", "runs", "last fired", "host", "user", "source"),
        [(r.id, r.jobs, r.runs, when_text(r.last_fired), r.host, r.user, r.source) for r in rows],
        empty=f"no namespaces in {st.url}",
    )
    return 0


def list_jobs(
    *,
    ns: str | None = None,
    store: str | None = None,
    json: Annotated[bool, Parameter(negative="")] = False,
) -> int:
    """List the jobs in the store, of one namespace (--ns) or all.

    Parameters
    ----------
    ns
        The namespace id (see list-namespaces).
    store
        The store (default: $SUPERTASK_STORE, else SQLite in the user's data directory).
    json
        Print JSON records (with the full job definition) instead of a table.
    """
    from ..errors import StoreError
    from ._table import print_json, print_table, when_text

    with _open(store) as st:
        rows = st.jobs(ns)
        if ns is not None and not rows and ns not in {n.id for n in st.namespaces()}:
            raise StoreError(f"no namespace {ns!r} in {st.url}: expected one of those shown by list-namespaces")
    if json:
        print_json(rows)
        return 0
    header: tuple[str, ...] = ("job", "when", "enabled", "last fired", "version", "payload")
    if ns is None:
        header = ("namespace", *header)
    print_table(
        header,
        [
            (
                *(() if ns is not None else (r.namespace or "-",)),
                r.name,
                r.when,
                "yes" if r.enabled else "no",
                when_text(r.last_fired),
                r.version,
                _short(r.payload, 60),
            )
            for r in rows
        ],
        empty=f"no jobs in {st.url}",
    )
    return 0


def history(
    *,
    ns: str | None = None,
    job: str | None = None,
    last: WholeNumber = 20,
    store: str | None = None,
    json: Annotated[bool, Parameter(negative="")] = False,
) -> int:
    """Show the latest runs from the store (oldest first); fast jobs show one summary row per interval.

    Parameters
    ----------
    ns
        Only this namespace.
    job
        Only this job (its name or id).
    last
        How many runs to show.
    store
        The store (default: $SUPERTASK_STORE, else SQLite in the user's data directory).
    json
        Print JSON records instead of a table.
    """
    from ..durations import format_duration as fd
    from ..errors import SpecError, StoreError
    from ..model import Run
    from ._table import print_json, print_table, when_text

    if last < 1:
        raise SpecError(f"invalid --last {last}: expected a whole number >= 1")
    with _open(store) as st:
        if job is not None:
            # a job can be named by its id too (the original format's tasks[].meta.id)
            known = st.jobs(ns)
            if job not in {j.name for j in known}:
                ids = {j.id: j.name for j in known}
                job = ids.get(job, job)
        rows = st.history(ns, job, last)
        if not rows and ns is not None and ns not in {n.id for n in st.namespaces()}:
            raise StoreError(f"no namespace {ns!r} in {st.url}: expected one of those shown by list-namespaces")
        if not rows and job is not None and job not in {j.name for j in st.jobs(ns)}:
            where = f"namespace {ns!r} of {st.url}" if ns is not None else st.url
            raise StoreError(f"no job {job!r} in {where}: expected one of those shown by list-jobs")
    if json:
        print_json(rows)
        return 0
    table: list[tuple[object, ...]] = []
    ns_cell: tuple[object, ...] = ()
    for r in rows:
        if ns is None:  # runs of several namespaces: say which
            ns_cell = (r.namespace or "-",)
        if isinstance(r, Run):
            output = (r.output or "").strip().splitlines()
            detail = r.error or (repr(r.result) if r.result is not None else output[-1] if output else "")
            if r.outcome == "skipped":
                detail = f"{r.skipped} tick(s)"
            table.append(
                (
                    *ns_cell,
                    when_text(r.scheduled),
                    r.job,
                    r.outcome,
                    "-" if r.lateness is None else fd(r.lateness),
                    "-" if r.duration is None else fd(r.duration),
                    "-" if r.exit_code is None else r.exit_code,
                    _short(detail, 60),
                )
            )
        else:
            late = "-" if r.lateness_p99 is None else f"p99 {fd(r.lateness_p99)}"
            dur = "-" if r.duration_p50 is None else f"p50 {fd(r.duration_p50)}"
            detail = f"{r.runs} runs to {when_text(r.end)[11:]}: {r.ok} ok, {r.failed} failed, {r.skipped} skipped"
            table.append((*ns_cell, when_text(r.start), r.job, "summary", late, dur, "-", detail))
    header: tuple[str, ...] = ("scheduled", "job", "outcome", "late", "took", "exit", "result / error")
    print_table(
        header if ns is not None else ("namespace", *header),
        table,
        empty=f"no runs in {st.url}",
    )
    return 0


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
