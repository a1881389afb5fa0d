"""Plain-text tables and JSON output for the listing commands."""

from __future__ import annotations

import datetime as _dt
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["print_json", "print_table", "when_text"]


def when_text(value: _dt.datetime | None) -> str:
    """A local, second-resolution time, or ``-``."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> None:
    if not rows:
        print(empty, file=sys.stderr)
        return
    cells = [[str(c) for c in header], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def print_json(value: Any) -> None:
    import msgspec

    sys.stdout.write(msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n")
