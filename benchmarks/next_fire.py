"""Cost of computing the next fire time: Supertask's cron, calendar and RRULE triggers beside croniter and dateutil.

Each case walks N successive fire times (each from the previous one, as a scheduler
does) with Supertask's trigger and with the reference library, for the same
expression, in the same run, and reports µs per call and the ratio
(Supertask / reference; below 1 means Supertask is faster). Calendar expressions
are compared with croniter on the equivalent cron expression. For RRULE two
references are given: dateutil's ``rrule.after(t)`` per call (what a scheduler that
keeps no iterator does) and dateutil's plain iterator (a lower bound: no time
zone, no DST rules, no resume from an arbitrary instant).

Usage::

    uv run python benchmarks/next_fire.py               # table
    uv run python benchmarks/next_fire.py --n 2000 --json out.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
import zoneinfo
from collections.abc import Callable

UTC = dt.UTC
START = dt.datetime(2027, 1, 1, tzinfo=UTC)

CRON_CASES = [
    ("cron", "*/5 * * * *", "UTC"),
    ("cron", "0 9 * * MON-FRI", "Europe/Berlin"),
    ("cron", "30 2 * * *", "Europe/Berlin"),
    ("cron", "0 0 L * *", "UTC"),
    ("cron", "0 12 * * 5#3", "America/New_York"),
    ("cron", "*/20 * * * * *", "UTC"),
]
CALENDAR_CASES = [
    ("calendar", "Mon..Fri *-*-* 09:00:00", "Europe/Berlin", "0 9 * * MON-FRI"),
    ("calendar", "*-*-* *:0/5", "UTC", "*/5 * * * *"),
    ("calendar", "*-*~01 18:00", "UTC", "0 18 L * *"),
]
RRULE_CASES = [
    ("rrule", "RRULE:FREQ=MONTHLY;BYDAY=-1FR", "UTC"),
    ("rrule", "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9", "Europe/Berlin"),
    ("rrule", "RRULE:FREQ=MINUTELY;INTERVAL=5", "UTC"),
]


def _time(fn: Callable[[], None], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _walk_ours(trigger, n: int) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    def run() -> None:
        t = START
        for _ in range(n):
            t = trigger.next_after(t)

    return run


def _walk_croniter(expr: str, zone: str, n: int) -> Callable[[], None]:
    from croniter import croniter

    def run() -> None:
        it = croniter(expr, START.astimezone(zoneinfo.ZoneInfo(zone)), second_at_beginning=len(expr.split()) == 6)
        for _ in range(n):
            it.get_next(dt.datetime)

    return run


def _rrule_refs(rule: str, zone: str, n: int) -> tuple[Callable[[], None], Callable[[], None]]:
    from dateutil import rrule as _rrule

    tz = zoneinfo.ZoneInfo(zone)
    dtstart = START.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    r = _rrule.rrulestr(rule, dtstart=dtstart)

    def after() -> None:
        t = START
        for _ in range(n):
            t = r.after(t)

    def iterate() -> None:
        it = iter(r)
        for _ in range(n):
            next(it)

    return after, iterate


def main() -> None:
    from supertask.triggers import CalendarExprTrigger, CronTrigger, RRuleTrigger

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="successive fire times per case")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    n = args.n
    rows: list[dict[str, object]] = []
    for kind, expr, zone in CRON_CASES:
        ours = _time(_walk_ours(CronTrigger(expr, zoneinfo.ZoneInfo(zone)), n))
        ref = _time(_walk_croniter(expr, zone, n))
        rows.append({"kind": kind, "expr": expr, "zone": zone, "ours": ours / n, "ref": "croniter", "ref_s": ref / n})
    for kind, expr, zone, cron in CALENDAR_CASES:
        ours = _time(_walk_ours(CalendarExprTrigger(expr, zoneinfo.ZoneInfo(zone)), n))
        ref = _time(_walk_croniter(cron, zone, n))
        rows.append({"kind": kind, "expr": expr, "zone": zone, "ours": ours / n, "ref": "croniter", "ref_s": ref / n})
    for kind, rule, zone in RRULE_CASES:
        tz = zoneinfo.ZoneInfo(zone)
        dtstart = START.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        ours = _time(_walk_ours(RRuleTrigger(rule, tz, dtstart=dtstart), n))
        after, iterate = _rrule_refs(rule, zone, n)
        ref_after = _time(after, repeat=1)
        ref_iter = _time(iterate)
        rows.append(
            {"kind": kind, "expr": rule, "zone": zone, "ours": ours / n, "ref": "rrule.after", "ref_s": ref_after / n}
        )
        rows.append(
            {"kind": kind, "expr": rule, "zone": zone, "ours": ours / n, "ref": "rrule iter", "ref_s": ref_iter / n}
        )
    print(f"µs per next-fire computation, {n} successive times per case (best of 3); ratio = Supertask / reference\n")
    print("| kind | expression | zone | Supertask µs | reference | reference µs | ratio |")
    print("|---|---|---|---:|---|---:|---:|")
    for r in rows:
        ours_us, ref_us = float(r["ours"]) * 1e6, float(r["ref_s"]) * 1e6  # type: ignore[arg-type]
        print(
            f"| {r['kind']} | `{r['expr']}` | {r['zone']} | {ours_us:.1f} | {r['ref']} | {ref_us:.1f} "
            f"| {ours_us / ref_us:.2f}× |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
