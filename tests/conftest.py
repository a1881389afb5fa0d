"""Shared test helpers."""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import tempfile

import pytest
import trio
import trio.testing

from supertask.engine import Scheduler, TrioClock

UTC = dt.UTC

# tests never touch the user's own data: the default store lives in a temporary directory
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="supertask-test-data-")
atexit.register(shutil.rmtree, os.environ["XDG_DATA_HOME"], ignore_errors=True)
os.environ.pop("SUPERTASK_STORE", None)


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    """Virtual time: trio jumps to the next deadline whenever every task is blocked."""
    return autojump_clock


def virtual_scheduler(wall_start: dt.datetime | None = None, **kwargs: object) -> Scheduler:
    """A scheduler on virtual time, with no sinks unless given."""
    kwargs.setdefault("sinks", [])
    return Scheduler(clock=TrioClock(wall_start or dt.datetime(2027, 1, 1, tzinfo=UTC)), **kwargs)  # type: ignore[arg-type]
