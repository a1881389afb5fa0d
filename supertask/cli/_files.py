"""``supertask run --file`` and the default ``./supertask.yaml``: timetables with the store and hot reload.

The plain-function core of the file-based commands; cli/run.py and the listing
commands call in here.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Job, Scheduler
    from ..model import JobSpec
    from ..runners import Runner
    from ..sinks import Sink
    from ..sinks.store import StoreSink
    from ..store import Store
    from ..timetable import Timetable

__all__ = ["add_job", "default_source", "load", "run_files"]

log = logging.getLogger("supertask")

#: seconds between checks of a timetable file for changes
RELOAD_EVERY = 1.0
#: seconds between fetches of a remote (http/https) timetable, to look for changes
RELOAD_URL_EVERY = 60.0


def default_source(*, payload: bool = True) -> str:
    """``./supertask.yaml`` (or .yml, .json, .toml), or a usage error (*payload*: a payload would do too)."""
    from ..errors import SpecError
    from ..timetable import DEFAULT_FILES, find_default_file

    found = find_default_file()
    if found is None:
        if not payload:
            raise SpecError(
                f"no file given and no {DEFAULT_FILES[0]} here ({Path.cwd()}): expected --file TIMETABLE, "
                f"a file argument, or a {' / '.join(DEFAULT_FILES)} file"
            )
        raise SpecError(
            f"no payload given and no {DEFAULT_FILES[0]} here ({Path.cwd()}): expected -c COMMAND, "
            f"a command after --, --file TIMETABLE, or a {' / '.join(DEFAULT_FILES)} file"
        )
    return str(found)


def load(sources: Sequence[str], *, ns: str | None = None, when: str | None = None) -> list[Timetable]:
    """Load timetables; two sources in one namespace are an error."""
    from ..errors import SpecError
    from ..timetable import load_timetable

    tables = [load_timetable(src, namespace=ns, when=when) for src in sources]
    seen: dict[str, str] = {}
    for t in tables:
        if t.namespace.id in seen:
            raise SpecError(f"{t.source} and {seen[t.namespace.id]} are both in namespace {t.namespace.id!r}")
        seen[t.namespace.id] = t.source
    return tables


def add_job(
    sched: Scheduler, spec: JobSpec, last_fired: _dt.datetime | None = None, runner: Runner | None = None
) -> Job:
    """Add a job record to a scheduler; a calendar job with a *last_fired* instant handles the fire times
    missed since then by its misfire policy.

    *runner*: one built before (see :func:`build_runners`), so user code is imported once.
    """
    return sched.add_spec(spec, last_fired=last_fired, runner=runner)


def build_runners(tables: Sequence[Timetable]) -> dict[tuple[str, str], Runner]:
    """Build every enabled job's runner before anything runs: bad payloads fail the start, not a run."""
    from ..errors import SpecError
    from ..runners import build_runner

    runners = {}
    for t in tables:
        for spec in t.enabled_jobs:
            try:
                runners[(t.namespace.id, spec.meta.name)] = build_runner(spec.payload, spec.runtime)
            except SpecError as exc:
                raise type(exc)(f"{t.source}: job {spec.meta.name!r}: {exc}") from None
    return runners


