"""``supertask watch``: the screen, diff and terminal logic of a faithful, better procps ``watch``."""

from __future__ import annotations

from .options import WatchOptions as WatchOptions
from .session import WatchResult as WatchResult
from .session import run_watch as run_watch

__all__ = ["WatchOptions", "WatchResult", "run_watch"]
