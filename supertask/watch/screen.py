"""Lay a command's output out on a screen grid the way procps ``watch`` does: wrap or clip lines,
expand tabs, drop non-printing characters, place wide and combining characters, and (with colour
on) keep ANSI SGR attributes per cell.

A :data:`Grid` is a list of rows; each row is a list of ``width`` cells ``(text, attr)``. ``text``
is one printable character plus any combining characters that follow it, ``" "`` for blank
space, or ``""`` for the second column of a double-width character. ``attr`` is an :class:`Attr`
(hashable, ``PLAIN`` when there is no styling).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import unicodedata
from typing import NamedTuple

__all__ = [
    "PLAIN",
    "Attr",
    "Cell",
    "Grid",
    "Layout",
    "blank_grid",
    "char_width",
    "grid_text",
    "layout",
    "text_cells",
    "text_width",
]

TAB_WIDTH = 8

#: attribute flag bits
BOLD, DIM, ITALIC, UNDERLINE, BLINK, REVERSE = 1, 2, 4, 8, 16, 32
_FLAG_SGR = ((BOLD, "1"), (DIM, "2"), (ITALIC, "3"), (UNDERLINE, "4"), (BLINK, "5"), (REVERSE, "7"))
_SET_FLAG = {1: BOLD, 2: DIM, 3: ITALIC, 4: UNDERLINE, 5: BLINK, 7: REVERSE}
_CLEAR_FLAG = {21: BOLD, 22: BOLD | DIM, 23: ITALIC, 24: UNDERLINE, 25: BLINK, 27: REVERSE}


class Attr(NamedTuple):
    """The style of a cell: foreground and background as SGR parameter text (``"31"``,
    ``"38;5;208"``, ``"48;2;0;0;255"``) or None for the default, and flag bits."""

    fg: str | None = None
    bg: str | None = None
    flags: int = 0

    def sgr(self, extra_flags: int = 0) -> str:
        """The escape sequence that selects this style from any state."""
        params = ["0"]
        flags = self.flags | extra_flags
        params += [code for bit, code in _FLAG_SGR if flags & bit]
        if self.fg:
            params.append(self.fg)
        if self.bg:
            params.append(self.bg)
        return "\x1b[" + ";".join(params) + "m"


PLAIN = Attr()

Cell = tuple[str, Attr]
Grid = list[list[Cell]]

_BLANK: Cell = (" ", PLAIN)


@functools.cache
def _libc_wcwidth() -> object | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.wcwidth
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_wchar]
    fn.restype = ctypes.c_int
    # only trust it in a UTF-8 locale that knows wide characters
    try:
        if fn("日") != 2 or fn("a") != 1:
            return None
    except Exception:
        return None
    return fn


@functools.lru_cache(maxsize=4096)
def char_width(ch: str) -> int:
    """Terminal columns of one character: 0 for combining and format characters, 2 for wide
    (East Asian wide/fullwidth, most emoji), 1 otherwise; -1 for non-printing control characters."""
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cs", "Co", "Cn") and ch != "\t":
        return -1
    fn = _libc_wcwidth()
    if fn is not None and cat != "Cn":
        w = fn(ch)  # type: ignore[operator]
        if w >= 0:
            return int(w)
    if cat in ("Mn", "Me", "Cf") or ch == "\u200b":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Columns taken by *text* (non-printing characters count as 0)."""
    return sum(max(0, char_width(c)) for c in text)


def blank_grid(width: int, height: int) -> Grid:
    return [[_BLANK] * width for _ in range(height)]


def text_cells(text: str, width: int, attr: Attr = PLAIN) -> list[Cell]:
    """Cells of a single line of plain *text*, clipped or padded to *width* columns."""
    row: list[Cell] = []
    for ch in text:
        w = char_width(ch)
        if w < 0:
            continue
        if w == 0:
            if row:
                prev = len(row) - 1
                while prev > 0 and row[prev][0] == "":
                    prev -= 1
                row[prev] = (row[prev][0] + ch, row[prev][1])
            continue
        if len(row) + w > width:
            break
        row.append((ch, attr))
        if w == 2:
            row.append(("", attr))
    row.extend([_BLANK] * (width - len(row)))
    return row


class Layout(NamedTuple):
    """A laid-out output: the grid, and whether the output rang the bell (``\\a``)."""

    grid: Grid
    bell: bool


