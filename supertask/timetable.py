"""Job files to model records: timetables (YAML, JSON, TOML), Python task files, and the original Supertask's formats.

One document schema for YAML, JSON and TOML::

    meta:                       # optional
      namespace: ops            # default: digest of hostname-user-resource
      name: Operations
      description: ...
      authors: [ops@example.org]
    jobs:
      - name: disk              # unique within the namespace
        when: 1m                # any --when form (default: once)
        run: cmd:df -h /        # payload text as on the command line ...
        # payload: {kind: python-entrypoint, target: "pkg.mod:fn", kwargs: {x: 1}}   # ... or a record
        # steps: [{name: a, run: "cmd:echo a"}, {uses: python-entrypoint, run: "m:f", if: false}]
        tz: Europe/Berlin
        env: {FOO: "1"}         # this job's runs only
        cwd: /tmp
        timeout: 30s
        isolation: inprocess    # python code: thread, actor (warm tractor actor), process
        actors: 1               # warm actors with isolation: actor
        mode: precise           # or relaxed
        overrun: skip           # queue, cancel, concurrent[:N]
        count: 10
        for: 1h
        history: auto           # all, aggregate, none
        emit: [stdout, "mqtt://localhost/telemetry/{job}", "jsonl:./out.jsonl"]   # default: stdout
        emit_events: false      # also send run events to the emit sinks
        misfire: run-once       # (or once), catch-up[:N], skip

The original Supertask's timetables (``meta`` + ``tasks[]`` with ``meta``, ``on.schedule[].cron``
and ``steps[]``) and its task files (``# /// task`` block with ``cron``, ``[env]``,
``[options]``) load unchanged. Errors name the file, the line and the field, and the
expected form. Sources can be local paths or ``http(s)://`` URLs.
"""

from __future__ import annotations

import ast
import datetime as _dt
import getpass
import hashlib
import json
import logging
import re
import socket
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from .durations import parse_duration
from .errors import SpecError, TimetableError
from .model import (
    Base,
    Cron,
    JobSpec,
    Metadata,
    Misfire,
    Namespace,
    Origin,
    PayloadSpec,
    Policy,
    PythonEntrypoint,
    PythonFile,
    Runtime,
    Step,
    Steps,
)

__all__ = [
    "DEFAULT_FILES",
    "Timetable",
    "find_default_file",
    "job_version",
    "load_timetable",
    "namespace_digest",
    "parse_timetable",
]

log = logging.getLogger(__name__)

#: what ``supertask run`` looks for in the working directory, in this order
DEFAULT_FILES = ("supertask.yaml", "supertask.yml", "supertask.json", "supertask.toml")

FORMATS = ".yaml, .yml, .json, .toml (timetables) or .py (task files)"

FETCH_TIMEOUT = 30.0

Scalar = str | int | float | bool


# ---------------------------------------------------------------- the document schema


class DocMeta(Base, frozen=True):
    """``meta`` of a timetable (also the original format's: type, version, generator are accepted)."""

    namespace: str | None = None
    name: str | None = None
    description: str | None = None
    authors: list[str] = []
    created: _dt.datetime | None = None
    updated: _dt.datetime | None = None
    type: str | None = None
    version: int | str | None = None
    generator: str | None = None


class DocStep(Base, frozen=True):
    """A step of ``steps``: ``run`` text, a ``payload`` record, or the original ``uses``/``run``/``args``/``kwargs``."""

    name: str | None = None
    uses: Literal["python-entrypoint", "python-file", "cmd", "python"] | None = None
    run: str | None = None
    payload: PayloadSpec | None = None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if_: bool = msgspec.field(name="if", default=True)


class DocJob(Base, frozen=True):
    """One job of a timetable's ``jobs`` list."""

    name: str
    id: str | None = None
    description: str | None = None
    enabled: bool = True
    authors: list[str] = []
    created: _dt.datetime | None = None
    updated: _dt.datetime | None = None
    when: str | None = None
    cron: str | None = None
    run: str | list[str] | None = None
    exec: bool = False
    payload: PayloadSpec | None = None
    steps: list[DocStep] | None = None
    tz: str | None = None
    env: dict[str, Scalar] = {}
    cwd: str | None = None
    timeout: str | float | None = None
    isolation: Literal["inprocess", "thread", "actor", "process"] = "inprocess"
    actors: int = 1
    passthrough: bool = False
    emit: list[str] = []
    emit_events: bool = False
    mode: Literal["precise", "relaxed"] = "precise"
    overrun: str = "skip"
    count: int | None = None
    for_: str | float | None = msgspec.field(name="for", default=None)
    spin: str | float | None = None
    history: Literal["auto", "all", "aggregate", "none"] = "auto"
    misfire: str = "run-once"


class Document(Base, frozen=True):
    """A timetable in Supertask's own schema."""

    meta: DocMeta = DocMeta()
    jobs: list[DocJob] = []


