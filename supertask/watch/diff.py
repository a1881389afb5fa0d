"""Which cells changed between two screens (``-d``), cumulatively since the first (``-d=permanent``),
and whether a screen changed at all (``-g``, ``-q``)."""

from __future__ import annotations

from .screen import Grid

__all__ = ["Marks", "changed", "mark_changes"]

#: per row, the set of changed columns (empty rows may be missing)
Marks = dict[int, set[int]]


def changed(old: Grid | None, new: Grid) -> bool:
    """True when the characters on *new* differ from *old* anywhere (styles do not count).
    With no previous screen (the first run, or after a resize) nothing has changed."""
    if old is None or len(old) != len(new):
        return False
    for old_row, new_row in zip(old, new, strict=True):
        if old_row != new_row and [c[0] for c in old_row] != [c[0] for c in new_row]:
            return True
    return False


def mark_changes(old: Grid | None, new: Grid, previous: Marks | None = None, *, permanent: bool = False) -> Marks:
    """Columns of *new* whose character differs from *old* at the same place.

    A double-width character is marked in both its columns when either differs. With
    *permanent*, cells marked in *previous* stay marked (all changes since the first screen).
    """
    marks: Marks = {}
    if permanent and previous:
        marks = {y: set(cols) for y, cols in previous.items()}
    if old is None or len(old) != len(new):
        return marks
    for y, (old_row, new_row) in enumerate(zip(old, new, strict=True)):
        if old_row == new_row:
            continue
        cols: set[int] | None = None
        width = min(len(old_row), len(new_row))
        for x in range(width):
            if old_row[x][0] != new_row[x][0]:
                if cols is None:
                    cols = marks.setdefault(y, set())
                cols.add(x)
                # keep both halves of a wide character together
                if new_row[x][0] == "" and x > 0:
                    cols.add(x - 1)
                elif x + 1 < width and new_row[x + 1][0] == "":
                    cols.add(x + 1)
    return marks
