"""Real MQTT plumbing for tests: a subscriber that collects messages, and a private Mosquitto on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho

BROKER = ("127.0.0.1", 1883)
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def unique_topic(prefix: str = "supertask-test") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


class Collector:
    """Subscribes in paho's own thread and keeps every (topic, payload) received, in order."""

    def __init__(
        self,
        topic: str,
        *,
        host: str = BROKER[0],
        port: int = BROKER[1],
        qos: int = 1,
        client_id: str = "",
        persistent: bool = False,
    ) -> None:
        self.topic = topic
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            callback_api_version=paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
        )
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        try:
            self.client.connect(host, port, keepalive=10)
        except OSError as exc:
            raise RuntimeError(f"MQTT broker at {host}:{port} not reachable: {exc}") from None
        self.client.loop_start()
        if not self._subscribed.wait(5):
            self.close()
            raise RuntimeError(f"could not subscribe to {topic!r} at {host}:{port} within 5 s")

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def payloads(self, topic: str | None = None) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.messages if topic is None or t == topic]

    def wait_for(self, n: int, timeout: float = 10.0, topic: str | None = None) -> list[bytes]:
        """Wait until at least *n* messages (on *topic*) arrived; return them all."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.payloads(topic)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        return self.payloads(topic)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"mosquitto did not listen on port {port} within {timeout} s")


class PrivateBroker:
    """A Mosquitto of our own on a free port (with persistence, so it can be stopped and started again)."""

    def __init__(self, workdir: Path, *, extra: str = "", port: int | None = None) -> None:
        if not os.path.exists(MOSQUITTO):
            raise RuntimeError(f"mosquitto binary not found at {MOSQUITTO}")
        self.port = port or free_port()
        self.dir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "max_queued_messages 100000\n" + ("user root\n" if os.geteuid() == 0 else "") + extra
            # as root, mosquitto would switch to user "mosquitto", which cannot write the persistence file here
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "mosquitto.log", "ab"),  # noqa: SIM115
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def private_broker(workdir: Path, **kwargs: object) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(workdir, **kwargs)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
