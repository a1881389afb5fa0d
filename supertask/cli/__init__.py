"""The command line: a thin cyclopts layer over the library.

The only place that prints, sets up logging and picks exit codes.

Commands are registered lazily (by import path) so ``supertask --help`` stays fast.
"""

from __future__ import annotations

import sys

__all__ = ["build_app", "main"]

#: exit codes
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_HELP = """\
Supertask runs jobs on time: from once a year to ten thousand times a second.

Typical use:
  supertask run -c "python:print(math.sin(task.elapsed.total_seconds))" \\
      --when=20ms
  supertask run --when=1s -- cmd:date +%T.%N
  supertask run --when='*/5 * * * * *' -- cmd:echo every five seconds
  supertask run --when=10kHz --for 5s -c python:pass --stats
  supertask next --when='Mon..Fri 09:00' -n 5 --tz Europe/Berlin
  supertask run                        # the jobs of ./supertask.yaml
  supertask run --file ops/jobs.yaml   # .yml .json .toml, task.py, https://
  supertask list-namespaces ; supertask list-jobs --ns=ID
  supertask history --ns=ID --job=NAME --last 20
  supertask watch -n 0.05 -p -d 'cat /proc/loadavg'
"""


def build_app(*, listing: bool = False):  # type: ignore[no-untyped-def]
    """Create the cyclopts application (commands imported only when used).

    With *listing* (the top-level help) each command gets its one-line summary without being
    imported; otherwise a command's help is its own docstring (cyclopts would let the summary
    replace it)."""
    from cyclopts import App

    app = App(
        name="supertask",
        help=_HELP,
        help_format="plaintext",
        version_flags=["--version"],
        version=_version(),
    )
    # lazy commands: cyclopts shows the help given here without importing them
    for target, name, text in (
        ("supertask.cli.run:run", "run", "Run a job (a payload on a schedule) or the jobs of timetable files."),
        ("supertask.cli.next:next_", "next", "Show the next fire times of a schedule and validate it."),
        ("supertask.cli.watch_command:watch", "watch", "Run a command periodically, full screen (like watch)."),
        ("supertask.cli.validate:validate", "validate", "Check timetable files without running them."),
        ("supertask.cli.listing:list_namespaces", "list-namespaces", "List the namespaces in the store."),
        ("supertask.cli.listing:list_jobs", "list-jobs", "List the jobs in the store (of one namespace)."),
        ("supertask.cli.listing:history", "history", "Show the recorded runs of jobs."),
    ):
        app.command(target, name=name, help=text if listing else None)
    return app


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``supertask`` command; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args in _HELP_REQUESTS and _print_help(args):
        return EXIT_OK
    if args[:1] == ["watch"]:
        return _watch(args[1:])
    from cyclopts import CycloptsError

    from ..errors import SupertaskError

    app = build_app(listing=len(args) <= 1 and all(a in ("--help", "-h") for a in args))
    try:
        result = app(args, exit_on_error=False, print_error=False, result_action="return_value")
    except CycloptsError as exc:
        _error(str(exc).strip().rstrip("."))
        return EXIT_USAGE
    except SupertaskError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _drop_stdout()  # `| head` closed the pipe: done, and no error at exit when Python flushes stdout
        return EXIT_OK
    return int(result) if isinstance(result, int) else EXIT_OK


def _drop_stdout() -> None:
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


_HELP_REQUESTS = (
    ["--help"],
    ["-h"],
    *(
        [cmd, flag]
        for cmd in ("run", "next", "validate", "list-namespaces", "list-jobs", "history")
        for flag in ("--help", "-h")
    ),
)


def _print_help(args: list[str]) -> bool:
    """Print help from a cache rendered by cyclopts before (importing cyclopts and rich
    alone takes ~0.4 s here). The cache key covers the version, the CLI sources and the
    terminal width, so the text is always what cyclopts would print now."""
    import hashlib
    import os
    import shutil
    from pathlib import Path

    here = Path(__file__).parent
    try:
        stamps = [(f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(here.glob("*.py"))]
    except OSError:
        return False
    width = shutil.get_terminal_size().columns
    key = hashlib.sha256(repr((_version(), args, width, stamps)).encode()).hexdigest()[:20]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "supertask" / f"help-{key}.txt"
    try:
        text = cache.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = _render_help(args, width)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(cache)
        except OSError:
            pass
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def _render_help(args: list[str], width: int) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    app = build_app(listing=len(args) <= 1)
    app(
        args,
        console=Console(file=buf, width=width, no_color=True, highlight=False, soft_wrap=False),
        exit_on_error=False,
        result_action="return_value",
    )
    return buf.getvalue()


def _watch(args: list[str]) -> int:
    """``supertask watch``: its options are parsed like procps watch's (getopt-style), not by cyclopts."""
    from ..errors import SupertaskError
    from .watch import main as watch_main

    try:
        return watch_main(args)
    except SupertaskError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _error(message: str) -> None:
    print(f"supertask: error: {message}", file=sys.stderr)


def run_main() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())
