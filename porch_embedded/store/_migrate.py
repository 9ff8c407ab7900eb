"""Move a stopped deployment's store from SQLite to PostgreSQL: objects, watch history, counter.

The copy is one PostgreSQL transaction into an empty target, so the target ends up with
everything or with nothing; the source is opened read-only (``mode=ro``) under the same
file lock a running server holds, so a server still using it is refused and the file is
never written. What moves:

- every object row, with its resourceVersion;
- the retained watch-event log and its floor, so that clients watching from a
  resourceVersion of the old server resume on the new one instead of relisting;
- the counter: the target's next write takes the next value after the source's newest.

Sealed fields are decrypted with the key and sealed again per ``sealed_fields`` (the
server's configuration), which proves every token readable before anything is committed.
Leases are not copied: they belong to running processes, and the source has none.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import trio

from porch_embedded.errors import BadRequest, Conflict, NotFound, StatusError, StoreUnavailable

if TYPE_CHECKING:  # the backends load when a migration runs, not when the store layer loads
    import psycopg

    from porch_embedded.store._postgres import _Target
    from porch_embedded.store._sealing import Sealer

__all__ = ["MigrationReport", "migrate_store"]

BATCH = 1000

_OBJECTS = "SELECT resource, namespace, name, rv, body, sealed FROM objects ORDER BY resource, namespace, name"
_EVENTS = "SELECT rv, resource, namespace, name, type, body, sealed FROM events ORDER BY rv"


@dataclass(frozen=True)
class MigrationReport:
    """What was copied: counts, and the counter and event floor the target now has."""

    target: str
    """Where the copy went: host:port/database, never credentials."""
    objects: int
    events: int
    resource_version: int
    events_floor: int


async def migrate_store(
    source_url: str,
    target_url: str,
    *,
    encryption_key: bytes,
    sealed_fields: Mapping[str, Sequence[str]] | None = None,
    password: str | None = None,
) -> MigrationReport:
    """Copy the SQLite store at ``source_url`` into the empty PostgreSQL store at ``target_url``.

    ``encryption_key`` is the deployment's store key (``DATA/store.key``); the target is
    sealed with the same key, so the servers keep using that file. ``password`` is the
    PostgreSQL password, given to libpq apart from the URL and never in a message.

    Raises BadRequest for URLs of the wrong kind or a bad key; NotFound if there is no
    store at the source; StoreUnavailable if the source is in use by a running server,
    has a newer or older schema or another key, or the target cannot be reached or has
    a newer schema; Conflict if the target is not empty. In every failure the target is
    left as it was, and the source is never written.
    """
    if not source_url.startswith("sqlite:///"):
        raise BadRequest("the source of a store migration must be an SQLite store: sqlite:///ABSOLUTE/PATH")
    if not target_url.startswith(("postgresql://", "postgres://")):
        raise BadRequest(
            "the target of a store migration must be a PostgreSQL store: postgresql://USER@HOST:PORT/DATABASE")
    from porch_embedded.store._sealing import Sealer

    sealer = Sealer(encryption_key, dict(sealed_fields or {}))
    source = Path("/" + source_url.removeprefix("sqlite://").lstrip("/"))  # sqlite:////abs too
    return await trio.to_thread.run_sync(_migrate_blocking, source, target_url, password, sealer)


def _migrate_blocking(source: Path, target_url: str, password: str | None, sealer: Sealer) -> MigrationReport:
    from porch_embedded.store._postgres import _Target
    from porch_embedded.store._sqlite import _lock_file_blocking

    target = _Target(target_url, password)
    if not source.is_file():
        raise NotFound(f"there is no SQLite store at {source}: give the path of the deployment's store.db")
    try:
        lock_fd = _lock_file_blocking(source)
    except StoreUnavailable as exc:
        raise StoreUnavailable(
            f"the store file {source} is in use by a running porch-embedded: stop it before migrating "
            "(the copy must not miss writes that happen during it)") from exc
    try:
        with _read_only(source) as reader:
            return _copy_blocking(reader, source, target_url, password, target, sealer)
    finally:
        os.close(lock_fd)


class _read_only:
    """A read-only connection to the SQLite file, inside one read transaction (one snapshot)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        # After a clean stop everything is in the main file: open it immutable, which
        # creates no -wal or -shm beside it. After a crash the WAL holds commits that
        # must be read, which a plain read-only connection does (SQLite may then add a
        # -shm file; the database and its WAL are still only read). We hold the file's
        # lock, so no server writes meanwhile either way.
        wal = Path(f"{self._path}-wal")
        mode = "mode=ro" if wal.exists() and wal.stat().st_size else "mode=ro&immutable=1"
        try:
            self._conn = sqlite3.connect(
                f"file:{quote(str(self._path))}?{mode}", uri=True, isolation_level=None)
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # start the snapshot
        except sqlite3.Error as exc:
            self.__exit__()
            raise StoreUnavailable(f"cannot read the store file {self._path}: {exc}") from exc
        return self._conn

    def __exit__(self, *_: object) -> None:
        if self._conn is not None:
            self._conn.close()