# the original Supertask's timetable format (pyveci/supertask, ``examples/canonical/timetable.yaml``)


class LegacyTaskMeta(Base, frozen=True):
    id: str | int
    name: str
    description: str | None = None
    enabled: bool = True


class LegacySchedule(Base, frozen=True):
    cron: str


class LegacyOn(Base, frozen=True):
    schedule: list[LegacySchedule]


class LegacyStep(Base, frozen=True):
    name: str
    uses: str
    run: str
    args: list[str | int | float] = []
    kwargs: dict[str, Any] = {}
    if_: bool = msgspec.field(name="if", default=True)


class LegacyTask(Base, frozen=True):
    meta: LegacyTaskMeta
    on: LegacyOn
    steps: list[LegacyStep]


class LegacyDocument(Base, frozen=True):
    meta: DocMeta = DocMeta()
    tasks: list[LegacyTask] = []


class TaskBlock(Base, frozen=True):
    """The ``# /// task`` block of a Python task file."""

    cron: str | None = None
    when: str | None = None
    name: str | None = None
    description: str | None = None
    namespace: str | None = None
    entrypoint: str | None = None
    env: dict[str, Scalar] = {}
    options: dict[str, Any] = {}
    cwd: str | None = None
    timeout: str | float | None = None
    tz: str | None = None
    history: Literal["auto", "all", "aggregate", "none"] = "auto"
    misfire: str = "run-once"


# ---------------------------------------------------------------- the result


class Timetable(msgspec.Struct, frozen=True, kw_only=True):
    """What a source holds: a namespace and its jobs (all of them, enabled or not)."""

    namespace: Namespace
    jobs: list[JobSpec]
    #: the path or URL the timetable was read from
    source: str
    #: "timetable", "legacy-timetable" or "task-file"
    format: str

    @property
    def enabled_jobs(self) -> list[JobSpec]:
        return [j for j in self.jobs if j.meta.enabled]


