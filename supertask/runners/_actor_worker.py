"""The code a Supertask tractor actor runs: set up the job's environment once, then run ``python:`` requests.

Imported inside the child actor only (tractor's ``enable_modules``). On import,
the actor asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``)
and ignores SIGINT: a Ctrl-C in the terminal reaches the whole foreground process
group, but actors are stopped by their scheduler, never by the terminal.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import signal
import warnings
from typing import Any

from . import _pyworker

__all__ = ["run_python", "setup"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent or parent == 1:  # the parent died before prctl took effect
        os._exit(1)


_die_with_parent()
if os.environ.get("PYTHONWARNINGS") == "ignore:trio.MultiError:FutureWarning":
    del os.environ["PYTHONWARNINGS"]  # set by the scheduler for tractor's import only
warnings.filterwarnings("ignore", message=r".*MultiError", module=r"tractor(\..*)?$")
try:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
except ValueError:  # not the main thread
    pass


async def setup(env: dict[str, str], cwd: str | None) -> int:
    """Apply the job's environment and working directory to this actor (it serves one job); return its pid."""
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    return os.getpid()


async def run_python(request: bytes) -> dict[str, Any]:
    """Run one ``python:`` request (pickled); output is captured and returned with the response."""
    import pickle

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        response = _pyworker.execute(pickle.loads(request))
    response["stdout"] = out.getvalue()
    response["stderr"] = err.getvalue()
    return response
