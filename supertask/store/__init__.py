"""Stores: where namespaces, jobs and run history persist (SQLite by default, ``memory://``, PostgreSQL).

Addresses::

    (none)                                   $SUPERTASK_STORE, else SQLite in the user's data directory
    memory://                                nothing is kept beyond the process
    sqlite:///abs/path.db, sqlite:rel.db     SQLite at that file (also a bare path ending .db/.sqlite)
    postgresql://user@host/db?schema=s&prefix=p_   PostgreSQL (also postgres://)

Every form takes ``retention=N`` (runs kept per job, default 10000) and ``prefix=``
(table name prefix) as query parameters; PostgreSQL also ``schema=`` (default ``supertask``).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from ..errors import StoreError
from .base import JobRow as JobRow
from .base import NamespaceRow as NamespaceRow
from .base import Store as Store

__all__ = ["STORE_FORMS", "JobRow", "NamespaceRow", "Store", "default_store_path", "open_store", "store_from_url"]

STORE_FORMS = "memory://, sqlite:///path/to/file.db, a path ending .db, or postgresql://user@host/db[?schema=NAME]"

ENV_VAR = "SUPERTASK_STORE"


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/supertask/supertask.db`` (``~/.local/share/supertask/supertask.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "supertask" / "supertask.db"


def store_from_url(url: str | None) -> Store:
    """Build (not open) the store an address names; None means ``$SUPERTASK_STORE`` or the default SQLite file.

    Raises:
        StoreError: the address is not one of the accepted forms.
    """
    text = (url if url is not None else os.environ.get(ENV_VAR) or "").strip()
    if not text:
        from .sqlite import SQLiteStore

        return SQLiteStore(str(default_store_path()))
    base, _, query = text.partition("?")
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    known = {"retention", "prefix", "schema"}
    unknown = set(params) - known
    if unknown:
        raise StoreError(f"invalid store {text!r}: unknown parameter {sorted(unknown)[0]!r}; expected {sorted(known)}")
    try:
        retention = int(params.get("retention", "10000"))
    except ValueError:
        raise StoreError(f"invalid store retention {params['retention']!r}: expected a whole number >= 1") from None
    prefix = params.get("prefix", "")
    if text.startswith("memory:"):
        from .sqlite import SQLiteStore

        return SQLiteStore(":memory:", prefix=prefix, retention=retention)
    if text.startswith(("postgresql://", "postgres://")):
        from .postgresql import PostgreSQLStore

        return PostgreSQLStore(base, schema=params.get("schema", "supertask"), prefix=prefix, retention=retention)
    if "schema" in params:
        raise StoreError(f"invalid store {text!r}: schema= applies to postgresql:// only")
    path: str | None = None
    if text.startswith("sqlite:"):
        path = base[len("sqlite:") :]
        path = path[2:] if path.startswith("//") else path
    elif "://" not in text and base.endswith((".db", ".sqlite", ".sqlite3")):
        path = base
    if not path:
        raise StoreError(f"invalid store {text!r}: expected {STORE_FORMS}")
    from .sqlite import SQLiteStore

    return SQLiteStore(str(Path(path).expanduser()), prefix=prefix, retention=retention)


def open_store(url: str | None) -> Store:
    """Build and open a store (see :func:`store_from_url`)."""
    store = store_from_url(url)
    store.open()
    return store
