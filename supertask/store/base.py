"""What every store is: namespaces, jobs, run history (with retention) and last-fired instants.

Methods are blocking; the store sink calls the writing ones from its own thread,
never from the scheduler's timing loop. One store object is used by one thread
at a time (the sink's writer, or a command that reads).
"""

from __future__ import annotations

import abc
import datetime as _dt
from collections.abc import Sequence
from typing import Any

import msgspec

from ..model import JobSpec, Namespace, Run, RunAggregate

__all__ = ["JobRow", "NamespaceRow", "Store"]


class NamespaceRow(msgspec.Struct, frozen=True, kw_only=True):
    """A namespace as listed by ``supertask list-namespaces``."""

    id: str
    name: str | None = None
    description: str | None = None
    source: str | None = None
    host: str | None = None
    user: str | None = None
    created: _dt.datetime | None = None
    updated: _dt.datetime | None = None
    jobs: int = 0
    runs: int = 0
    last_fired: _dt.datetime | None = None


class JobRow(msgspec.Struct, frozen=True, kw_only=True):
    """A job as listed by ``supertask list-jobs``."""

    namespace: str
    id: str
    name: str
    when: str
    payload: str
    enabled: bool = True
    description: str | None = None
    version: str | None = None
    source: str | None = None
    created: _dt.datetime | None = None
    updated: _dt.datetime | None = None
    last_fired: _dt.datetime | None = None
    spec: dict[str, Any] | None = None


class Store(abc.ABC):
    """A place that keeps namespaces, jobs and run history.

    Attributes:
        url: the address it was opened from (without credentials).
        retention: runs (and aggregate rows) kept per job; older ones are pruned.
    """

    url: str = ""
    retention: int = 10_000

    @abc.abstractmethod
    def open(self) -> None:
        """Connect and create the tables if needed.

        Raises:
            StoreError: the store cannot be reached or created.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    @abc.abstractmethod
    def save_namespace(self, namespace: Namespace, jobs: Sequence[JobSpec], *, replace: bool = True) -> None:
        """Record a namespace and its jobs; with *replace*, jobs of the namespace not in *jobs* are deleted."""

    @abc.abstractmethod
    def add_runs(self, runs: Sequence[Run], aggregates: Sequence[RunAggregate] = ()) -> None:
        """Append finished runs and aggregates in one transaction and advance the jobs' last-fired instants."""

    @abc.abstractmethod
    def prune(self) -> int:
        """Delete runs beyond the retention limit of each job; return how many rows went."""

    @abc.abstractmethod
    def namespaces(self) -> list[NamespaceRow]:
        """All namespaces, most recently updated first."""

    @abc.abstractmethod
    def jobs(self, namespace: str | None = None) -> list[JobRow]:
        """The jobs of a namespace (all namespaces when None)."""

    @abc.abstractmethod
    def history(self, namespace: str | None = None, job: str | None = None, last: int = 20) -> list[Run | RunAggregate]:
        """The last *last* runs and aggregates, oldest first."""

    @abc.abstractmethod
    def last_fired(self, namespace: str | None) -> dict[str, _dt.datetime]:
        """Job name -> the scheduled instant of its latest recorded run."""

    def __enter__(self) -> Store:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
