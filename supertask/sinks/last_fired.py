"""The last-fired instant of each job, kept in a small JSON file so misfires survive a restart.

A stand-in for the store: the store will keep the same fact (the latest ``scheduled``
of a job's runs) and hand it to :meth:`Scheduler.add_spec(spec, last_fired=...)`.
The file is written atomically, at most once a second and when the scheduler stops,
never from the timing path's critical section.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Sink

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..model import Run

__all__ = ["LastFiredFile", "default_state_path"]

log = logging.getLogger(__name__)

#: seconds between two writes of the file
WRITE_EVERY = 1.0


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/supertask/last-fired.json`` (``~/.local/state/…`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "supertask" / "last-fired.json"


class LastFiredFile(Sink):
    """Reads the last-fired instants at start and records each run's scheduled instant.

    Args:
        path: the JSON file (created with its directory when first written).
    """

    wants_runs = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._data: dict[str, str] = {}
        self._dirty = False
        self._last_write = 0.0
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            jobs = raw.get("jobs", {}) if isinstance(raw, dict) else {}
            self._data = {str(k): str(v) for k, v in jobs.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("ignoring unreadable state file %s: %s", self.path, exc)

    def last_fired(self, job: str) -> _dt.datetime | None:
        """The latest instant *job* fired for, as recorded, or None."""
        text = self._data.get(job)
        if text is None:
            return None
        try:
            value = _dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)

    def result(self, task: Task, value: Any) -> None:
        pass

    def run_started(self, run: Run) -> None:
        old = self._data.get(run.job)
        new = run.scheduled.astimezone(_dt.UTC).isoformat()
        if old is None or _dt.datetime.fromisoformat(old) < run.scheduled:
            self._data[run.job] = new
            self._dirty = True
            if time.monotonic() - self._last_write >= WRITE_EVERY:
                self.flush()

    def flush(self) -> None:
        """Write the file now (atomically) if anything changed."""
        if not self._dirty:
            return
        self._last_write = time.monotonic()
        self._dirty = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"jobs": self._data}, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("cannot write state file %s: %s", self.path, exc)

    def close(self) -> None:
        self.flush()