# ---------------------------------------------------------------- reading sources


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def read_source(ref: str) -> tuple[str, str]:
    """Return ``(text, resource)``: the file's text and its absolute path or URL.

    Raises:
        TimetableError: the file is missing or unreadable, or the URL cannot be fetched.
    """
    if is_url(ref):
        try:
            req = urllib.request.Request(ref, headers={"User-Agent": "supertask"})
            with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as resp:
                data = resp.read()
        except urllib.error.HTTPError as exc:
            raise TimetableError(f"cannot fetch {ref}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TimetableError(f"cannot fetch {ref}: {reason}") from None
        try:
            return data.decode("utf-8"), ref
        except UnicodeDecodeError:
            raise TimetableError(f"{ref}: not UTF-8 text: expected a timetable in {FORMATS}") from None
    path = Path(ref).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TimetableError(f"timetable file {ref!r} not found: expected a file in {FORMATS}") from None
    except IsADirectoryError:
        raise TimetableError(f"{ref!r} is a directory: expected a timetable file in {FORMATS}") from None
    except UnicodeDecodeError:
        raise TimetableError(f"{ref}: not UTF-8 text: expected a timetable in {FORMATS}") from None
    except OSError as exc:
        raise TimetableError(f"cannot read {ref!r}: {exc.strerror}") from None
    return text, str(path.resolve())


def _suffix(ref: str) -> str:
    path = urllib.parse.urlparse(ref).path if is_url(ref) else ref
    return Path(path).suffix.lower()


def find_default_file(cwd: Path | None = None) -> Path | None:
    """The first of :data:`DEFAULT_FILES` in *cwd* (default: the working directory)."""
    base = cwd or Path.cwd()
    for name in DEFAULT_FILES:
        if (base / name).is_file():
            return base / name
    return None


def namespace_digest(resource: str, *, host: str | None = None, user: str | None = None) -> str:
    """The namespace id derived from ``f"{hostname}-{user}-{resource}"`` (md5, as the original Supertask did)."""
    host = host or socket.gethostname()
    user = user or _user()
    return hashlib.md5(f"{host}-{user}-{resource}".encode()).hexdigest()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container
        return "unknown"


def job_version(spec: JobSpec) -> str:
    """A short digest of what a job does (schedule, payload, policy, runtime), to tell definitions apart."""
    blob = msgspec.json.encode([spec.when, spec.trigger, spec.payload, spec.policy, spec.runtime, spec.meta.enabled])
    return hashlib.sha256(blob).hexdigest()[:12]


def load_timetable(
    ref: str,
    *,
    namespace: str | None = None,
    when: str | None = None,
) -> Timetable:
    """Read a timetable or task file (path or http(s) URL) into model records.

    Args:
        ref: the path or URL.
        namespace: overrides the file's namespace (``--ns``).
        when: overrides every job's schedule (``--when``).

    Raises:
        TimetableError: naming the file, the line and the field, and the expected form.
    """
    text, resource = read_source(ref)
    return parse_timetable(text, resource, display=ref, namespace=namespace, when=when)


def parse_timetable(
    text: str,
    resource: str,
    *,
    display: str | None = None,
    namespace: str | None = None,
    when: str | None = None,
) -> Timetable:
    """Parse the text of a source; *resource* (absolute path or URL) selects the format and the namespace digest."""
    display = display or resource
    suffix = _suffix(resource)
    origin = Origin(source=resource, host=socket.gethostname(), user=_user())
    if suffix == ".py":
        return _task_file(text, resource, display, origin, namespace, when)
    if suffix in (".yaml", ".yml"):
        data, locate = _load_yaml(text, display)
    elif suffix == ".json":
        data, locate = _load_json(text, display)
    elif suffix == ".toml":
        data, locate = _load_toml(text, display)
    else:
        raise TimetableError(f"{display}: unknown file type {suffix or '(none)'!r}: expected {FORMATS}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TimetableError(
            f"{display}:{locate(())}: the document is a {type(data).__name__}: expected a mapping with meta and jobs"
        )
    ctx = _Context(display, locate)
    if "tasks" in data:
        if "jobs" in data:
            raise ctx.error(("jobs",), "a timetable has either jobs (this format) or tasks (the original format)")
        legacy = ctx.convert(_legacy_bools(data), LegacyDocument)
        return _from_legacy(legacy, ctx, resource, origin, namespace, when)
    if isinstance(data.get("jobs"), list):
        data = {**data, "jobs": [_when_as_text(j) for j in data["jobs"]]}
    doc = ctx.convert(data, Document)
    return _from_document(doc, ctx, resource, origin, namespace, when)


# ---------------------------------------------------------------- locating errors

Path_ = tuple[str | int, ...]


class _Context:
    """Turns schema and value errors into one line: ``file:line: at jobs[0].when: problem; expected form``."""

    def __init__(self, display: str, locate: Any) -> None:
        self.display = display
        self.locate = locate

    def error(self, path: Path_, message: str) -> TimetableError:
        where = _format_path(path)
        return TimetableError(f"{self.display}:{self.locate(path)}: {'at ' + where + ': ' if where else ''}{message}")

    def convert(self, data: Any, type_: Any) -> Any:
        try:
            return msgspec.convert(data, type_, strict=False)
        except msgspec.ValidationError as exc:
            raise self._schema_error(str(exc), type_) from None

    def _schema_error(self, text: str, root: Any) -> TimetableError:
        message, _, at = text.partition(" - at `")
        path = _parse_path(at.rstrip("`")) if at else ()
        m = re.match(r"Object contains unknown field `(.+)`", message)
        if m:
            fields = _fields_at(root, path)
            expected = f"expected one of: {', '.join(fields)}" if fields else "remove it"
            return self.error((*path, m.group(1)), f"unknown field {m.group(1)!r}; {expected}")
        m = re.match(r"Object missing required field `(.+)`", message)
        if m:
            return self.error(path, f"missing required field {m.group(1)!r}")
        m = re.match(r"Expected `(.+?)`, got `(.+?)`", message)
        if m:
            return self.error(path, f"expected {m.group(1)}, got {m.group(2)}")
        m = re.match(r"Invalid (?:enum )?value (.+)", message)
        if m:
            value = m.group(1).strip("`")
            return self.error(path, f"invalid value {value}{_choices_at(root, path)}")
        return self.error(path, message[:1].lower() + message[1:])


def _choices_at(root: Any, path: Path_) -> str:
    t = _type_at(root, path)
    import typing

    for cand in (t, *typing.get_args(t)):
        if typing.get_origin(cand) is Literal:
            return f"; expected one of: {', '.join(map(str, typing.get_args(cand)))}"
    if path:  # the tag of a tagged union (a payload's kind)
        parent = _type_at(root, path[:-1])
        tags = [
            c.__struct_config__.tag
            for c in typing.get_args(parent)
            if isinstance(c, type) and issubclass(c, msgspec.Struct) and c.__struct_config__.tag_field == path[-1]
        ]
        if tags:
            return f"; expected one of: {', '.join(map(str, tags))}"
    return ""


def _parse_path(at: str) -> Path_:
    parts: list[str | int] = []
    for m in re.finditer(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]", at.removeprefix("$")):
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) != "...":
            parts.append(int(m.group(2)))
    return tuple(parts)


