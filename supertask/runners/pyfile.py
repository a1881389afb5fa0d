"""Python files called through an entry point (the original Supertask's `python-file` steps, task files).

``PythonFile(path)`` runs the file as a script in a fresh interpreter (the current
one), with ``args`` as ``sys.argv[1:]``. With an ``entrypoint`` (the original
Supertask's ``python-file`` steps, ``file.py:run``) the file is imported as a module
and that function is called with ``args`` and ``kwargs``: in a worker thread of the
scheduler's process, or in a fresh interpreter when the job has an environment or
working directory of its own (the scheduler's ``os.environ`` is never modified).

A file whose PEP 723 ``# /// script`` block lists ``dependencies`` runs through
``uv`` (``uv run --script``, or ``uv run --with DEP … python`` for an entrypoint), so
its dependencies are installed (and cached by uv) for it alone.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PayloadError
from ..model import PythonFile
from .base import Runner
from .entrypoint import EntrypointRunner, isolated_call_runner, load_file_module
from .subprocess import SubprocessRunner

__all__ = ["python_file_runner"]


def python_file_runner(
    spec: PythonFile,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    isolated: bool = False,
) -> Runner:
    """The runner for a :class:`~supertask.model.PythonFile` payload.

    Raises:
        PayloadError: the file is missing, fails to import, or lacks the entrypoint.
    """
    path = Path(spec.path)
    if not path.is_file():
        raise PayloadError(f"python file {spec.path!r} not found: expected the path of a .py file")
    deps = script_dependencies(path)
    uv = _uv(spec.path) if deps else None
    if spec.entrypoint is None:
        if spec.kwargs:
            raise PayloadError(f"python file {spec.path!r}: kwargs need an entrypoint function to pass them to")
        prefix = [uv, "run", "--quiet", "--script"] if uv else [sys.executable]
        return SubprocessRunner(
            [*prefix, str(path), *spec.args],
            description=f"python:{spec.path}",
            env=env,
            cwd=cwd,
        )
    description = f"python-file:{spec.path}:{spec.entrypoint}"
    if uv or env or cwd or isolated:
        with_deps = [arg for dep in deps for arg in ("--with", dep)]
        return isolated_call_runner(
            str(path.resolve()),
            spec.entrypoint,
            spec.args,
            spec.kwargs,
            is_file=True,
            env=env,
            cwd=cwd,
            description=description,
            interpreter=[uv, "run", "--quiet", "--no-project", *with_deps, "python"] if uv else None,
        )
    module = load_file_module(spec.path)
    fn = getattr(module, spec.entrypoint, None)
    if not callable(fn):
        raise PayloadError(f"python file {spec.path!r} does not define a function {spec.entrypoint!r}")
    return EntrypointRunner(fn, spec.args, spec.kwargs, description=description)


def script_dependencies(path: Path) -> list[str]:
    """The ``dependencies`` of a file's PEP 723 ``# /// script`` block (empty when there is none)."""
    from ..timetable import script_blocks

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    for kind, content, _ in script_blocks(text):
        if kind == "script":
            try:
                meta: dict[str, Any] = tomllib.loads(content)
            except tomllib.TOMLDecodeError as exc:
                raise PayloadError(f"python file {str(path)!r}: invalid '# /// script' block: {exc}") from None
            deps = meta.get("dependencies") or []
            if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
                raise PayloadError(f"python file {str(path)!r}: dependencies must be a list of requirement strings")
            return deps
    return []


def _uv(path: str) -> str:
    uv = shutil.which("uv")
    if uv is None:
        raise PayloadError(
            f"python file {path!r} declares dependencies (PEP 723), which need uv: expected uv on PATH (pip install uv)"
        )
    return uv
