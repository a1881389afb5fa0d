"""``supertask validate``: check timetable and task files without running anything."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

__all__ = ["validate"]


def validate(
    *files: str,
    file: Annotated[list[str] | None, Parameter(name=["--file", "-f"], negative="")] = None,
    ns: str | None = None,
    json: Annotated[bool, Parameter(negative="")] = False,
) -> int:
    """Check timetable or task files: schema, schedules, payloads. Nothing runs and nothing is stored.

    Without files, ./supertask.yaml (or .yml, .json, .toml) is checked. An error names the file,
    the line and the field, and the expected form (exit code 2).

    Parameters
    ----------
    files
        Files or http(s) URLs to check (the same as --file).
    file
        A timetable (.yaml, .yml, .json, .toml), a Python task file (.py) or an http(s):// URL.
    ns
        Check as if this namespace were given.
    json
        Print the jobs as JSON records.
    """
    from ._files import build_runners, default_source, load
    from ._table import print_json, print_table

    sources = [*files, *(file or [])] or [default_source(payload=False)]
    tables = load(sources, ns=ns)
    build_runners(tables)
    if json:
        print_json([{"source": t.source, "format": t.format, "namespace": t.namespace, "jobs": t.jobs} for t in tables])
        return 0
    for t in tables:
        print(f"{t.source}: ok, {t.format}, namespace {t.namespace.id}, {len(t.jobs)} job(s)")
        print_table(
            ("  job", "when", "enabled"),
            [(f"  {j.meta.name}", j.when, "yes" if j.meta.enabled else "no") for j in t.jobs],
            empty="  (no jobs)",
        )
    return 0