def _format_path(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _type_at(root: Any, path: Path_) -> Any:
    import typing

    t = root
    for p in path:
        t = _unwrap(t)
        if isinstance(t, type) and issubclass(t, msgspec.Struct):
            info = {f.encode_name: f.type for f in msgspec.structs.fields(t)}
            if p not in info:
                return None
            t = info[p]  # type: ignore[index]
        elif typing.get_origin(t) in (list, dict):
            t = typing.get_args(t)[-1]
        else:
            return None
    return t


def _unwrap(t: Any) -> Any:
    import types
    import typing

    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        structs = [a for a in args if isinstance(a, type) and issubclass(a, msgspec.Struct)]
        lists = [a for a in args if typing.get_origin(a) in (list, dict)]
        if structs:
            return structs[0]
        if lists:
            return lists[0]
        return args[0] if len(args) == 1 else t
    return t


def _fields_at(root: Any, path: Path_) -> list[str]:
    t = _unwrap(_type_at(root, path))
    if isinstance(t, type) and issubclass(t, msgspec.Struct):
        return [f.encode_name for f in msgspec.structs.fields(t)]
    return []


# ---------------------------------------------------------------- YAML, JSON, TOML


def _yaml_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML 1.2 booleans: only true/false (so the original format's ``on:`` stays a string key)."""

    Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:bool"] for k, v in
                                      yaml.SafeLoader.yaml_implicit_resolvers.items()}  # fmt: skip
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return Loader


def _node_locator(root: Any, default_line: int = 1) -> Any:
    """A function from a document path to the 1-based line of the node there (or of its nearest parent)."""
    import yaml

    def locate(path: Path_) -> int:
        node = root
        line = node.start_mark.line + 1 if node is not None else default_line
        for p in path:
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == p:
                        nxt = v
                        line = k.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(p, int) and p < len(node.value):
                nxt = node.value[p]
                line = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return line

    return locate


def _load_yaml(text: str, display: str) -> tuple[Any, Any]:
    import yaml

    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise TimetableError(f"{display}:{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise TimetableError(f"{display}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, _node_locator(node)


def _load_json(text: str, display: str) -> tuple[Any, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TimetableError(f"{display}:{exc.lineno}: invalid JSON: {exc.msg} at column {exc.colno}") from None
    try:  # JSON is YAML: its node tree gives the lines of fields
        loader = _yaml_loader()(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        return data, _node_locator(node)
    except Exception:
        return data, lambda path: 1


def _load_toml(text: str, display: str) -> tuple[Any, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = m.group(1) if m else "1"
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise TimetableError(f"{display}:{line}: invalid TOML: {msg}") from None
    return data, _toml_locator(text)


def _toml_locator(text: str) -> Any:
    """Best effort: the line of ``[[jobs]]`` number i, and of ``key =`` within it."""
    lines = text.splitlines()

    def locate(path: Path_) -> int:
        start, end = 0, len(lines)
        line = 1
        i = 0
        while i < len(path):
            p = path[i]
            if isinstance(p, str) and i + 1 < len(path) and isinstance(path[i + 1], int):
                n = path[i + 1]
                hits = [k for k in range(start, end) if lines[k].strip() == f"[[{p}]]"]
                if isinstance(n, int) and n < len(hits):
                    start = hits[n]
                    nxt = [k for k in range(start + 1, end) if lines[k].lstrip().startswith("[")]
                    end = nxt[0] if nxt else end
                    line = start + 1
                i += 2
                continue
            if isinstance(p, str):
                for k in range(start, end):
                    s = lines[k].strip()
                    if re.match(rf"^\"?{re.escape(p)}\"?\s*=", s) or s in (f"[{p}]", f"[meta.{p}]"):
                        line = k + 1
                        start = k
                        break
            i += 1
        return line

    return locate


# ---------------------------------------------------------------- building jobs


def _namespace(meta: DocMeta, resource: str, origin: Origin, override: str | None, ctx: _Context | None) -> Namespace:
    ns = override or meta.namespace or namespace_digest(resource, host=origin.host, user=origin.user)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}", ns):
        message = f"invalid namespace {ns!r}: expected letters, digits and _ . : @ - (at most 128)"
        if ctx is not None and not override:
            raise ctx.error(("meta", "namespace"), message)
        raise SpecError(message)
    return Namespace(id=ns, name=meta.name, description=meta.description, origin=origin)


_PYDANTIC_BOOLS = {
    **dict.fromkeys(("1", "on", "t", "true", "y", "yes"), True),
    **dict.fromkeys(("0", "off", "f", "false", "n", "no"), False),
}


def _legacy_bools(data: dict[str, Any]) -> dict[str, Any]:
    """The original format's ``enabled`` and ``if`` as its pydantic model read them (``yes``, ``off``, ``1``)."""

    def fix(record: Any, key: str) -> Any:
        if isinstance(record, dict) and isinstance(record.get(key), str):
            flag = _PYDANTIC_BOOLS.get(record[key].strip().lower())
            if flag is not None:
                return {**record, key: flag}
        return record

    tasks = data.get("tasks")
    if not isinstance(tasks, list):
        return data
    fixed = []
    for task in tasks:
        if isinstance(task, dict):
            task = {**task}
            if "meta" in task:
                task["meta"] = fix(task["meta"], "enabled")
            if isinstance(task.get("steps"), list):
                task["steps"] = [fix(step, "if") for step in task["steps"]]
        fixed.append(task)
    return {**data, "tasks": fixed}


def _when_as_text(record: Any) -> Any:
    """*record* with an unquoted ISO datetime in ``when`` (a datetime in YAML and TOML) as its ISO text."""
    if isinstance(record, dict) and isinstance(record.get("when"), _dt.datetime):
        return {**record, "when": record["when"].isoformat()}
    return record


def _when(ctx: _Context, path: Path_, text: str, tz: str | None) -> Any:
    from .timezones import get_zone
    from .when import parse_when

    if tz is not None:
        try:
            get_zone(tz)
        except SpecError as exc:
            raise ctx.error((*path[:-1], "tz"), str(exc)) from None
    try:
        return parse_when(text, tz=tz)
    except SpecError as exc:
        raise ctx.error(path, str(exc).replace("invalid --when", "invalid when", 1)) from None


def _seconds(ctx: _Context, path: Path_, value: str | float | None, *, allow_zero: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        if value < 0 or (value == 0 and not allow_zero):
            raise ctx.error(path, f"invalid duration {value!r}: expected seconds > 0 or a duration like 20ms, 1h")
        return float(value)
    try:
        return parse_duration(value, what=path[-1] if path else "duration", allow_zero=allow_zero)  # type: ignore[arg-type]
    except SpecError as exc:
        raise ctx.error(path, str(exc)) from None


def _emit(ctx: _Context, path: Path_, urls: list[str]) -> list[str]:
    """Check sink URLs without opening anything (a jsonl file is opened when the job runs)."""
    from .sinks import parse_sink

    for i, url in enumerate(urls):
        try:
            if url.startswith("jsonl:"):
                if not url[len("jsonl:") :].strip():
                    raise SpecError(f"invalid sink {url!r}: expected jsonl:PATH")
            else:
                parse_sink(url)
        except SpecError as exc:
            raise ctx.error((*path, i), str(exc)) from None
    return urls


def _misfire(ctx: _Context, path: Path_, value: str) -> Misfire:
    from .triggers.misfire import MISFIRE_FORMS, parse_misfire

    try:
        return parse_misfire(value)
    except SpecError:
        raise ctx.error(path, f"invalid misfire {value!r}: expected once, {MISFIRE_FORMS}") from None


def _payload_from_text(ctx: _Context, path: Path_, run: str | list[str], exec_: bool) -> PayloadSpec:
    from .runners import parse_payload

    tokens = [run] if isinstance(run, str) else list(run)
    try:
        return parse_payload(tokens, exec_argv=exec_)
    except SpecError as exc:
        raise ctx.error(path, str(exc)) from None


def _step_payload(ctx: _Context, path: Path_, step: DocStep, base: Path) -> PayloadSpec:
    given = [k for k, v in (("run", step.run), ("payload", step.payload)) if v is not None]
    if step.uses is None:
        if len(given) != 1:
            raise ctx.error(path, "a step needs exactly one of run (payload text) or payload (a record)")
        if step.payload is not None:
            return _resolve_paths(step.payload, base)
        return _payload_from_text(ctx, (*path, "run"), step.run, False)  # type: ignore[arg-type]
    if step.run is None:
        raise ctx.error(path, f"a step that uses {step.uses} needs run")
    return _uses(ctx, path, step.uses, step.run, step.args, step.kwargs, base)


def _uses(
    ctx: _Context, path: Path_, uses: str, run: str, args: list[Any], kwargs: dict[str, Any], base: Path
) -> PayloadSpec:
    if uses == "python-entrypoint":
        return PythonEntrypoint(target=_resolve_target(run, base), args=args, kwargs=kwargs)
    if uses == "python-file":
        file, _, fn = run.rpartition(":") if ".py:" in run else (run, "", "")
        file_path = _resolve_file(file, base)
        if all(isinstance(a, str) for a in args):
            return PythonFile(path=file_path, args=[str(a) for a in args], entrypoint=fn or None, kwargs=kwargs)
        return PythonEntrypoint(target=f"{file_path}:{fn or 'run'}", args=args, kwargs=kwargs)
    if uses == "cmd":
        return _payload_from_text(ctx, (*path, "run"), f"cmd:{run}", False)
    if uses == "python":
        return _payload_from_text(ctx, (*path, "run"), f"python:{run}", False)
    raise ctx.error(
        (*path, "uses"), f"unknown step kind {uses!r}: expected python-entrypoint, python-file, cmd or python"
    )


def _resolve_file(file: str, base: Path) -> str:
    """Relative to the timetable's directory; else to the working directory, where the original resolved them."""
    p = Path(file).expanduser()
    if p.is_absolute():
        return str(p)
    if not (base / p).exists() and p.exists():
        return str(p.resolve())
    return str((base / p).resolve())


def _resolve_target(target: str, base: Path) -> str:
    where, sep, attr = target.rpartition(":")
    if sep and (where.endswith(".py") or "/" in where):
        return f"{_resolve_file(where, base)}:{attr}"
    return target


def _resolve_paths(payload: PayloadSpec, base: Path) -> PayloadSpec:
    """Relative file paths in payload records are relative to the timetable's directory."""
    if isinstance(payload, PythonEntrypoint):
        return msgspec.structs.replace(payload, target=_resolve_target(payload.target, base))
    if hasattr(payload, "path") and isinstance(payload.path, str) and "://" not in payload.path:
        return msgspec.structs.replace(payload, path=_resolve_file(payload.path, base))  # type: ignore[arg-type]
    return payload


def _base_dir(resource: str) -> Path:
    return Path.cwd() if is_url(resource) else Path(resource).parent


def _env(ctx: _Context, path: Path_, env: dict[str, Scalar]) -> dict[str, str]:
    out = {}
    for k, v in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise ctx.error((*path, k), f"invalid environment variable name {k!r}: expected letters, digits and _")
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def _from_document(
    doc: Document, ctx: _Context, resource: str, origin: Origin, ns_override: str | None, when_override: str | None
) -> Timetable:
    from .engine import parse_overrun

    namespace = _namespace(doc.meta, resource, origin, ns_override, ctx)
    base = _base_dir(resource)
    jobs: list[JobSpec] = []
    seen: dict[str, int] = {}
    names: dict[str, int] = {}
    for i, j in enumerate(doc.jobs):
        path: Path_ = ("jobs", i)
        job_id = j.id or j.name
        if job_id in seen:
            raise ctx.error(
                (*path, "name"), f"duplicate job {job_id!r} (also jobs[{seen[job_id]}]): expected unique names"
            )
        if j.name in names:
            raise ctx.error(
                (*path, "name"), f"duplicate job {j.name!r} (also jobs[{names[j.name]}]): expected unique names"
            )
        seen[job_id] = names[j.name] = i
        if j.when is not None and j.cron is not None:
            raise ctx.error((*path, "cron"), "give either when or cron")
        when_text = when_override or j.when or j.cron or "once"
        trigger = _when(ctx, (*path, "cron" if j.cron and not j.when else "when"), when_text, j.tz)
        kinds = [k for k, v in (("run", j.run), ("payload", j.payload), ("steps", j.steps)) if v is not None]
        if len(kinds) != 1:
            raise ctx.error(
                path,
                f"job {j.name!r} has {' and '.join(kinds) or 'no payload'}: expected exactly one of run "
                "(payload text such as cmd:date), payload (a record) or steps",
            )
        payload: PayloadSpec | Steps
        if j.run is not None:
            payload = _payload_from_text(ctx, (*path, "run"), j.run, j.exec)
        elif j.payload is not None:
            payload = _resolve_paths(j.payload, base)
        else:
            assert j.steps is not None
            payload = Steps(
                steps=[
                    Step(
                        name=s.name,
                        payload=_step_payload(ctx, (*path, "steps", k), s, base),
                        enabled=s.if_,
                    )
                    for k, s in enumerate(j.steps)
                ]
            )
        try:
            overrun = parse_overrun(j.overrun)
        except SpecError as exc:
            raise ctx.error((*path, "overrun"), str(exc).replace("--overrun", "overrun")) from None
        if j.count is not None and j.count < 1:
            raise ctx.error((*path, "count"), f"invalid count {j.count}: expected a whole number >= 1")
        from .model import Every

        if j.mode == "relaxed" and not isinstance(trigger, Every):
            raise ctx.error((*path, "mode"), "relaxed mode needs an interval schedule (e.g. when: 20ms)")
        policy = Policy(
            mode=j.mode,
            overrun=overrun,
            count=j.count,
            duration=_seconds(ctx, (*path, "for"), j.for_),
            spin=_seconds(ctx, (*path, "spin"), j.spin, allow_zero=True),
            misfire=_misfire(ctx, (*path, "misfire"), j.misfire),
        )
        runtime = Runtime(
            isolation=j.isolation,
            env=_env(ctx, (*path, "env"), j.env),
            cwd=j.cwd,
            timeout=_seconds(ctx, (*path, "timeout"), j.timeout),
            actors=j.actors,
            passthrough=j.passthrough,
        )
        meta = Metadata(
            name=j.name,
            id=job_id,
            description=j.description,
            enabled=j.enabled,
            authors=j.authors or doc.meta.authors,
            created=j.created,
            updated=j.updated,
            origin=origin,
        )
        spec = JobSpec(
            when=when_text,
            trigger=trigger,
            payload=payload,
            meta=meta,
            policy=policy,
            runtime=runtime,
            namespace=namespace.id,
            history=j.history,
            emit=_emit(ctx, (*path, "emit"), j.emit),
            emit_events=j.emit_events,
        )
        _check_runner(ctx, path, spec)
        jobs.append(spec)
    return Timetable(namespace=namespace, jobs=jobs, source=resource, format="timetable")


def _check_runner(ctx: _Context, path: Path_, spec: JobSpec) -> None:
    """Catch payloads that cannot run (bad code, missing files) at load time, without importing user modules."""
    from .errors import PayloadError
    from .model import PythonCode

    payloads = spec.payload.steps if isinstance(spec.payload, Steps) else [Step(payload=spec.payload)]
    for k, step in enumerate(payloads):
        where = (*path, "steps", k) if isinstance(spec.payload, Steps) else path
        p = step.payload
        try:
            if isinstance(p, PythonCode):
                from .runners import PythonCodeRunner

                PythonCodeRunner(p.code)
            elif isinstance(p, PythonFile) and step.enabled and not Path(p.path).is_file():
                raise PayloadError(f"python file {p.path!r} not found: expected the path of a .py file")
        except PayloadError as exc:
            raise ctx.error(where, str(exc)) from None
        if isinstance(p, PythonCode) and (spec.runtime.env or spec.runtime.cwd):
            raise ctx.error(
                where,
                "env and cwd cannot apply to python: code (it runs in the scheduler's own process): "
                "expected a command, a python file or an entrypoint",
            )


_DOW_NAMES = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]


def legacy_cron(expr: str) -> str:
    """Translate the original Supertask's cron (APScheduler: 5 fields, or 6-7 with seconds first and year last;
    day-of-week numbers 0-6 are Monday..Sunday) into Supertask's cron (Sunday is 0)."""
    fields = expr.split()
    if len(fields) not in (5, 6, 7):
        raise SpecError(
            f"invalid cron {expr!r}: expected 5 fields (minute hour day month weekday), "
            "6 with seconds first, or 7 with seconds first and year last"
        )
    dow_index = 4 if len(fields) == 5 else 5
    fields[dow_index] = _legacy_dow(fields[dow_index], expr)
    return " ".join(fields)


def _legacy_dow(field: str, expr: str) -> str:
    if field in ("*", "?"):
        return field
    names = {n.lower(): i for i, n in enumerate(_DOW_NAMES)}

    def value(tok: str) -> int:
        t = tok.strip().lower()
        if t.isdigit() and int(t) <= 6:
            return int(t)
        if t in names:
            return names[t]
        raise SpecError(f"invalid day of week {tok!r} in cron {expr!r}: expected 0-6 (Monday is 0) or mon..sun")

    days: set[int] = set()
    for part in field.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise SpecError(f"invalid step {part!r} in cron {expr!r}: expected a whole number > 0")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = value(a), value(b)
        else:
            lo = value(rng)
            hi = 6 if step else lo
        span = range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)]
        days.update(list(span)[:: step or 1])
    return ",".join(_DOW_NAMES[d] for d in sorted(days))


def _from_legacy(
    doc: LegacyDocument,
    ctx: _Context,
    resource: str,
    origin: Origin,
    ns_override: str | None,
    when_override: str | None,
) -> Timetable:
    namespace = _namespace(doc.meta, resource, origin, ns_override, ctx)
    base = _base_dir(resource)
    jobs: list[JobSpec] = []
    seen: dict[str, int] = {}
    taken: set[str] = set()
    for i, t in enumerate(doc.tasks):
        path: Path_ = ("tasks", i)
        task_id = str(t.meta.id)
        if task_id in seen:
            raise ctx.error((*path, "meta", "id"), f"duplicate task id {task_id!r} (also tasks[{seen[task_id]}])")
        seen[task_id] = i
        # job names must be unique in a namespace; the original keyed tasks by id only
        name = t.meta.name if t.meta.name not in taken else f"{t.meta.name} ({task_id})"
        taken.add(name)
        steps = Steps(
            steps=[
                Step(
                    name=s.name,
                    payload=_uses(ctx, (*path, "steps", k), s.uses, s.run, list(s.args), s.kwargs, base),
                    enabled=s.if_,
                )
                for k, s in enumerate(t.steps)
            ]
        )
        schedules = [(k, sch.cron) for k, sch in enumerate(t.on.schedule)] or [(0, "")]
        if not t.on.schedule:
            raise ctx.error((*path, "on", "schedule"), "no schedule: expected at least one - cron: EXPR")
        for k, cron_text in schedules:
            spath = (*path, "on", "schedule", k, "cron")
            if when_override:
                when_text = when_override
                trigger = _when(ctx, spath, when_text, None)
            else:
                try:
                    expr = legacy_cron(cron_text)
                except SpecError as exc:
                    raise ctx.error(spath, str(exc)) from None
                when_text = cron_text
                trigger = _when(ctx, spath, expr, None)
                if not isinstance(trigger, Cron):
                    raise ctx.error(spath, f"invalid cron {cron_text!r}: expected 5, 6 or 7 cron fields")
            jid = task_id if k == 0 else f"{task_id}#{k + 1}"
            meta = Metadata(
                name=name if k == 0 else f"{name}#{k + 1}",
                id=jid,
                description=t.meta.description,
                enabled=t.meta.enabled,
                authors=doc.meta.authors,
                origin=origin,
            )
            jobs.append(
                JobSpec(
                    when=when_text,
                    trigger=trigger,
                    payload=steps,
                    meta=meta,
                    namespace=namespace.id,
                    # the original ran up to 10 instances of a task at once
                    policy=Policy(overrun=_overrun("concurrent:10")),
                )
            )
    return Timetable(namespace=namespace, jobs=jobs, source=resource, format="legacy-timetable")


def _overrun(text: str) -> Any:
    from .engine import parse_overrun

    return parse_overrun(text)


# ---------------------------------------------------------------- Python task files

#: PEP 723 blocks; lazy, so two blocks need no separator line between them
_PEP723 = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+?)^# ///$")


def script_blocks(text: str) -> Iterator[tuple[str, str, int]]:
    """Yield ``(type, toml text, first line)`` for each PEP 723 block of a Python file."""
    for m in _PEP723.finditer(text + ("\n" if not text.endswith("\n") else "")):
        content = "".join(
            line[2:] if line.startswith("# ") else line[1:] for line in m.group("content").splitlines(keepends=True)
        )
        yield m.group("type"), content, text.count("\n", 0, m.start()) + 1


def _task_file(
    text: str, resource: str, display: str, origin: Origin, ns_override: str | None, when_override: str | None
) -> Timetable:
    blocks: dict[str, tuple[dict[str, Any], int]] = {}
    for kind, content, line in script_blocks(text):
        if kind in blocks:
            raise TimetableError(f"{display}:{line}: a second '# /// {kind}' block: expected at most one")
        try:
            blocks[kind] = (tomllib.loads(content), line)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"at line (\d+)", str(exc))
            at = line + int(m.group(1)) if m else line
            raise TimetableError(f"{display}:{at}: invalid TOML in the '# /// {kind}' block: {exc}") from None
    data, line = blocks.get("task", ({}, 1))

    def locate(path: Path_) -> int:
        if path:
            for k, raw in enumerate(text.splitlines()[line - 1 :], start=line):
                if re.match(rf"^#\s*\[?{re.escape(str(path[0]))}\]?\s*(=|$)", raw):
                    return k
        return line

    ctx = _Context(display, locate)
    block: TaskBlock = ctx.convert(_when_as_text(data), TaskBlock)
    if "task" not in blocks and when_override is None:
        raise TimetableError(
            f"{display}:1: no '# /// task' block and no --when: expected a block such as "
            "'# /// task' / '# cron = \"*/5 * * * *\"' / '# ///', or --when"
        )
    if block.cron and block.when:
        raise ctx.error(("when",), "give either when or cron")
    when_text = when_override or block.when or block.cron
    if not when_text:
        raise ctx.error((), 'the task block has no schedule: expected cron = "..." or when = "..."')
    trigger = (
        _when(ctx, ("when",), when_text, block.tz)
        if when_override or block.when
        else _when(ctx, ("cron",), _legacy_or_error(ctx, when_text), block.tz)
    )
    try:
        tree = ast.parse(text, display)
    except SyntaxError as exc:
        raise TimetableError(f"{display}:{exc.lineno}: invalid Python: {exc.msg}") from None
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    entrypoint = block.entrypoint or ("run" if "run" in functions else None)
    if block.entrypoint and block.entrypoint not in functions:
        raise ctx.error(("entrypoint",), f"{display} defines no function {block.entrypoint!r}")
    if block.options and entrypoint is None:
        raise ctx.error(("options",), "options are passed to the task's run() function, but the file defines none")
    stem = Path(urllib.parse.urlparse(resource).path).stem
    if is_url(resource):
        raise TimetableError(f"{display}: a task file must be local (it is imported): expected a path")
    meta = DocMeta(namespace=block.namespace, name=block.name)
    namespace = _namespace(meta, resource, origin, ns_override, ctx)
    payload = PythonFile(path=resource, entrypoint=entrypoint, kwargs=block.options)
    script = blocks.get("script", ({}, 1))[0]
    spec = JobSpec(
        when=when_text,
        trigger=trigger,
        payload=payload,
        meta=Metadata(name=block.name or stem, id=block.name or stem, description=block.description, origin=origin),
        runtime=Runtime(
            env=_env(ctx, ("env",), block.env),
            cwd=block.cwd,
            timeout=_seconds(ctx, ("timeout",), block.timeout),
        ),
        namespace=namespace.id,
        history=block.history,
        policy=Policy(misfire=_misfire(ctx, ("misfire",), block.misfire)),
    )
    if script.get("dependencies"):
        log.debug("task file %s declares dependencies %s", display, script["dependencies"])
    return Timetable(namespace=namespace, jobs=[spec], source=resource, format="task-file")


def _legacy_or_error(ctx: _Context, text: str) -> str:
    try:
        return legacy_cron(text)
    except SpecError as exc:
        raise ctx.error(("cron",), str(exc)) from None
