"""Supertask as a library, inside your own trio program.

Run it: ``uv run python examples/library_api.py``
"""

from __future__ import annotations

import math

import trio

import supertask


async def sample(task: supertask.Task) -> None:
    """A coroutine payload: runs as its own trio task, may await."""
    await trio.sleep(0)  # e.g. await a socket send
    task.state["sum"] = task.state.get("sum", 0.0) + math.sin(task.elapsed.total_seconds)


def tick(task: supertask.Task) -> str | None:
    """A plain function payload: called inline on the scheduler thread; its non-None result is printed."""
    if task.count % 10 == 0:
        return f"tick {task.count}: {task.lateness.total_seconds * 1e6:.0f} µs late"
    return None


async def main() -> None:
    async with supertask.open_scheduler() as sched:
        sched.add(supertask.every("20ms"), sample, count=50, name="sample")
        sched.add("100ms", tick, count=30, name="tick")
        sched.add("@every 1s", "cmd:date +%T.%N", count=3, name="date")
    # leaving the block waited for every job; the statistics stay readable
    for stats in sched.statistics():
        print(f"{stats.name}: {stats.runs} runs, {stats.failed} failed, lateness p99 {stats.lateness_p99 * 1e6:.0f} µs")


if __name__ == "__main__":
    trio.run(main)