def _copy_blocking(
    reader: sqlite3.Connection, source: Path, target_url: str, password: str | None,
    target: _Target, sealer: Sealer,
) -> MigrationReport:
    import psycopg

    from porch_embedded.store._postgres import _connection_kwargs
    from porch_embedded.store._postgres_schema import MIGRATE_LOCK, WRITE_LOCK, migrate_blocking

    meta = _source_meta(reader, source, sealer)
    counter, floor = int(meta["resource_version"]), int(meta["events_floor"])
    try:
        conn = psycopg.Connection.connect(
            target_url, **_connection_kwargs(target_url, password, "porch-embedded-store-migrate"))
    except psycopg.Error as exc:
        raise _unavailable(target, "connect", exc) from None
    with conn:
        try:
            with conn.transaction():
                # The whole copy is one transaction; a large log may take longer than a
                # serving statement, so lift the timeouts for it alone.
                conn.execute("SET LOCAL statement_timeout = 0")
                conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                _refuse_non_empty(conn, target.where)
                migrate_blocking(conn, sealer, target.where)
                objects = _copy_rows(conn, _sealed_rows(reader.execute(_OBJECTS), sealer, 0, 4),
                                     "COPY porch_objects (resource, namespace, name, rv, body, sealed)")
                events = _copy_rows(conn, _sealed_rows(reader.execute(_EVENTS), sealer, 1, 5),
                                    "COPY porch_events (rv, resource, namespace, name, type, body, sealed)")
                _copy_rows(conn, _key_rows(reader), "COPY porch_object_keys (resource, namespace, key, name)")
                conn.execute("UPDATE porch_meta SET value = %s WHERE key = 'resource_version'", (str(counter),))
                conn.execute("UPDATE porch_meta SET value = %s WHERE key = 'events_floor'", (str(floor),))
                if counter > 0:
                    conn.execute("SELECT setval('porch_rv', %s)", (counter,))
                _check_copy(conn, objects, events, counter)
        except StatusError:
            raise
        except psycopg.Error as exc:
            raise _unavailable(target, "take the copy", exc) from None
    return MigrationReport(target.where, objects, events, counter, floor)


