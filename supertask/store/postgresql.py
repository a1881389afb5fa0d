"""PostgreSQL store for shared or multi-host use, through psycopg 3; schema and table prefix configurable."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..errors import StoreError
from .sql import SQLStore, check_identifier

__all__ = ["PostgreSQLStore"]


class PostgreSQLStore(SQLStore):
    """Tables live in *schema* (created if missing), named with *prefix*.

    Args:
        conninfo: a libpq URL, e.g. ``postgresql://postgres@localhost/test``.
        schema: the schema holding the tables (default ``supertask``).
        prefix: prepended to every table name.
        retention: runs kept per job.
    """

    T_SEQ = "BIGSERIAL PRIMARY KEY"
    T_TIME = "TIMESTAMPTZ"
    T_FLOAT = "DOUBLE PRECISION"
    T_BOOL = "BOOLEAN"
    placeholder = "%s"

    def __init__(self, conninfo: str, *, schema: str = "supertask", prefix: str = "", retention: int = 10_000) -> None:
        super().__init__(prefix=prefix, retention=retention)
        self.conninfo = conninfo
        self.schema = check_identifier(schema, "schema")
        self.url = _redact(conninfo)

    def table(self, name: str) -> str:
        return f'"{self.schema}"."{self.prefix}{name}"'

    def ddl(self) -> list[str]:
        stmts = [f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"']
        for stmt in super().ddl():
            if stmt.startswith("CREATE INDEX"):
                # index names are schema-local and unqualified in PostgreSQL
                stmt = stmt.replace(f"EXISTS {self.prefix}", f'EXISTS "{self.prefix}', 1).replace(" ON ", '" ON ', 1)
            stmts.append(stmt)
        return stmts

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.conninfo, connect_timeout=10)
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to store {self.url}: {detail}") from None

    def _bool(self, v: bool) -> Any:
        return bool(v)

    def _time(self, value: _dt.datetime | None) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value

    def _read_time(self, value: Any) -> _dt.datetime | None:
        if value is None:
            return None
        return value.astimezone(_dt.UTC)  # type: ignore[no-any-return]


def _redact(url: str) -> str:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url
