"""``supertask.contrib.testing:example_waiter``: the workload of the original Supertask's canonical timetable."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

__all__ = ["example_waiter"]

log = logging.getLogger(__name__)


def example_waiter(*args: Any, **kwargs: Any) -> float:
    """Sleep 5-10 s plus ``jitter`` (or exactly ``seconds`` when given), like a computing workload; return 42.42."""
    jitter = float(kwargs.pop("jitter", 0))
    seconds = kwargs.pop("seconds", None)
    delay = float(seconds) if seconds is not None else random.randint(5, 10) + jitter
    log.info("example waiter: working for %.2fs", delay)
    time.sleep(delay)
    return 42.42