def run_files(
    sources: Sequence[str],
    *,
    ns: str | None,
    when: str | None,
    store_url: str | None,
    history: str | None,
    watch: bool,
    grace: float,
    show_stats: bool,
    count: int | None = None,
    duration: float | None = None,
    emit: Sequence[str] | None = None,
    emit_events: bool = False,
) -> int:
    """Run the jobs of timetable files until they are done (or Ctrl-C); returns the exit code.

    *history*, *count* and *duration* (``--history``, ``--count``, ``--for``) override every job's own;
    *emit* (``--emit``) replaces every job's sinks.
    """
    import msgspec

    from ..store import store_from_url

    tables = load(sources, ns=ns, when=when)

    def override(j: JobSpec) -> JobSpec:
        if history is not None:
            j = msgspec.structs.replace(j, history=history)  # type: ignore[arg-type]
        if count is not None:
            j = msgspec.structs.replace(j, policy=msgspec.structs.replace(j.policy, count=count))
        if duration is not None:
            j = msgspec.structs.replace(j, policy=msgspec.structs.replace(j.policy, duration=duration))
        return j

    tables = [msgspec.structs.replace(t, jobs=[override(j) for j in t.jobs]) for t in tables]
    runners = build_runners(tables)
    sinks = build_sinks(tables, emit, emit_events)
    store = store_from_url(store_url)
    store.open()
    last: dict[tuple[str, str], _dt.datetime] = {}
    for t in tables:
        store.save_namespace(t.namespace, t.jobs)
        for name, when_ in store.last_fired(t.namespace.id).items():
            last[(t.namespace.id, name)] = when_
        log.info(
            "%s: namespace %s, %d job(s) (%d enabled), store %s",
            t.source,
            t.namespace.id,
            len(t.jobs),
            len(t.enabled_jobs),
            store.url,
        )
    import gc

    import trio

    from .run import _line_buffered_stdout

    _line_buffered_stdout()
    gc.freeze()
    result: dict[str, Any] = {}
    reload = (when, override) if watch else None
    trio.run(_serve, tables, runners, store, last, reload, grace, show_stats, result, sinks)
    if result.get("stdout_closed"):
        from .run import _silence_stdout

        _silence_stdout()
        return 0
    return int(result.get("exit_code", 0))


async def _serve(
    tables: list[Timetable],
    runners: dict[tuple[str, str], Runner],
    store: Store,
    last: dict[tuple[str, str], _dt.datetime],
    reload: tuple[str | None, Any] | None,
    grace: float,
    show_stats: bool,
    result: dict[str, Any],
    sinks: list[Sink],
) -> None:
    import trio

    from ..engine import Scheduler
    from ..sinks.store import StoreSink
    from .run import _handle_signals, _print_stats, _stdout_is_pipe, _watch_stdout

    sink = StoreSink(store, [j for t in tables for j in t.jobs])
    sched = Scheduler(sinks=[*sinks, sink], shutdown_grace=grace)
    interrupted: list[int] = []
    async with trio.open_nursery() as helpers:
        helpers.start_soon(_handle_signals, sched, interrupted)
        if _stdout_is_pipe():
            helpers.start_soon(_watch_stdout, sched)
        async with trio.open_nursery() as inner:
            await inner.start(sched.serve)
            for t in tables:
                for spec in t.enabled_jobs:
                    key = (t.namespace.id, spec.meta.name)
                    add_job(sched, spec, last.get(key), runners.get(key))
                if not t.enabled_jobs:
                    log.warning("%s: no enabled jobs", t.source)
            if reload is not None:
                for t in tables:
                    helpers.start_soon(_reload_loop, sched, sink, t, *reload)
            await sched.wait_idle()
            sched.stop()
        helpers.cancel_scope.cancel()
    if show_stats:
        _print_stats(sched)
    result["stdout_closed"] = sched.stdout_closed
    if interrupted:
        result["exit_code"] = 130 if interrupted[0] == signal.SIGINT else 0
    elif any(s.failed for s in sched.statistics()):
        result["exit_code"] = 1


