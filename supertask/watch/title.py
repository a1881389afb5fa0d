"""The two title lines of the watch screen.

Line 1 is procps ``watch``'s (4.0.2) header, column for column: ``Every 2.0s: COMMAND`` on the
left and ``HOST: Fri Nov 27 09:28:17 2026`` on the right, the command cut with ``... `` when
it does not fit. Line 2, blank in procps 4.0.2, carries the statistics: run count, lateness
p50/p99, the measured period, skipped runs, and (as procps 4.0.5 shows it) the last run's
duration and exit status on the right.
"""

from __future__ import annotations

import datetime as _dt

from .screen import Cell, text_cells, text_width

__all__ = ["format_interval", "header_line", "stats_line"]


def format_interval(seconds: float) -> str:
    """``2.0``, ``0.5``, ``0.05``, ``0.001``: procps' ``%.1f`` where that is exact, else the shortest exact form."""
    if abs(round(seconds, 1) - seconds) < 1e-9:
        return f"{seconds:.1f}"
    return f"{seconds:.6g}"


def ctime(when: _dt.datetime) -> str:
    """``Fri Nov 27 09:28:17 2026`` (C ``ctime`` without its newline)."""
    return f"{when:%a %b} {when.day:2d} {when:%H:%M:%S %Y}"


def header_line(interval: str, command: str, host: str, when: _dt.datetime, width: int) -> list[Cell]:
    """procps 4.0.2's header: the same columns and the same truncation rules."""
    left = f"Every {interval}s: "
    right = f"{host}: {ctime(when)}"
    hlen = text_width(left)
    rhlen = text_width(right) + 1  # procps counts ctime's trailing newline
    row = text_cells("", width)
    if width < rhlen:
        return row

    def put(x: int, text: str) -> None:
        if x < 0 or x >= width:
            return
        n = min(text_width(text), width - x)
        row[x : x + n] = text_cells(text, width - x)[:n]

    if rhlen + hlen + 1 <= width:
        put(0, left)
        if rhlen + hlen + 2 <= width:
            if width < rhlen + hlen + 4:
                put(width - rhlen - 4, "... ")
            else:
                cols = text_width(command)
                if width < rhlen + hlen + cols:
                    available = width - rhlen - hlen
                    cut = command
                    while cut and text_width(cut) > available - 4:
                        cut = cut[:-1]
                    put(hlen, cut)
                    put(width - rhlen - 4, "... ")
                else:
                    put(hlen, command)
    put(width - rhlen + 1, right)
    return row


def stats_line(left: str, right: str, width: int) -> list[Cell]:
    """*left* from column 0 and *right* flush right, one blank column between them. *left* is
    fields separated by two spaces; it is cut at the end of a field or before a ``±``, never
    inside a value (only a first field wider than the room is cut anywhere)."""
    rw = text_width(right)
    if rw > width:
        right, rw = "", 0
    room = width - rw - (1 if rw else 0)
    cut = left
    if text_width(cut) > room:
        ends = [i for i, ch in enumerate(left) if (ch == "±" or left.startswith("  ", i)) and i > 0]
        fitting = [i for i in ends if text_width(left[:i]) <= room]
        cut = left[: fitting[-1]] if fitting else left
    while cut and text_width(cut) > room:
        cut = cut[:-1]
    row = text_cells(cut, width)
    if right:
        tail = text_cells(right, rw)
        row[width - rw :] = tail
    return row
