"""``supertask watch``: procps ``watch``, option for option, with precise timing, intervals down to
1 ms, statistics on the title and a plain mode for pipes.

watch's options are parsed here the way procps parses them (``getopt_long`` with ``+``: options
stop at the first word that is not one, so options after the command belong to the command;
``-d=permanent``; ``-n0.5``; long options may be abbreviated), not by cyclopts: the CLI's
``main`` hands ``watch …`` straight to :func:`main`. The cyclopts command (for ``supertask --help``
and ``build_app()``) is in ``watch_command.py``, so this module does not import cyclopts.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable

from ..errors import SpecError

__all__ = ["HELP", "main", "parse_watch_args"]

HELP = """\
Usage:
 supertask watch [options] command

Run command repeatedly and show its output full screen (procps-ng watch, option for
option). The command words are joined with spaces and run by sh -c (-x: run as argv).
Options stop at the first word that is not an option: later options belong to the command.

Options (as procps-ng watch 4.0.x):
  -b, --beep             beep if command has a non-zero exit
  -c, --color            interpret ANSI color and style sequences
  -C, --no-color         do not interpret ANSI color and style sequences
  -d, --differences[=permanent]
                         highlight changes between updates (=permanent: all
                         changes since the first update; also -d=permanent)
  -e, --errexit          exit if command has a non-zero exit (after a key, exit code 8)
  -g, --chgexit          exit when output from command changes
  -k, --nokeypr          do not wait for a key press before exiting after -e or -o
  -n, --interval <secs>  seconds to wait between updates (default 2, or $WATCH_INTERVAL);
                         '.' or ',' as decimal point, or a duration such as 50ms;
                         down to 0.001 (procps stops at 0.1)
  -o, --okexit           exit if command has a zero exit
  -p, --precise[=start|catchup]
                         -n counts from start to start (see below)
  -q, --equexit <cycles> exit when output from command does not change for <cycles> runs
  -r, --no-rerun         do not rerun the command when the window is resized
  -s, --shotsdir <dir>   directory for screenshots (key s; default: current directory)
  -t, --no-title         turn off the two title lines
  -w, --no-wrap          turn off line wrapping (cut long lines)
  -x, --exec             pass command to exec instead of "sh -c"
  -h, --help             display this help and exit
  -v, --version          output version information and exit

Beyond procps:
      --count <n>        stop after n runs (exit code 0)
      --for <duration>   stop after this long (e.g. 30s, 5m; or seconds)
      --stats            print run statistics to stderr at exit

Timing:
  default      relaxed: each run starts <secs> after the previous one ended.
  -p, --precise, --precise=start
               procps 4.0.5 and later: start to start, on a grid that never drifts;
               a run that overruns delays the next one to its end (no burst) and the
               grid points it covered are counted as skipped on the title.
  --precise=catchup
               procps 4.0.2 to 4.0.4: a fixed grid; after an overrun the missed runs
               fire back to back until the grid is caught up.

Screen: line 1 is procps' title (interval, command, host and time); line 2 shows the
run count, lateness p50/p99, the measured period, skipped runs and, on the right, the
last run's duration and exit status. Keys: q quits, space runs the command now, s saves
a screenshot. When standard output is not a terminal, each run's output is printed
after a header line "[date time] command: run N, exit S, in D, late L" (-t: output only).

Exit status: 0 (q, Ctrl-C, -g, -q, -o, --count, --for), 8 after -e, 2 for bad options.

Examples:
  supertask watch 'ss -s'
  supertask watch -n 0.05 -p -d 'cat /proc/loadavg'
  supertask watch -n 1 -d=permanent -- df -h
  supertask watch -n 0.2 --count 10 'date +%T.%N' | cat
