"""Stream ``sin(elapsed)`` to MQTT through the library API: the Python twin of

    supertask run -c "python:math.sin(task.elapsed.total_seconds)" --when=20ms \\
        --emit mqtt://localhost:1883/telemetry/sine

Run it: ``uv run python examples/mqtt_sine.py`` (Ctrl-C stops it; messages still
in flight are delivered before it exits), and watch with
``mosquitto_sub -t 'telemetry/#' -v`` or ``uv run python examples/mqtt_subscribe.py``.
Options: ``--url``, ``--period``, ``--count``, ``--events``.
"""

from __future__ import annotations

import argparse
import math
import signal

import trio

import supertask


def sine(task: supertask.Task) -> float:
    """The payload: a plain function called inline on each tick; its result goes to the sinks."""
    return math.sin(task.elapsed.total_seconds)


async def stop_on_signal(sched: supertask.Scheduler) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            sched.stop()  # the scheduler stops; the MQTT sink flushes in its aclose
            return


async def main(url: str, period: str, count: int | None, events: bool) -> None:
    # the same URL forms as --emit; or build it directly:
    # supertask.MqttSink("localhost", 1883, "telemetry/{job}", qos=1)
    sink = supertask.parse_sink(url, events=events)
    async with trio.open_nursery() as nursery:
        async with supertask.open_scheduler(sinks=[sink]) as sched:
            nursery.start_soon(stop_on_signal, sched)
            sched.add(supertask.every(period), sine, count=count, name="sine")
        nursery.cancel_scope.cancel()
    st = sink.statistics()
    job = sched.statistics()[0]
    print(
        f"sine: {job.runs} runs, lateness p99 {job.lateness_p99 * 1e6:.0f} µs; "
        f"mqtt: {st.sent} sent, {st.dropped} dropped, {st.undelivered} undelivered"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="mqtt://localhost:1883/telemetry/sine", help="sink URL, as --emit takes it")
    ap.add_argument("--period", default="20ms", help="interval or frequency (default 20ms)")
    ap.add_argument("--count", type=int, default=None, help="stop after this many values (default: run until Ctrl-C)")
    ap.add_argument("--events", action="store_true", help="also publish run events to TOPIC/events")
    args = ap.parse_args()
    try:  # a bad URL or period is a one-line error (exit 2), as on the command line
        supertask.parse_sink(args.url)
        supertask.every(args.period)
    except supertask.SpecError as exc:
        ap.error(str(exc))
    trio.run(main, args.url, args.period, args.count, args.events)