def _source_meta(reader: sqlite3.Connection, source: Path, sealer: Sealer) -> dict[str, str]:
    from porch_embedded.store import _sqlite_schema

    try:
        tables = {row[0] for row in reader.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", "objects", "events"} <= tables:
            raise StoreUnavailable(f"{source} is not a porch-embedded store (tables {sorted(tables)})")
        meta: dict[str, str] = dict(reader.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot read the store file {source}: {exc}") from exc
    version = int(meta.get("schema_version", "1"))
    if version != _sqlite_schema.SCHEMA_VERSION:
        raise StoreUnavailable(
            f"{source} has store schema version {version} and this porch-embedded migrates version "
            f"{_sqlite_schema.SCHEMA_VERSION}: migrate it with the porch-embedded that last served it"
            if version > _sqlite_schema.SCHEMA_VERSION else
            f"{source} has the old store schema version {version}: start this porch-embedded on it "
            "once (it upgrades the file), stop it, then migrate")
    if "key_check" in meta:
        sealer.verify_key_check(meta["key_check"], str(source))
    return meta


def _refuse_non_empty(conn: psycopg.Connection, where: str) -> None:
    """Conflict unless the target has no store yet, or an empty one (nothing is written before)."""
    from porch_embedded.store._postgres_schema import refuse_newer, schema_version_blocking

    version = schema_version_blocking(conn)
    refuse_newer(version, where)
    if version == 0:
        return
    objects = conn.execute("SELECT count(*) FROM porch_objects").fetchone()[0]
    events = conn.execute("SELECT count(*) FROM porch_events").fetchone()[0]
    counter = conn.execute("SELECT value FROM porch_meta WHERE key = 'resource_version'").fetchone()[0]
    if objects or events or counter != "0":
        raise Conflict(
            f"the PostgreSQL store at {where} is not empty ({objects} objects, {events} watch events, "
            f"resourceVersion {counter}): migrate into a new database (or schema) that no server has "
            "written to; nothing was changed")


def _sealed_rows(
    rows: sqlite3.Cursor, sealer: Sealer, resource_at: int, body_at: int
) -> Iterator[tuple[Any, ...]]:
    """Rows with their body sealed per the target's configuration (decrypting old tokens).

    Rows with nothing to seal keep their JSON text byte for byte.
    """
    for row in rows:
        resource, body, sealed = row[resource_at], row[body_at], row[body_at + 1]
        full = sealer.unseal(json.loads(body), sealed)
        public, token = sealer.seal(resource, full)
        if token is not None or sealed is not None:
            body = json.dumps(public, separators=(",", ":"))
        yield (*row[:body_at], body, token)


def _key_rows(reader: sqlite3.Connection) -> Iterator[tuple[str, str, str, str]]:
    """The index-key rows of the copied objects, derived from them as a schema migration does."""
    from porch_embedded.store._index_keys import INDEXED_RESOURCES, key_rows_of_stored

    marks = ", ".join("?" for _ in INDEXED_RESOURCES)
    stored = reader.execute(f"SELECT resource, namespace, name, body FROM objects WHERE resource IN ({marks})",
                            tuple(sorted(INDEXED_RESOURCES)))
    return key_rows_of_stored(stored)


def _copy_rows(conn: psycopg.Connection, rows: Iterator[tuple[Any, ...]], statement: str) -> int:
    count = 0
    with conn.cursor() as cursor, cursor.copy(f"{statement} FROM STDIN") as copy:  # type: ignore[arg-type]
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _check_copy(conn: psycopg.Connection, objects: int, events: int, counter: int) -> None:
    """Read back what the transaction holds before committing it."""
    got_objects = conn.execute("SELECT count(*) FROM porch_objects").fetchone()[0]
    got_events, newest = conn.execute("SELECT count(*), coalesce(max(rv), 0) FROM porch_events").fetchone()
    if (got_objects, got_events) != (objects, events) or newest > counter:
        raise StoreUnavailable(
            f"the copy does not add up ({got_objects}/{objects} objects, {got_events}/{events} events, "
            f"newest event {newest} above the counter {counter}); nothing was committed")


def _unavailable(target: _Target, what: str, exc: psycopg.Error) -> StoreUnavailable:
    text = str(exc).strip()
    detail = target.scrub(text.splitlines()[0] if text else "")
    return StoreUnavailable(
        f"the PostgreSQL store at {target.where} failed to {what}: {type(exc).__name__}: {detail}")
