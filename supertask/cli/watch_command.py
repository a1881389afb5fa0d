"""The cyclopts face of ``supertask watch`` (listed by ``supertask --help``); it hands every word to
:func:`supertask.cli.watch.main`, which parses them the way procps ``watch`` does."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

__all__ = ["watch"]


def watch(*command: Annotated[str, Parameter(allow_leading_hyphen=True)]) -> int:
    """Run a command repeatedly and show its output full screen: procps watch, option for option,
    with intervals down to 1 ms, precise timing, statistics and a plain mode for pipes.

    See supertask watch --help for the options (they are parsed the way procps parses them).

    Parameters
    ----------
    command
        watch's options, then the command.
    """
    from .watch import main

    return main(list(command))
