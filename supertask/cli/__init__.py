"""The command line: a thin cyclopts layer over the library; the only place that prints, sets up logging and picks exit codes.

Commands are registered lazily (by import path) so ``supertask --help`` stays fast.
"""

from __future__ import annotations

import sys

__all__ = ["main", "build_app"]

#: exit codes
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_HELP = """\
Supertask runs jobs on time: from once a year down to ten thousand times a second.

Examples:
  supertask run -c "python:print(math.sin(task.elapsed.total_seconds))" --when=20ms
  supertask run --when=1s -- cmd:date +%T.%N
  supertask run --when='*/5 * * * * *' -- cmd:echo every five seconds
  supertask run --when=10kHz --for 5s -c python:pass --stats
"""


def build_app():  # type: ignore[no-untyped-def]
    """Create the cyclopts application (commands imported only when used)."""
    from cyclopts import App

    app = App(
        name="supertask",
        help=_HELP,
        help_format="plaintext",
        version_flags=["--version"],
        version=_version(),
    )
    app.command("supertask.cli.run:run", name="run")
    return app


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``supertask`` command; returns the exit code."""
    from cyclopts import CycloptsError

    from ..errors import SupertaskError

    args = sys.argv[1:] if argv is None else argv
    app = build_app()
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
    return int(result) if isinstance(result, int) else EXIT_OK


def _error(message: str) -> None:
    print(f"supertask: error: {message}", file=sys.stderr)


def run_main() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())
