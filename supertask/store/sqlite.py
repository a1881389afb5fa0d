"""The embedded store: SQLite (stdlib) in WAL mode, by default in the user's data directory; ``memory://`` too."""

from __future__ import annotations

import datetime as _dt
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .sql import SQLStore

__all__ = ["SQLiteStore"]


class SQLiteStore(SQLStore):
    """SQLite at *path* (``":memory:"`` keeps nothing beyond the process).

    WAL journal with ``synchronous=NORMAL``: a committed batch survives the process
    being killed (even SIGKILL); readers never block the writer.
    """

    def __init__(self, path: str, *, prefix: str = "", retention: int = 10_000) -> None:
        super().__init__(prefix=prefix, retention=retention)
        self.path = path
        self.url = "memory://" if path == ":memory:" else f"sqlite://{path}"

    def _connect(self) -> Any:
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of store {self.path!r}: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.url}: {exc}") from None

    def _time(self, value: _dt.datetime | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value.astimezone(_dt.UTC).isoformat(timespec="microseconds")

    def _read_time(self, value: Any) -> _dt.datetime | None:
        if value is None:
            return None
        return _dt.datetime.fromisoformat(value)
