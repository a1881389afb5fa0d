"""Print a signal arriving over MQTT, one line per value with a bar plot, like a tiny oscilloscope.

Run it: ``uv run python examples/mqtt_subscribe.py`` (default topic ``telemetry/#``), then
start ``examples/mqtt_sine.py`` or ``supertask run … --emit mqtt://localhost/telemetry/sine``.

    telemetry/sine        0.8415 |                              |###############       |

Values that are numbers are plotted on [-1, 1]; JSON objects show their ``v`` field
(as the cosine example sends them); anything else is printed as it came.
Options: ``--host``, ``--port``, ``--topic``, ``--count N`` (exit after N values),
``--timeout S`` (exit with code 1 if nothing arrives for S seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import paho.mqtt.client as paho

WIDTH = 40


def bar(v: float) -> str:
    """A bar from the middle of [-1, 1] to *v*."""
    half = WIDTH // 2
    n = round(max(-1.0, min(1.0, v)) * half)
    left = " " * (half + min(n, 0)) + "#" * -min(n, 0)
    right = "#" * max(n, 0) + " " * (half - max(n, 0))
    return f"|{left}|{right}|"


def render(topic: str, payload: bytes) -> str:
    text = payload.decode(errors="replace")
    value: object = text
    try:
        value = json.loads(text)
    except ValueError:
        pass
    if isinstance(value, dict) and isinstance(value.get("v"), int | float):
        value = value["v"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{topic:<24} {value:+.4f} {bar(float(value))}"
    return f"{topic:<24} {text}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--topic", default="telemetry/#")
    ap.add_argument("--count", type=int, default=None, help="exit after this many messages")
    ap.add_argument("--timeout", type=float, default=None, help="exit (code 1) after this many idle seconds")
    args = ap.parse_args()

    received = 0
    last = time.monotonic()

    def on_connect(client: paho.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        client.subscribe(args.topic, qos=1)

    def on_subscribe(*_: object) -> None:
        print(f"subscribed to {args.topic} at {args.host}:{args.port}", file=sys.stderr, flush=True)

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        nonlocal received, last
        received += 1
        last = time.monotonic()
        print(render(msg.topic, msg.payload), flush=True)

    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(args.host, args.port)
    except OSError as exc:
        print(f"mqtt_subscribe: cannot connect to {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    try:
        while args.count is None or received < args.count:
            client.loop(0.1)
            if args.timeout is not None and time.monotonic() - last > args.timeout:
                print(f"mqtt_subscribe: nothing for {args.timeout:g}s", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