def build_sinks(tables: Sequence[Timetable], emit: Sequence[str] | None, emit_events: bool) -> list[Sink]:
    """The scheduler's sinks for timetable jobs: ``--emit`` for all jobs when given, else each job's
    own ``emit`` list (jobs without one print to stdout). Sinks are read at start: a reload that
    changes a job's ``emit`` takes effect at the next start."""
    from ..sinks import StdoutSink, parse_sink
    from ..sinks.routing import JobsSink
    from .run import _build_sinks

    if emit:
        return _build_sinks(list(emit), events=emit_events)
    sinks: list[Sink] = []
    for t in tables:
        ns = t.namespace.id
        routed: dict[tuple[str, bool], list[str]] = {}
        for spec in t.jobs:
            for url in spec.emit:
                routed.setdefault((url, spec.emit_events), []).append(spec.meta.name)
        own = {name for names in routed.values() for name in names}
        plain = {spec.meta.name for spec in t.jobs if not spec.emit}
        for (url, events), names in routed.items():
            sinks.append(JobsSink(parse_sink(url, events=events, namespace=ns), names, namespace=ns))
        if own:
            # jobs with their own sinks keep their stderr on the terminal
            quiet = {n for n in own if not any(u == "stdout" and n in names for (u, _), names in routed.items())}
            if quiet:
                sinks.append(JobsSink(StdoutSink(results=False), quiet, namespace=ns))
        if plain:
            sinks.append(JobsSink(StdoutSink(events=emit_events), plain, namespace=ns))
    return sinks or [StdoutSink()]


def _stamp(path: str) -> Any:
    """What tells a changed source: mtime and size of a file, the digest of a URL's content (None: unreadable)."""
    from ..timetable import is_url, read_source

    if is_url(path):
        import hashlib

        from ..errors import SpecError

        try:
            return hashlib.sha256(read_source(path)[0].encode()).hexdigest()
        except SpecError as exc:
            log.warning("%s", exc)
            return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


async def _reload_loop(
    sched: Scheduler,
    sink: StoreSink,
    table: Timetable,
    when: str | None,
    override: Any,
    interval: float | None = None,
) -> None:
    """Poll a timetable source; on a valid change, add, replace and remove jobs; keep the old version on errors.

    *when* and *override* are the command line's overrides (``--when``; ``--count``, ``--for``, ``--history``).
    A file is checked every second, a URL fetched every minute (or every *interval* seconds).
    """
    import anyio
    import msgspec
    import trio

    from ..errors import SpecError
    from ..timetable import is_url, job_version, load_timetable

    source = table.source
    remote = is_url(source)
    if interval is None:
        interval = RELOAD_URL_EVERY if remote else RELOAD_EVERY
    stamp = await anyio.to_thread.run_sync(_stamp, source, abandon_on_cancel=True) if remote else _stamp(source)
    current = {j.meta.name: j for j in table.jobs}
    ns = table.namespace.id
    while True:
        await trio.sleep(interval)
        now = await anyio.to_thread.run_sync(_stamp, source, abandon_on_cancel=True) if remote else _stamp(source)
        if now == stamp or (remote and now is None):
            continue
        stamp = now
        if now is None:
            log.error("%s: the timetable file is gone; the jobs keep running", source)
            continue
        try:
            new = await anyio.to_thread.run_sync(
                lambda: load_timetable(source, namespace=ns, when=when), abandon_on_cancel=True
            )
            new = msgspec.structs.replace(new, jobs=[override(j) for j in new.jobs])
            runners = build_runners([new])
        except SpecError as exc:
            log.error("reload failed, the previous version keeps running: %s", exc)
            continue
        fresh = {j.meta.name: j for j in new.jobs}
        added = changed = removed = 0
        for name, old in current.items():
            nj = fresh.get(name)
            if nj is not None and job_version(nj) == job_version(old):
                continue
            job = sched.get_job(name, ns)
            if job is not None:
                sched.remove(job)
            sink.unregister(ns, name)
            if nj is None:
                removed += 1
        for name, nj in fresh.items():
            prev = current.get(name)
            if prev is not None and job_version(prev) == job_version(nj):
                continue
            if prev is not None:
                changed += 1
            else:
                added += 1
            sink.register(nj)
            if nj.meta.enabled:
                add_job(sched, nj, runner=runners.get((ns, name)))
        current = fresh
        sink.call_in_writer(lambda new=new: sink.store.save_namespace(new.namespace, new.jobs))  # type: ignore[misc]
        log.info("%s reloaded: %d added, %d changed, %d removed", source, added, changed, removed)
