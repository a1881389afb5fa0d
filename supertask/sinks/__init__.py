"""Sinks: where results, output and run events go (stdout, JSON lines files, MQTT), and the URLs that name them.

A sink URL, as ``--emit`` and timetable files take it::

    stdout
    jsonl:PATH
    mqtt://[user:pass@]host[:port]/topic[?qos=0|1|2&retain=0|1&format=auto|text|json|msgpack&…]
    mqtts://…                          TLS; also ca=PATH, cert=PATH, key=PATH, insecure=1

:func:`parse_sink` is the one place that reads them; :class:`JobsSink` limits a sink to some
jobs (per-job ``emit`` lists of a timetable).
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import SinkError
from .base import Sink as Sink
from .routing import JobsSink as JobsSink
from .stdout import StdoutSink as StdoutSink

if TYPE_CHECKING:
    import ssl

    from .mqtt import MqttSink

__all__ = ["SINK_FORMS", "JobsSink", "Sink", "StdoutSink", "parse_sink"]

SINK_FORMS = (
    "stdout, jsonl:PATH or mqtt[s]://[user:pass@]host[:port]/topic[?qos=0|1|2&retain=0|1&format=auto|text|json|msgpack]"
)

#: query options of mqtt:// and mqtts:// URLs (mqtts adds the TLS ones)
MQTT_OPTIONS = (
    "qos",
    "retain",
    "format",
    "client_id",
    "keepalive",
    "buffer",
    "overflow",
    "flush_timeout",
    "events_topic",
    "reconnect_max",
    "connect_timeout",
    "inflight",
    "linger",
)
TLS_OPTIONS = ("ca", "cert", "key", "insecure")
TOPIC_FIELDS = ("job", "namespace", "host")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_sink(url: str, *, events: bool = False, namespace: str | None = None) -> Sink:
    """Build the sink a URL names.

    Args:
        url: ``stdout``, ``jsonl:PATH``, ``mqtt://…`` or ``mqtts://…`` (see the module docstring).
        events: the sink also receives run events (started, finished, failed, skipped).
        namespace: what ``{namespace}`` in an MQTT topic means for jobs without one.

    Raises:
        SinkError: one line naming the bad URL (password hidden) and the expected form.
    """
    text = url.strip()
    if text in ("stdout", "-", "stdout:"):
        return StdoutSink(events=events)
    if text.startswith("jsonl:"):
        path = text[len("jsonl:") :]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise SinkError(f"invalid sink {url!r}: jsonl needs a file path; expected jsonl:PATH")
        from .jsonl import JsonlSink

        return JsonlSink(path, events=events)
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme in ("mqtt", "mqtts"):
        return _parse_mqtt(text, events=events, namespace=namespace)
    raise SinkError(f"invalid sink {_hide_password(url)!r}: expected {SINK_FORMS}")


def _hide_password(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    return url


def _parse_mqtt(url: str, *, events: bool, namespace: str | None) -> MqttSink:
    shown = _hide_password(url)

    def bad(reason: str) -> SinkError:
        return SinkError(f"invalid sink {shown!r}: {reason}")

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(f"{exc}; expected mqtt://[user:pass@]host[:port]/topic") from None
    tls = parts.scheme.lower() == "mqtts"
    host = parts.hostname
    if not host:
        raise bad("no broker host; expected mqtt://[user:pass@]host[:port]/topic")
    if parts.fragment or "#" in url:
        raise bad("a topic to publish to cannot contain the wildcard '#'")
    topic = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if not topic:
        raise bad("no topic; expected mqtt://host[:port]/topic, e.g. mqtt://localhost/telemetry/{job}")
    if "+" in topic or "#" in topic:
        raise bad("a topic to publish to cannot contain the wildcards '+' or '#'")
    _check_template(topic, TOPIC_FIELDS, bad)

    options: dict[str, str] = {}
    allowed = MQTT_OPTIONS + (TLS_OPTIONS if tls else ())
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in allowed:
            if key in TLS_OPTIONS:
                raise bad(f"option {key!r} needs TLS: use mqtts://")
            raise bad(f"unknown option {key!r}; expected one of {', '.join(allowed)}")
        if key in options and options[key] != value:
            raise bad(f"option {key!r} given twice ({options[key]!r} and {value!r})")
        options[key] = value

    kwargs: dict[str, Any] = {}
    if "qos" in options:
        if options["qos"] not in ("0", "1", "2"):
            raise bad(f"qos={options['qos']!r}: expected 0, 1 or 2")
        kwargs["qos"] = int(options["qos"])
    if "retain" in options:
        kwargs["retain"] = _parse_bool(options["retain"], "retain", bad)
    if "format" in options:
        fmt = options["format"].lower()
        if fmt not in ("auto", "text", "json", "msgpack"):
            raise bad(f"format={options['format']!r}: expected auto, text, json or msgpack")
        kwargs["format"] = fmt
    if "client_id" in options:
        kwargs["client_id"] = options["client_id"]
    if "buffer" in options:
        b = options["buffer"]
        if not b.isdigit() or int(b) < 1:
            raise bad(f"buffer={b!r}: expected a whole number of messages >= 1")
        kwargs["buffer"] = int(b)
    if "inflight" in options:
        f = options["inflight"]
        if not f.isdigit() or int(f) < 1:
            raise bad(f"inflight={f!r}: expected a whole number of messages >= 1")
        kwargs["inflight"] = int(f)
    if "overflow" in options:
        if options["overflow"] not in ("drop-oldest", "drop-newest"):
            raise bad(f"overflow={options['overflow']!r}: expected drop-oldest or drop-newest")
        kwargs["overflow"] = options["overflow"]
    for key in ("keepalive", "flush_timeout", "reconnect_max", "connect_timeout", "linger"):
        if key in options:
            kwargs[key] = _parse_seconds(options[key], key, bad, allow_zero=key in ("flush_timeout", "linger"))
    if "events_topic" in options:
        et = options["events_topic"]
        if not et or "+" in et or "#" in et:
            raise bad(f"events_topic={et!r}: expected a topic without wildcards (may use {{topic}}, {{job}})")
        _check_template(et, (*TOPIC_FIELDS, "topic"), bad)
        kwargs["events_topic"] = et
    if tls:
        kwargs["tls"] = _tls_context(options, bad)

    from .mqtt import MqttSink

    return MqttSink(
        host,
        port,
        topic,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        events=events,
        namespace=namespace,
        url=shown,
        **kwargs,
    )


def _check_template(template: str, fields: tuple[str, ...], bad: Any) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise bad(f"topic template {template!r}: {exc}") from None
    for name in names:
        if name not in fields:
            shown = ", ".join("{" + f + "}" for f in fields)
            raise bad(f"unknown placeholder {{{name}}} in topic {template!r}; expected {shown}")


def _parse_bool(value: str, key: str, bad: Any) -> bool:
    v = value.lower()
    if v in _TRUE or v == "":
        return True
    if v in _FALSE:
        return False
    raise bad(f"{key}={value!r}: expected 1 or 0 (true/false)")


def _parse_seconds(value: str, key: str, bad: Any, *, allow_zero: bool = False) -> float:
    from ..durations import parse_duration
    from ..errors import DurationError

    try:
        return float(value) if _is_number(value) else parse_duration(value, what=key, allow_zero=allow_zero)
    except DurationError:
        raise bad(f"{key}={value!r}: expected a duration such as 5s or 500ms") from None


def _is_number(value: str) -> bool:
    try:
        return float(value) >= 0
    except ValueError:
        return False


def _tls_context(options: dict[str, str], bad: Any) -> ssl.SSLContext:
    import ssl

    try:
        ctx = ssl.create_default_context(cafile=options.get("ca") or None)
        if options.get("cert"):
            ctx.load_cert_chain(options["cert"], options.get("key") or None)
        elif options.get("key"):
            raise bad("key= needs cert= (the client certificate)")
    except (OSError, ssl.SSLError) as exc:
        raise bad(f"cannot load TLS files: {getattr(exc, 'strerror', None) or exc}") from None
    if _parse_bool(options.get("insecure", "0"), "insecure", bad):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
