"""An MQTT sink: results (and run events) published by paho-mqtt, driven from the trio loop.

How it stays off the timing path::

    scheduler ──result()──▶ encode + append to a bounded buffer (drop-oldest, counted) ──▶ wake writer
                                                                 │
    serve() ─▶ connection loop: connect in a worker thread (DNS, TCP, TLS handshake),
               then three trio tasks until the connection drops:
                 writer  buffer ──publish()──▶ paho ──loop_write()──▶ socket (wait_writable when full)
                 reader  wait_readable ──▶ loop_read()  (CONNACK, PUBACK/PUBREC/PUBCOMP, PINGRESP)
                 misc    loop_misc() every second (keepalive pings, dead-connection detection)
               and reconnects with exponential backoff when it drops.

paho is used with its external-event-loop callbacks (``on_socket_open``,
``on_socket_close``, ``on_socket_register_write``, ``on_socket_unregister_write``):
it never starts a thread of its own. QoS 1/2 messages that were handed to paho
and not yet acknowledged stay in paho's session and are sent again after a
reconnect; messages that could not be handed over wait in the buffer. The
``TCP_NODELAY`` option is set on every connection (without it, small messages
lag behind Nagle's algorithm by up to 40 ms).
"""

from __future__ import annotations

import collections
import logging
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import paho.mqtt.client as paho
import trio

from ._encode import Format, encode_record, encode_value, event_record
from .base import Sink

if TYPE_CHECKING:
    from ..engine.task import Task
    from ..model import Run

__all__ = ["MqttSink", "MqttStats"]

log = logging.getLogger(__name__)

Overflow = Literal["drop-oldest", "drop-newest"]

#: a lingering batch this long is sent at once
_LINGER_BATCH = 64
#: seconds of publishing in one go (a backlog after a reconnect) before the loop gets the CPU back
_SLICE = 100e-6


class MqttStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of an MQTT sink (immutable snapshot).

    Attributes:
        accepted: messages the sink received (results, and events when asked).
        sent: messages written to the broker connection (QoS 0) or acknowledged (QoS 1/2).
        dropped: messages dropped because the buffer was full (the overflow rule).
        lost: QoS 0 messages handed to a connection that broke before they were written,
            and messages paho rejected (e.g. too large).
        buffered: messages waiting in the buffer (not yet handed to paho).
        unacked: QoS 1/2 messages sent but not yet acknowledged by the broker.
        connects: successful connections (the first one and every reconnect).
        connected: whether the broker connection is up now.
    """

    accepted: int
    sent: int
    dropped: int
    lost: int
    buffered: int
    unacked: int
    connects: int
    connected: bool

    @property
    def undelivered(self) -> int:
        """Messages that did not reach the broker (dropped, or still buffered or unacknowledged)."""
        return self.dropped + self.lost + self.buffered + self.unacked


class MqttSink(Sink):
    """Publishes each result, and each line a command payload prints, to an MQTT broker;
    see the module docstring for how.

    Args:
        host: broker host name or address (resolved off the event loop).
        port: broker port (1883, or 8883 with TLS).
        topic: topic template; ``{job}``, ``{namespace}`` and ``{host}`` are replaced.
        qos: 0, 1 or 2.
        retain: set the retain flag on every message.
        format: ``auto`` (numbers and strings as text, anything else as JSON), ``text``,
            ``json`` or ``msgpack``.
        username, password: broker credentials.
        tls: an SSL context: connect with TLS (``mqtts://``).
        client_id: MQTT client id (default: random).
        keepalive: seconds between keepalive pings.
        buffer: how many messages wait at most while the broker is unreachable or slow.
        overflow: when the buffer is full: ``drop-oldest`` (default) or ``drop-newest``; counted.
        flush_timeout: at close, how long to wait for buffered and unacknowledged messages.
        events: also publish run events (started/finished/failed/skipped with lateness
            and duration) as JSON to *events_topic*.
        events_topic: topic template of run events; ``{topic}`` is the rendered result topic
            (default ``{topic}/events``).
        namespace: value of ``{namespace}`` for jobs that have none (default ``default``).
        reconnect_min, reconnect_max: backoff bounds between connection attempts (seconds).
        connect_timeout: seconds one connection attempt (TCP and TLS handshake, CONNACK) may take.
        linger: when messages come faster than this (seconds), they are sent together once this
            long after the previous send: less CPU per message, but the batch's I/O (and its
            acknowledgements) can delay the next run. ``0`` (default): each message at once.
        inflight: QoS 1/2 messages sent and not yet acknowledged, at most (more wait in the buffer;
            after a reconnect, up to this many are sent again at once).
        url: how the sink was given, for messages (default: built from the arguments).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        topic: str = "supertask/{job}",
        *,
        qos: int = 0,
        retain: bool = False,
        format: Format = "auto",
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        client_id: str = "",
        keepalive: float = 60.0,
        buffer: int = 10_000,
        overflow: Overflow = "drop-oldest",
        flush_timeout: float = 5.0,
        events: bool = False,
        events_topic: str = "{topic}/events",
        namespace: str | None = None,
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
        connect_timeout: float = 5.0,
        inflight: int = 20,
        linger: float = 0.0,
        url: str | None = None,
    ) -> None:
        if qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, not {qos!r}")
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1, not {buffer!r}")
        if inflight < 1:
            raise ValueError(f"inflight must be >= 1, not {inflight!r}")
        self.host = host
        self.port = port or (8883 if tls else 1883)
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.format = format
        self.events_topic = events_topic
        self.namespace = namespace or "default"
        self.flush_timeout = flush_timeout
        self.overflow = overflow
        self.keepalive = keepalive
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self.wants_runs = events
        self.url = url or f"{'mqtts' if tls else 'mqtt'}://{host}:{self.port}/{topic}"
        self._hostname = socket.gethostname()
        self._topics: dict[tuple[str, str | None], str] = {}
        self._event_topics: dict[tuple[str, str | None], str] = {}
        self._buffer: collections.deque[tuple[str, bytes]] = collections.deque()
        self._capacity = buffer
        self._accepted = 0
        self._sent = 0
        self._dropped = 0
        self._connects = 0
        self._unacked: set[int] = set()
        self._window = inflight
        self.linger = linger
        self._last_flush = -1e18  # time.monotonic() of the last hand-over to paho
        self._armed = False  # the writer knows a batch is lingering
        self._draining = False  # a backlog is being sent in slices
        self._encode_failures = 0
        self._closing = False
        self._finished = trio.Event()
        self._work = trio.Event()
        self._lost = trio.Event()
        #: QoS 0 messages handed to paho and not yet written to the socket
        self._handed0 = 0
        self._lost_qos0 = 0
        self._last_problem = ""
        self._trio_thread = threading.get_ident()
        self._serve_scope: trio.CancelScope | None = None
        self._flush_scope: trio.CancelScope | None = None  # while aclose waits for the broker

        client = paho.Client(
            callback_api_version=paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
        )
        client.connect_timeout = connect_timeout
        if username is not None:
            client.username_pw_set(username, password)
        if tls is not None:
            client.tls_set_context(tls)
        client.max_inflight_messages_set(inflight)
        client.max_queued_messages_set(0)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        if qos:
            # acknowledgements; at QoS 0 paho's callback would cost ~60 µs a message (it builds
            # reason-code and property objects), so messages count as sent once paho's queue is written
            client.on_publish = self._on_publish
        self._client = client

    def __repr__(self) -> str:
        return f"<MqttSink {self.url}>"

    # ------------------------------------------------------------ the scheduler's side (never blocks)

    def statistics(self) -> MqttStats:
        """A snapshot of the sink's counters."""
        return MqttStats(
            accepted=self._accepted,
            sent=self._sent,
            dropped=self._dropped,
            lost=self._lost_qos0,
            buffered=len(self._buffer),
            unacked=len(self._unacked),
            connects=self._connects,
            connected=self._client.is_connected() and self._client.socket() is not None,
        )

    def _topic_for(self, job: str, namespace: str | None) -> str:
        key = (job, namespace)
        topic = self._topics.get(key)
        if topic is None:
            topic = render_topic(self.topic, job=job, namespace=namespace or self.namespace, host=self._hostname)
            self._topics[key] = topic
        return topic

    def _enqueue(self, topic: str, payload: bytes) -> None:
        self._accepted += 1
        buf = self._buffer
        if len(buf) >= self._capacity:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                log.warning(
                    "%s: buffer of %d messages full (%s): %s, %d dropped so far",
                    self.url,
                    self._capacity,
                    self._last_problem or "broker slow",
                    "dropping the oldest" if self.overflow == "drop-oldest" else "dropping new messages",
                    self._dropped,
                )
            if self.overflow == "drop-newest":
                return
            buf.popleft()
        buf.append((topic, payload))
        if not self.linger or time.monotonic() - self._last_flush >= self.linger or len(buf) >= _LINGER_BATCH:
            self._work.set()  # due: right after a run, the safest moment for I/O
        elif not self._armed:
            self._armed = True
            self._work.set()  # the writer sets a fallback timer for this batch

    def result(self, task: Task, value: Any) -> None:
        try:
            payload = encode_value(value, self.format)
        except Exception as exc:
            self._encode_failures += 1
            if self._encode_failures <= 3:
                log.warning("%s: cannot encode a result of job %r as %s: %s", self.url, task.name, self.format, exc)
            return
        self._enqueue(self._topic_for(task.name, getattr(task, "namespace", None)), payload)

    def output(self, task: Task, data: bytes) -> None:
        """Each line a command payload prints is a message (text), on the result topic."""
        topic = self._topic_for(task.name, getattr(task, "namespace", None))
        for line in data.splitlines():
            if line:
                self._enqueue(topic, line)

    def run_started(self, run: Run) -> None:
        self.run_ended(run)

    def run_ended(self, run: Run) -> None:
        key = (run.job, run.namespace)
        topic = self._event_topics.get(key)
        if topic is None:
            base = self._topic_for(run.job, run.namespace)
            topic = render_topic(
                self.events_topic,
                job=run.job,
                namespace=run.namespace or self.namespace,
                host=self._hostname,
                topic=base,
            )
            self._event_topics[key] = topic
        self._enqueue(topic, encode_record(event_record(run), "msgpack" if self.format == "msgpack" else "json"))

    # ------------------------------------------------------------ paho callbacks

    def _in_trio_thread(self) -> bool:
        return threading.get_ident() == self._trio_thread

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # called in the connecting worker thread
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._in_trio_thread():
            try:
                trio.lowlevel.notify_closing(sock)  # wakes a task waiting on it (ClosedResourceError)
            except RuntimeError:
                pass  # closed outside trio.run: nobody waits
            self._lost.set()

    def _on_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._in_trio_thread():
            self._work.set()

    def _on_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        pass

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._last_problem = f"broker refused the connection: {reason}"
            log.warning("%s: %s", self.url, self._last_problem)
            return
        self._connects += 1
        if self._connects == 1:
            log.debug("%s: connected", self.url)
        else:
            log.info("%s: connected again (%d messages waiting)", self.url, len(self._buffer) + len(self._unacked))
        self._last_problem = ""
        self._work.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not self._closing and not self._last_problem:
            detail = str(reason)
            self._last_problem = (
                "connection lost" if detail in ("Success", "Unspecified error") else f"connection lost ({detail})"
            )
        self._lost.set()

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if mid in self._unacked:
            self._unacked.discard(mid)
            self._sent += 1
            if self._closing or (self._buffer and len(self._unacked) == self._window - 1):
                self._work.set()  # the window has room again

    # ------------------------------------------------------------ the I/O side, in serve()

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, publish, reconnect; runs until :meth:`aclose` has flushed (or cancellation)."""
        self._trio_thread = threading.get_ident()
        with trio.CancelScope() as scope:
            self._serve_scope = scope
            task_status.started()
            try:
                await self._connection_loop()
            finally:
                self._finished.set()

    def _pending(self) -> int:
        return len(self._buffer) + len(self._unacked)

    async def _connection_loop(self) -> None:
        backoff = self.reconnect_min
        failures = 0  # consecutive attempts that did not reach a working connection
        while True:
            if self._closing and not self._pending():
                return
            self._lost = trio.Event()
            try:
                sock = await trio.to_thread.run_sync(self._connect_blocking, abandon_on_cancel=True)  # type: ignore[call-arg]
            except (OSError, ssl.SSLError, ValueError) as exc:
                failures += 1
                self._last_problem = f"cannot connect: {_describe(exc)}"
                (log.warning if failures == 1 else log.debug)(
                    "%s: %s; retrying with backoff up to %gs (%d messages waiting)",
                    self.url,
                    self._last_problem,
                    self.reconnect_max,
                    self._pending(),
                )
                await trio.sleep(backoff)
                backoff = min(backoff * 2, self.reconnect_max)
                continue
            connects = self._connects
            async with trio.open_nursery() as io:
                io.start_soon(self._reader, sock)
                io.start_soon(self._writer, sock)
                io.start_soon(self._misc)
                await self._lost.wait()
                io.cancel_scope.cancel()
            if self._client.socket() is not None:
                self._client._sock_close()  # a failure paho did not see itself (e.g. a closed fd)
            # QoS 0 messages paho had not written yet are gone with the connection
            self._lost_qos0 += self._handed0
            self._handed0 = 0
            if self._closing and not self._pending():
                return
            if self._connects > connects:
                failures = 0
                backoff = self.reconnect_min
                log.warning("%s: %s; reconnecting", self.url, self._last_problem or "connection lost")
            else:
                failures += 1
                (log.warning if failures == 1 else log.debug)(
                    "%s: %s; retrying", self.url, self._last_problem or "no answer to CONNECT"
                )
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self.reconnect_max)

    def _connect_blocking(self) -> Any:
        """In a worker thread: resolve, connect TCP (and TLS), queue the CONNECT packet."""
        client = self._client
        client.connect(self.host, self.port, keepalive=max(1, round(self.keepalive)))
        return client.socket()

    async def _reader(self, sock: Any) -> None:
        client = self._client
        pending = getattr(sock, "pending", None)
        try:
            while True:
                await trio.lowlevel.wait_readable(sock)
                while True:
                    if client.loop_read() != paho.MQTT_ERR_SUCCESS:
                        self._lost.set()
                        return
                    if pending is None or client.socket() is not sock or not pending():
                        break
        except (trio.ClosedResourceError, OSError):
            self._lost.set()

    async def _writer(self, sock: Any) -> None:
        client = self._client
        try:
            while True:
                self._work = trio.Event()
                due = (
                    self._closing
                    or self._draining
                    or len(self._buffer) >= _LINGER_BATCH
                    or time.monotonic() - self._last_flush >= self.linger
                )
                if client.is_connected() and due:
                    if self._pump():
                        self._last_flush = time.monotonic()
                        self._armed = False
                    # stopped by the time slice or the in-flight window: go on without lingering
                    self._draining = bool(self._buffer)
                if client.want_write():
                    if client.loop_write() != paho.MQTT_ERR_SUCCESS:
                        self._lost.set()
                        return
                    if client.want_write():
                        await trio.lowlevel.wait_writable(sock)
                        continue
                if self._handed0:  # paho's queue is written out: the QoS 0 messages are sent
                    self._sent += self._handed0
                    self._handed0 = 0
                if self._closing and client.is_connected() and not self._pending():
                    client.disconnect()
                    client.loop_write()
                    self._lost.set()
                    return
                if not (self._buffer and client.is_connected()):
                    await self._work.wait()
                elif not due and not self._closing:
                    # a lingering batch: sent by the next message that finds it due, or by this timer
                    with trio.move_on_after(self._last_flush + 2 * self.linger - time.monotonic()):
                        await self._work.wait()
                elif not self.qos or len(self._unacked) < self._window:
                    await trio.lowlevel.checkpoint()  # a backlog drains in slices: the scheduler runs between them
                else:
                    await self._work.wait()  # the in-flight window is full: wait for acknowledgements
        except (trio.ClosedResourceError, OSError):
            self._lost.set()

    def _pump(self) -> int:
        """Hand buffered messages to paho: at least one, for at most ``_SLICE`` seconds, within
        the QoS 1/2 in-flight window."""
        buf = self._buffer
        client = self._client
        qos, retain = self.qos, self.retain
        unacked = self._unacked
        window = self._window
        n = 0
        budget = time.perf_counter() + _SLICE
        while buf and (n == 0 or time.perf_counter() < budget) and (not qos or len(unacked) < window):
            topic, payload = buf[0]
            try:
                info = client.publish(topic, payload, qos, retain)
            except (ValueError, TypeError) as exc:  # e.g. a payload beyond MQTT's 256 MiB
                buf.popleft()
                self._lost_qos0 += 1
                log.warning("%s: paho rejected a message to %r: %s", self.url, topic, exc)
                continue
            if qos:
                if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
                    break  # not queued by paho
                unacked.add(info.mid)
            elif info.rc != paho.MQTT_ERR_SUCCESS:
                break
            else:
                self._handed0 += 1
            buf.popleft()
            n += 1
        return n

    async def _misc(self) -> None:
        client = self._client
        give_up = trio.current_time() + self.connect_timeout
        while True:
            await trio.sleep(min(1.0, self.connect_timeout))
            if not client.is_connected() and trio.current_time() >= give_up:
                self._last_problem = f"no answer to CONNECT within {self.connect_timeout:g}s"
                self._lost.set()
                return
            if client.loop_misc() != paho.MQTT_ERR_SUCCESS:
                self._lost.set()
                return

    # ------------------------------------------------------------ shutdown

    async def aclose(self) -> None:
        """Send what is buffered and wait for QoS 1/2 acknowledgements (up to ``flush_timeout``),
        disconnect cleanly, and log what could not be delivered."""
        self._closing = True
        self._work.set()
        if self._client.is_connected() or self._pending():
            with trio.move_on_after(self.flush_timeout) as self._flush_scope:
                await self._finished.wait()
            self._flush_scope = None
        if self._serve_scope is not None:
            self._serve_scope.cancel()
        self.close()
        st = self.statistics()
        if st.undelivered:
            log.warning(
                "%s: %d of %d message(s) not delivered (%d dropped: buffer full; %d lost with a connection; "
                "%d unsent and %d unacknowledged at exit)%s",
                self.url,
                st.undelivered,
                st.accepted,
                st.dropped,
                st.lost,
                st.buffered,
                st.unacked,
                f"; last problem: {self._last_problem}" if self._last_problem else "",
            )
        else:
            log.debug("%s: %d message(s) delivered", self.url, st.sent)

    def cut_flush(self, grace: float) -> None:
        """A second Ctrl-C while :meth:`aclose` waits for the broker: wait at most *grace* more."""
        if self._flush_scope is not None:
            self._flush_scope.deadline = min(self._flush_scope.deadline, trio.current_time() + grace)

    def close(self) -> None:
        self._closing = True
        if self._client.socket() is not None:
            self._client._sock_close()  # our on_socket_close wakes any task waiting on the socket


def render_topic(template: str, **fields: str) -> str:
    """Fill a topic template; values lose the MQTT wildcards ``+`` and ``#`` (replaced by ``_``)."""
    clean = {k: v.replace("+", "_").replace("#", "_").replace("\0", "_") for k, v in fields.items()}
    return template.format_map(clean)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
