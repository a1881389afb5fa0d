"""The terminal: alternate screen, cbreak input, window size, and drawing frames without flicker.

A frame is a :data:`~supertask.watch.screen.Grid` for the whole window. :meth:`Terminal.draw`
compares it with the frame drawn before and writes only the runs of cells that changed, in
one ``write``, inside a synchronized-update bracket, so a 20 Hz refresh never clears the screen.
"""

from __future__ import annotations

import contextlib
import os
import termios
import tty
from collections.abc import Iterator

from .screen import PLAIN, Attr, Grid

__all__ = ["ENTER", "LEAVE", "Terminal", "terminal_size"]

#: alternate screen, hide the cursor, no autowrap, clear
ENTER = "\x1b[?1049h\x1b[?25l\x1b[?7l\x1b[H\x1b[2J"
#: plain style, autowrap and cursor back, leave the alternate screen
LEAVE = "\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l"
_SYNC_BEGIN = "\x1b[?2026h"
_SYNC_END = "\x1b[?2026l"


def terminal_size(fd: int, environ: dict[str, str] | None = None) -> tuple[int, int]:
    """(columns, lines): ``COLUMNS``/``LINES`` from the environment win (as in procps), then
    the window size of *fd* or stderr, then 80×24."""
    env = os.environ if environ is None else environ
    cols = lines = 0
    for fd_try in (fd, 2):
        try:
            size = os.get_terminal_size(fd_try)
        except OSError:
            continue
        cols, lines = size.columns, size.lines
        break
    cols = _env_int(env.get("COLUMNS")) or cols or 80
    lines = _env_int(env.get("LINES")) or lines or 24
    return cols, lines


def _env_int(text: str | None) -> int:
    if text and text.isdigit() and int(text) > 0:
        return int(text)
    return 0


class Terminal:
    """Owns the terminal while the watch screen is up.

    Args:
        out_fd: the terminal to draw on.
        in_fd: where keys come from (None: no keyboard, e.g. stdin is not a terminal).
    """

    def __init__(self, out_fd: int, in_fd: int | None) -> None:
        self.out_fd = out_fd
        self.in_fd = in_fd
        self._saved: list | None = None  # type: ignore[type-arg]
        self._shown: Grid | None = None
        self.active = False

    @contextlib.contextmanager
    def session(self) -> Iterator[Terminal]:
        """Enter the alternate screen and cbreak mode; always restore both."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def start(self) -> None:
        if self.in_fd is not None:
            try:
                self._saved = termios.tcgetattr(self.in_fd)
                tty.setcbreak(self.in_fd, termios.TCSANOW)
            except termios.error:
                self._saved = None
        self.active = True
        self._shown = None
        self._write(ENTER)

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        try:
            self._write(LEAVE)
        finally:
            if self._saved is not None and self.in_fd is not None:
                with contextlib.suppress(termios.error):
                    termios.tcsetattr(self.in_fd, termios.TCSADRAIN, self._saved)
                self._saved = None

    def size(self) -> tuple[int, int]:
        return terminal_size(self.out_fd)

    def invalidate(self) -> None:
        """Forget what is on screen: the next :meth:`draw` clears and repaints everything."""
        self._shown = None

    def beep(self) -> None:
        self._write("\a")

    def read_keys(self) -> bytes:
        """Read what is waiting on the keyboard (call when it is readable)."""
        if self.in_fd is None:
            return b""
        try:
            return os.read(self.in_fd, 256)
        except (BlockingIOError, InterruptedError):
            return b""

    def flush_input(self) -> None:
        if self.in_fd is not None:
            with contextlib.suppress(termios.error):
                termios.tcflush(self.in_fd, termios.TCIFLUSH)

    def draw(self, frame: Grid) -> None:
        """Show *frame*, writing only what differs from the frame shown before."""
        self._write(render(self._shown, frame))
        self._shown = [list(row) for row in frame]

    def _write(self, text: str) -> None:
        if not text:
            return
        data = text.encode("utf-8", errors="replace")
        while data:
            try:
                n = os.write(self.out_fd, data)
            except InterruptedError:
                continue
            data = data[n:]


def render(old: Grid | None, new: Grid) -> str:
    """The escape sequences that turn screen *old* into *new* (None: unknown, repaint all)."""
    out: list[str] = [_SYNC_BEGIN]
    full = old is None or len(old) != len(new) or (new and old and len(old[0]) != len(new[0]))
    if full:
        out.append("\x1b[0m\x1b[H\x1b[2J")
    current: Attr = PLAIN  # every frame ends in the plain style
    for y, row in enumerate(new):
        width = len(row)
        if full:
            prev = None
            x0, x1 = 0, width - 1
            # leave trailing blanks alone: the screen was just cleared
            while x1 >= 0 and row[x1] == (" ", PLAIN):
                x1 -= 1
            if x1 < 0:
                continue
        else:
            assert old is not None
            prev = old[y]
            if prev == row:
                continue
            x0 = 0
            while row[x0] == prev[x0]:
                x0 += 1
            x1 = width - 1
            while row[x1] == prev[x1]:
                x1 -= 1
            # never start or stop inside a double-width character
            while x0 > 0 and (row[x0][0] == "" or prev[x0][0] == ""):
                x0 -= 1
            while x1 + 1 < width and (row[x1 + 1][0] == "" or prev[x1 + 1][0] == ""):
                x1 += 1
        out.append(f"\x1b[{y + 1};{x0 + 1}H")
        for x in range(x0, x1 + 1):
            text, attr = row[x]
            if text == "":
                if x == x0:  # the right half of a wide character whose left half is off the range
                    out.append(" ")
                continue
            if attr != current:
                out.append(attr.sgr())
                current = attr
            out.append(text)
    if current != PLAIN:
        out.append("\x1b[0m")
    out.append(_SYNC_END)
    if len(out) == 2:
        return ""
    return "".join(out)
