"""The SQLite store's schema: creation, version checks and migrations (sqlite-utils).

Version 0 is an empty file; ``MIGRATIONS[n]`` takes a database from version n to n+1,
so a new database is built by the same steps that upgrade an old one. A database that a
newer porch-embedded wrote is refused before anything is written to it (not even the
journal mode), so that an accidental downgrade never damages it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from porch_embedded.errors import StoreUnavailable
from porch_embedded.store._index_keys import INDEXED_RESOURCES, key_rows_of_stored
from porch_embedded.store._sealing import Sealer

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "StoredState", "open_writer_blocking"]

BUSY_TIMEOUT_MS = 10_000


def _create_v1(db: sqlite_utils.Database) -> None:
    """Objects keyed by (resource, namespace, name), the event log, and a key/value meta."""
    db["meta"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]
    db["objects"].create(  # type: ignore[union-attr]
        {"resource": str, "namespace": str, "name": str, "rv": int, "body": str, "sealed": str},
        pk=("resource", "namespace", "name"),
        not_null=("resource", "namespace", "name", "rv", "body"),
    )
    db["events"].create(  # type: ignore[union-attr]
        {
            "rv": int,
            "resource": str,
            "namespace": str,
            "name": str,
            "type": str,
            "body": str,
            "sealed": str,
        },
        pk="rv",
        not_null=("resource", "namespace", "name", "type", "body"),
    )
    db["meta"].insert_all(  # type: ignore[union-attr]
        [{"key": "resource_version", "value": "0"}, {"key": "events_floor", "value": "0"}]
    )


def _add_index_keys_v2(db: sqlite_utils.Database) -> None:
    """Index-key rows (see store/_index_keys.py), filled from the objects already stored."""
    conn = db.conn
    conn.execute(
        "CREATE TABLE object_keys (resource TEXT NOT NULL, namespace TEXT NOT NULL, key TEXT NOT NULL, "
        "name TEXT NOT NULL, PRIMARY KEY (resource, namespace, key, name)) WITHOUT ROWID"
    )
    conn.execute("CREATE INDEX object_keys_by_object ON object_keys (resource, namespace, name)")
    marks = ", ".join("?" for _ in INDEXED_RESOURCES)
    stored = conn.execute(
        f"SELECT resource, namespace, name, body FROM objects WHERE resource IN ({marks})",
        tuple(sorted(INDEXED_RESOURCES)),
    )
    conn.executemany("INSERT INTO object_keys (resource, namespace, key, name) VALUES (?, ?, ?, ?)",
                     key_rows_of_stored(stored))


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_create_v1, _add_index_keys_v2]
SCHEMA_VERSION = len(MIGRATIONS)


class StoredState:
    """What the writer needs to know about the database it opened."""

    def __init__(self, writer: sqlite3.Connection, resource_version: int, events_floor: int) -> None:
        self.writer = writer
        self.resource_version = resource_version
        self.events_floor = events_floor


def connect_blocking(path: Path) -> sqlite3.Connection:
    """A connection usable from any one worker thread at a time, with explicit transactions."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        if tables:
            raise StoreUnavailable(
                f"{path} is an SQLite database of something else (tables {sorted(tables)}): "
                "point the store at a new file"
            )
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 1


def _refuse_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"{path} was written by a newer porch-embedded (store schema version {version}; "
            f"this one understands up to {SCHEMA_VERSION}): run that newer version, or start "
            "with another store file; the file was left untouched"
        )


def open_writer_blocking(path: Path, sealer: Sealer) -> StoredState:
    """Open (creating or migrating) the database at ``path`` and return its writer.

    WAL journal with ``synchronous=NORMAL``: a commit is in the WAL file before
    ``COMMIT`` returns, so it survives the process being killed (kill -9); only a power
    loss or kernel crash can drop the last commits before a checkpoint syncs them. The
    store is mostly a cache that a resync rebuilds from git, so we trade that rare case
    for not paying an fsync per write. Raises StoreUnavailable with what to do.
    """
    try:
        conn = connect_blocking(path)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open the store file {path}: {exc}") from exc
    try:
        try:
            _refuse_newer(_schema_version(conn, path), path)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreUnavailable(f"{path}: SQLite refused WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                state = _migrate(conn, path, sealer)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the store file {path}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return state


def _migrate(conn: sqlite3.Connection, path: Path, sealer: Sealer) -> StoredState:
    version = _schema_version(conn, path)  # again, now under the write lock
    _refuse_newer(version, path)
    if version < SCHEMA_VERSION:
        import sqlite_utils  # only to migrate: a store already at SCHEMA_VERSION opens without it

        db = sqlite_utils.Database(conn, execute_plugins=False)
        for step in MIGRATIONS[version:]:
            step(db)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    if "key_check" in meta:
        sealer.verify_key_check(meta["key_check"], str(path))
    else:
        conn.execute("INSERT INTO meta (key, value) VALUES ('key_check', ?)", (sealer.key_check(),))
    return StoredState(conn, int(meta["resource_version"]), int(meta["events_floor"]))
