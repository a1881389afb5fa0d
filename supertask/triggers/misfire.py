"""Misfires: what to run for calendar instants that passed while the scheduler was stopped, blocked or its clock jumped.

Pure arithmetic: given a trigger, the first instant not yet served and the wall-clock
time now, :func:`plan_misfires` says which instants to run now and how many to skip.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from ..errors import SpecError
from ..model import Misfire
from .base import CalendarTrigger

__all__ = ["MISFIRE_FORMS", "MisfirePlan", "due_since", "parse_misfire", "plan_misfires"]

MISFIRE_FORMS = "run-once, catch-up[:N] (N >= 1, default 10) or skip"
#: an instant less late than this is on time, not a misfire (``skip`` still runs it)
ON_TIME = 1.0
#: most missed instants counted one by one; beyond, the count is a lower bound
COUNT_CAP = 100_000


def parse_misfire(text: str, grace: float | None = None) -> Misfire:
    """Parse ``run-once``, ``catch-up[:N]`` or ``skip``.

    Raises:
        SpecError: naming the value and the accepted forms.
    """
    kind, _, n = text.strip().lower().partition(":")
    if kind == "once":
        kind = "run-once"  # the timetable files' short form
    if kind in ("run-once", "skip") and not n:
        return Misfire(kind=kind, grace=grace)  # type: ignore[arg-type]
    if kind == "catch-up":
        if not n:
            return Misfire(kind="catch-up", limit=10, grace=grace)
        if n.isdigit() and int(n) >= 1:
            return Misfire(kind="catch-up", limit=int(n), grace=grace)
    raise SpecError(f"invalid --misfire {text!r}: expected {MISFIRE_FORMS}")


@dataclass
class MisfirePlan:
    """What to do about the instants due up to now."""

    #: instants to run now, oldest first
    run: list[_dt.datetime] = field(default_factory=list)
    #: how many due instants are not run
    skipped: int = 0
    #: the first skipped instant (for the run record)
    first_skipped: _dt.datetime | None = None
    #: True when more instants were due than were counted (``skipped`` is then a lower bound)
    approximate: bool = False


def due_since(
    trigger: CalendarTrigger, first: _dt.datetime, now: _dt.datetime, cap: int = COUNT_CAP
) -> tuple[list[_dt.datetime], bool]:
    """The instants from *first* (included) up to *now* (included), at most *cap* of them plus the latest.

    Returns (instants, whether some in between were left out).
    """
    now_ts = now.timestamp()
    out: list[_dt.datetime] = []
    t: _dt.datetime | None = first
    while t is not None and t.timestamp() <= now_ts:
        if len(out) >= cap:
            # too many to walk: find the latest due instant by looking back from now
            for back in (60, 3600, 86400, 31 * 86400, 366 * 86400, 10 * 366 * 86400):
                s = trigger.next_after(now - _dt.timedelta(seconds=back))
                if s is not None and s.timestamp() <= now_ts and s.timestamp() > out[-1].timestamp():
                    tail = [s]
                    while True:
                        n = trigger.next_after(tail[-1])
                        if n is None or n.timestamp() > now_ts:
                            break
                        tail.append(n)
                    return out + tail[-cap:], True
            return out, True
        out.append(t)
        t = trigger.next_after(t)
    return out, False


def plan_misfires(
    trigger: CalendarTrigger,
    first: _dt.datetime,
    now: _dt.datetime,
    policy: Misfire,
    *,
    on_time: float = ON_TIME,
) -> MisfirePlan:
    """Decide what to run for the instants from *first* (the oldest not yet served) up to *now*.

    - ``run-once``: the latest instant runs, the others are skipped;
    - ``catch-up``: the latest ``policy.limit`` instants run, oldest first;
    - ``skip``: only an instant less than ``policy.grace`` (default *on_time*) late runs;
    - under every policy, instants more than ``policy.grace`` late never run.
    """
    due, approximate = due_since(trigger, first, now)
    if not due:
        return MisfirePlan()
    now_ts = now.timestamp()
    grace = policy.grace
    if policy.kind == "skip" and grace is None:
        grace = on_time
    runnable = due if grace is None else [d for d in due if now_ts - d.timestamp() <= grace + 1e-9]
    keep = policy.limit if policy.kind == "catch-up" else 1
    run = runnable[-keep:] if runnable else []
    skipped = len(due) - len(run)
    first_skipped = due[0] if skipped and (not run or due[0] is not run[0]) else None
    return MisfirePlan(run=run, skipped=skipped, first_skipped=first_skipped, approximate=approximate)