"""

#: long option -> (key, argument: "no" | "required" | "optional")
_LONG: dict[str, tuple[str, str]] = {
    "beep": ("b", "no"),
    "color": ("c", "no"),
    "no-color": ("C", "no"),
    "differences": ("d", "optional"),
    "errexit": ("e", "no"),
    "chgexit": ("g", "no"),
    "nokeypr": ("k", "no"),
    "interval": ("n", "required"),
    "okexit": ("o", "no"),
    "precise": ("p", "optional"),
    "equexit": ("q", "required"),
    "no-rerun": ("r", "no"),
    "shotsdir": ("s", "required"),
    "no-title": ("t", "no"),
    "no-wrap": ("w", "no"),
    "exec": ("x", "no"),
    "help": ("h", "no"),
    "version": ("v", "no"),
    "count": ("count", "required"),
    "for": ("for", "required"),
    "stats": ("stats", "no"),
}
#: short option -> argument kind (as the getopt string "+bCcd::eghkn:opq:rs:twxhv")
_SHORT: dict[str, str] = {
    "b": "no",
    "C": "no",
    "c": "no",
    "d": "optional",
    "e": "no",
    "g": "no",
    "h": "no",
    "k": "no",
    "n": "required",
    "o": "no",
    "p": "no",
    "q": "required",
    "r": "no",
    "s": "required",
    "t": "no",
    "w": "no",
    "x": "no",
    "v": "no",
}
_NAMES = {key: f"--{name}" for name, (key, _) in _LONG.items()}


class _Usage(SpecError):
    """A bad watch option."""


def getopt_watch(argv: list[str]) -> tuple[list[tuple[str, str | None, str]], list[str]]:
    """Split *argv* like ``getopt_long`` with a leading ``+``: a list of (key, value, as written)
    and the command words (from the first non-option, or after ``--``)."""
    found: list[tuple[str, str | None, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return found, argv[i + 1 :]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            matches = [n for n in _LONG if n.startswith(name)] if name not in _LONG else [name]
            if not matches:
                raise _Usage(f"unknown option {arg!r}: see supertask watch --help")
            if len(matches) > 1:
                raise _Usage(f"ambiguous option {arg!r}: could be {', '.join('--' + m for m in matches)}")
            key, kind = _LONG[matches[0]]
            if kind == "no" and eq:
                raise _Usage(f"option --{matches[0]} takes no value: got {arg!r}")
            if kind == "required" and not eq:
                i += 1
                if i >= len(argv):
                    raise _Usage(f"option --{matches[0]} needs a value")
                value = argv[i]
            found.append((key, value if (eq or kind == "required") else None, f"--{matches[0]}"))
            i += 1
            continue
        if arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                ch = arg[j]
                short_kind = _SHORT.get(ch)
                if short_kind is None:
                    raise _Usage(f"unknown option '-{ch}' in {arg!r}: see supertask watch --help")
                rest = arg[j + 1 :]
                if short_kind == "no":
                    found.append((ch, None, f"-{ch}"))
                    j += 1
                    continue
                if short_kind == "optional":
                    found.append((ch, rest or None, f"-{ch}"))
                    break
                if rest:
                    found.append((ch, rest, f"-{ch}"))
                else:
                    i += 1
                    if i >= len(argv):
                        raise _Usage(f"option -{ch} needs a value")
                    found.append((ch, argv[i], f"-{ch}"))
                break
            i += 1
            continue
        return found, argv[i:]
    return found, []


def parse_interval(text: str, what: str) -> float:
    """Seconds from ``2``, ``0.5``, ``0,5`` (either decimal point, as procps) or a duration (``50ms``);
    clamped to 1 ms … 31 days."""
    from ..durations import parse_duration
    from ..watch.options import MAX_INTERVAL, MIN_INTERVAL

    t = text.strip()
    try:
        seconds = float(t.replace(",", "."))
    except ValueError:
        try:
            seconds = parse_duration(t, what=what, allow_zero=True)
        except SpecError:
            raise _Usage(
                f"invalid {what} {text!r}: expected seconds such as 2, 0.5 or 0,5, or a duration such as 50ms"
            ) from None
    if math.isnan(seconds):
        raise _Usage(f"invalid {what} {text!r}: expected seconds such as 2, 0.5 or 0,5, or a duration such as 50ms")
    return min(MAX_INTERVAL, max(MIN_INTERVAL, seconds))


def parse_watch_args(argv: list[str], environ: dict[str, str] | None = None) -> tuple[str, object]:
    """Parse watch's command line. Returns ``("help", text)``, ``("version", text)`` or
    ``("watch", WatchOptions)``.

    Raises:
        SpecError: a bad option or value (one line naming it).
    """
    from ..durations import parse_duration
    from ..watch.options import WatchOptions

    env = os.environ if environ is None else environ
    opts = WatchOptions(command=[])
    interval_env = env.get("WATCH_INTERVAL")
    if interval_env is not None:
        opts.interval = parse_interval(interval_env, "WATCH_INTERVAL")
    found, command = getopt_watch(argv)
    handlers: dict[str, Callable[[str | None, str], None]] = {}

    def flag(attr: str, value: object) -> Callable[[str | None, str], None]:
        return lambda _v, _w: setattr(opts, attr, value)

    def differences(value: str | None, written: str) -> None:
        opts.differences = True
        if value is not None:
            v = value[1:] if value.startswith("=") else value
            if v != "permanent":
                raise _Usage(f"invalid {written} value {value!r}: expected permanent, as -d=permanent")
            opts.permanent = True

    def precise(value: str | None, written: str) -> None:
        if value is None or value in ("start", "new"):
            opts.precise = "start"
        elif value in ("catchup", "catch-up", "legacy"):
            opts.precise = "catchup"
        else:
            raise _Usage(f"invalid --precise value {value!r}: expected start (the default) or catchup")

    def interval(value: str | None, written: str) -> None:
        opts.interval = parse_interval(value or "", f"{written} interval")

    def equexit(value: str | None, written: str) -> None:
        text = (value or "").strip()
        if not text.isdigit() or int(text) < 1:
            raise _Usage(f"invalid {written} cycles {value!r}: expected a whole number >= 1, e.g. 3")
        opts.equexit = int(text)

    def count(value: str | None, written: str) -> None:
        text = (value or "").strip()
        if not text.isdigit() or int(text) < 1:
            raise _Usage(f"invalid --count {value!r}: expected a whole number >= 1")
        opts.count = int(text)

    def for_(value: str | None, written: str) -> None:
        text = (value or "").strip()
        try:
            opts.duration = float(text)
        except ValueError:
            opts.duration = parse_duration(text, what="--for")
        if not opts.duration > 0:
            raise _Usage(f"invalid --for {value!r}: expected a duration > 0, e.g. 30s")

    def shotsdir(value: str | None, written: str) -> None:
        opts.shotsdir = value or ""

    handlers.update(
        b=flag("beep", True),
        c=flag("color", True),
        C=flag("color", False),
        d=differences,
        e=flag("errexit", True),
        g=flag("chgexit", True),
        k=flag("nokeypress", True),
        n=interval,
        o=flag("okexit", True),
        p=precise,
        q=equexit,
        r=flag("rerun", False),
        s=shotsdir,
        t=flag("title", False),
        w=flag("wrap", False),
        x=flag("exec_", True),
        count=count,
        stats=flag("stats", True),
    )
    handlers["for"] = for_
    for key, value, written in found:
        if key == "h":
            return "help", HELP
        if key == "v":
            from .. import __version__

            return "version", f"supertask watch {__version__} (procps-ng watch 4.0 compatible)\n"
        handlers[key](value, written)
    if not command or not command[0]:
        raise _Usage("no command to watch: expected supertask watch [options] COMMAND (see supertask watch --help)")
    opts.command = command
    return "watch", opts


def main(argv: list[str]) -> int:
    """``supertask watch ARGV…``: parse, run the session, print statistics; returns the exit code."""
    what, value = parse_watch_args(argv)
    if what != "watch":
        sys.stdout.write(str(value))
        sys.stdout.flush()
        return 0
    import logging

    from ..watch.options import WatchOptions
    from ..watch.session import run_watch

    assert isinstance(value, WatchOptions)
    # the screen owns the terminal: engine warnings (failed runs) show as exit codes on it instead
    logging.getLogger().handlers[:] = [logging.NullHandler()]
    logging.getLogger().setLevel(logging.CRITICAL)
    result = run_watch(value)
    if result.stdout_closed:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    if value.stats:
        from ..durations import format_duration as fd

        print(
            f"supertask watch: {result.runs} runs, {result.skipped} skipped, "
            f"lateness p50 {fd(result.lateness_p50)} p99 {fd(result.lateness_p99)} max {fd(result.lateness_max)}, "
            f"period {fd(result.period_mean)} ±{fd(result.period_stdev)}",
            file=sys.stderr,
        )
    return result.exit_code
