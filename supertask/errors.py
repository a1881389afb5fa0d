"""One exception tree for everything Supertask raises on purpose.

::

    SupertaskError                  base; its message is one line meant for a user
    ├── SpecError                   a user-supplied value does not parse
    │   ├── WhenError               the ``--when`` language
    │   ├── DurationError           a duration or frequency (``20ms``, ``10kHz``)
    │   ├── CronError               a cron expression
    │   ├── PayloadError            a payload spec (``python:…``, ``cmd:…``)
    │   ├── TimetableError          a timetable or task file (names the file, the line and the field)
    │   ├── StoreError              a store address, or a store that cannot be opened or read
    │   └── SinkError               a sink URL (``--emit``: ``jsonl:PATH``, ``mqtt://…``)
    └── SchedulerError              misuse of a scheduler (closed, not running)

Only the CLI turns these into exit codes (2 for a ``SpecError``). A failing
*payload* is never an exception here: it becomes a recorded run outcome.
"""

from __future__ import annotations


class SupertaskError(Exception):
    """Base of every error Supertask raises on purpose."""


class SpecError(SupertaskError, ValueError):
    """A user-supplied value does not parse; the message names it and the expected form."""


class WhenError(SpecError):
    """A ``--when`` value is not one of the accepted forms."""


class DurationError(SpecError):
    """A duration or frequency does not parse."""


class CronError(SpecError):
    """A cron expression does not parse."""


class PayloadError(SpecError):
    """A payload spec does not parse or does not compile."""


class TimetableError(SpecError):
    """A timetable or task file cannot be read or does not match the schema."""


class StoreError(SpecError):
    """A store address does not parse, or the store cannot be reached or read."""


class SinkError(SpecError):
    """A sink URL does not parse, or its target (a file, a TLS certificate) cannot be opened."""


class SchedulerError(SupertaskError, RuntimeError):
    """A scheduler was used in a way its state does not allow."""
