"""Python files as payloads (minimal: the subprocess runners of the isolation work may replace it).

``PythonFile(path)`` runs the file as a script in a fresh interpreter (the current
one), with ``args`` as ``sys.argv[1:]``. With an ``entrypoint`` (the original
Supertask's ``python-file`` steps, ``file.py:run``) the file is imported as a module
and that function is called with ``args`` and ``kwargs``: in a worker thread of the
scheduler's process, or in a fresh interpreter when the job has an environment or
working directory of its own (the scheduler's ``os.environ`` is never modified).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

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
    if spec.entrypoint is None:
        if spec.kwargs:
            raise PayloadError(f"python file {spec.path!r}: kwargs need an entrypoint function to pass them to")
        return SubprocessRunner(
            [sys.executable, str(path), *spec.args],
            description=f"python:{spec.path}",
            env=env,
            cwd=cwd,
        )
    description = f"python-file:{spec.path}:{spec.entrypoint}"
    if env or cwd or isolated:
        return isolated_call_runner(
            str(path.resolve()),
            spec.entrypoint,
            spec.args,
            spec.kwargs,
            is_file=True,
            env=env,
            cwd=cwd,
            description=description,
        )
    module = load_file_module(spec.path)
    fn = getattr(module, spec.entrypoint, None)
    if not callable(fn):
        raise PayloadError(f"python file {spec.path!r} does not define a function {spec.entrypoint!r}")
    return EntrypointRunner(fn, spec.args, spec.kwargs, description=description)