def layout(data: bytes | str, width: int, height: int, *, wrap: bool = True, color: bool = False) -> Layout:
    """Lay *data* out on a *width* × *height* grid, as procps ``watch`` shows it.

    Lines longer than the width wrap (or, with ``wrap=False``, are cut); a wide character that
    does not fit in the last column moves to the next line. Tabs go to the next multiple of 8.
    Control characters show as ``^`` (CR and BS as a blank), as in procps 4.0.2; other
    non-printing characters are dropped. With *color*, SGR sequences (``ESC[…m``) set the cell
    attributes, other CSI sequences and ``ESC(B`` are dropped; without, ``ESC`` shows as ``^``
    and the rest of the sequence as text. Output beyond the last row is
    ignored.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    grid = blank_grid(width, height)
    bell = False
    if width <= 0 or height <= 0:
        return Layout(grid, bell)
    y = x = 0
    attr = PLAIN
    i, n = 0, len(text)
    skipping = False  # no-wrap: dropping the rest of a line
    while i < n and y < height:
        ch = text[i]
        i += 1
        if ch == "\n":
            y += 1
            x = 0
            skipping = False
            if not wrap:
                attr = PLAIN
            continue
        if ch == "\x1b" and color:
            i, attr = _escape(text, i, attr)
            continue
        if skipping:
            # the rest of a cut line: jump to its end (its styles end with it, as in procps)
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if ch == "\a":
            bell = True
            continue
        if ch == "\t":
            if x >= width:
                if not wrap:
                    skipping = True
                    continue
                y, x = y + 1, 0
                if y >= height:
                    break
            row = grid[y]
            while True:
                row[x] = (" ", attr)
                x += 1
                if x % TAB_WIDTH == 0 or x >= width:
                    break
            continue
        if ch < " " or ch == "\x7f":
            # control characters show as curses prints them in procps 4.0.2: ^ (CR and BS as a blank)
            ch = " " if ch in "\r\b" else "^"
        w = char_width(ch)
        if w < 0:
            continue
        if w == 0:
            # a combining mark joins the character before it
            if x > 0:
                row = grid[y]
                px = x - 1
                while px > 0 and row[px][0] == "":
                    px -= 1
                row[px] = (row[px][0] + ch, row[px][1])
            continue
        if x + w > width:
            if not wrap:
                skipping = True
                continue
            y, x = y + 1, 0
            if y >= height:
                break
        row = grid[y]
        row[x] = (ch, attr)
        if w == 2:
            row[x + 1] = ("", attr)
        x += w
    return Layout(grid, bell)


def _escape(text: str, i: int, attr: Attr) -> tuple[int, Attr]:
    """Consume an escape sequence starting after ``ESC`` at *i*; return the new index and attribute."""
    n = len(text)
    if i >= n:
        return i, attr
    c = text[i]
    if c == "(" or c == ")":
        return min(n, i + 2), attr  # charset selection: ESC ( B
    if c != "[":
        return i, attr  # not a sequence procps knows: ESC alone is dropped
    j = i + 1
    while j < n and "\x30" <= text[j] <= "\x3f":  # parameter bytes
        j += 1
    while j < n and "\x20" <= text[j] <= "\x2f":  # intermediate bytes
        j += 1
    if j >= n:
        return n, attr
    final = text[j]
    if final == "m":
        return j + 1, _apply_sgr(text[i + 1 : j], attr)
    if "\x40" <= final <= "\x7e":
        return j + 1, attr  # another CSI sequence (cursor movement, erase): dropped
    return j, attr


def _apply_sgr(params: str, attr: Attr) -> Attr:
    fg, bg, flags = attr
    parts = params.split(";") if params else ["0"]
    k = 0
    while k < len(parts):
        p = parts[k]
        k += 1
        try:
            code = int(p) if p else 0
        except ValueError:
            break
        if code == 0:
            fg, bg, flags = None, None, 0
        elif code in _SET_FLAG:
            flags |= _SET_FLAG[code]
        elif code in _CLEAR_FLAG:
            flags &= ~_CLEAR_FLAG[code]
        elif 30 <= code <= 37 or 90 <= code <= 97:
            fg = str(code)
        elif 40 <= code <= 47 or 100 <= code <= 107:
            bg = str(code)
        elif code == 39:
            fg = None
        elif code == 49:
            bg = None
        elif code in (38, 48):
            extended = _extended_color(parts, k)
            if extended is None:
                break
            value, k = extended
            if code == 38:
                fg = f"38;{value}"
            else:
                bg = f"48;{value}"
    return Attr(fg, bg, flags)


def _extended_color(parts: list[str], k: int) -> tuple[str, int] | None:
    """``5;N`` (256 colours) or ``2;R;G;B`` (true colour) after 38/48."""
    if k < len(parts) and parts[k] == "5" and k + 1 < len(parts) and parts[k + 1].isdigit():
        if int(parts[k + 1]) <= 255:
            return f"5;{int(parts[k + 1])}", k + 2
        return None
    if k < len(parts) and parts[k] == "2" and k + 3 < len(parts) and all(q.isdigit() for q in parts[k + 1 : k + 4]):
        rgb = [min(255, int(q)) for q in parts[k + 1 : k + 4]]
        return "2;" + ";".join(map(str, rgb)), k + 4
    return None


def grid_text(grid: Grid, *, pad: bool = False) -> list[str]:
    """The text of each row (trailing blanks removed unless *pad*)."""
    lines = ["".join(cell[0] for cell in row) for row in grid]
    return lines if pad else [line.rstrip(" ") for line in lines]
