"""What a ``supertask watch`` session was asked to do (parsed from procps-style options by the CLI)."""

from __future__ import annotations

import dataclasses
from typing import Literal

__all__ = ["EXIT_ERREXIT", "MAX_INTERVAL", "MIN_INTERVAL", "WatchOptions"]

#: the shortest interval (procps stops at 0.1 s)
MIN_INTERVAL = 0.001
#: the longest interval (as procps: 31 days)
MAX_INTERVAL = 31 * 24 * 3600.0
#: exit code after ``-e`` stopped on a failing run (procps 4.0.2's documented code)
EXIT_ERREXIT = 8

PreciseMode = Literal["start", "catchup"]


@dataclasses.dataclass
class WatchOptions:
    """Options of one watch session; the defaults are procps ``watch``'s.

    Attributes:
        command: the command words; joined by single spaces and run by ``sh -c``, or with
            ``exec_`` run as an argv.
        interval: seconds between runs (end to start, or start to start with ``precise``).
        precise: None (relaxed: the interval counts from the end of a run), ``"start"`` (procps
            4.0.5+: start to start on a grid; an overrunning run delays the next to its end and the
            missed grid points are counted as skipped) or ``"catchup"`` (procps up to 4.0.4: a
            fixed grid; after an overrun the missed runs fire back to back until it is caught up).
    """

    command: list[str]
    exec_: bool = False
    interval: float = 2.0
    precise: PreciseMode | None = None
    differences: bool = False
    permanent: bool = False
    errexit: bool = False
    okexit: bool = False
    nokeypress: bool = False
    chgexit: bool = False
    equexit: int | None = None
    beep: bool = False
    color: bool = False
    title: bool = True
    wrap: bool = True
    rerun: bool = True
    shotsdir: str = ""
    count: int | None = None
    duration: float | None = None
    stats: bool = False

    @property
    def command_text(self) -> str:
        """The command as the title shows it (words joined by single spaces, as procps does)."""
        return " ".join(self.command)
