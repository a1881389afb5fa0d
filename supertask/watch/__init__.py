"""``supertask watch``: the screen, diff and terminal logic of a faithful, better procps ``watch``.

``WatchOptions`` is light; the session (which needs trio and the engine) is imported on first use,
so ``supertask watch --help`` and option errors stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .options import WatchOptions as WatchOptions

if TYPE_CHECKING:
    from .session import WatchResult as WatchResult
    from .session import run_watch as run_watch

__all__ = ["WatchOptions", "WatchResult", "run_watch"]


def __getattr__(name: str) -> Any:
    if name in ("WatchResult", "run_watch"):
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
