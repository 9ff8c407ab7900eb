"""The PostgreSQL store's schema: creation, version checks and migrations.

As for SQLite, version 0 is an empty database and ``MIGRATIONS[n]`` takes version n to
n+1. Migration runs in one transaction under an advisory lock, so several processes
starting together migrate once. A database a newer porch-embedded wrote is refused
after read-only queries, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from porch_embedded.errors import StoreUnavailable
from porch_embedded.store._index_keys import INDEXED_RESOURCES, key_rows_of_stored
from porch_embedded.store._sealing import Sealer

__all__ = ["MIGRATIONS", "MIGRATE_LOCK", "SCHEMA_VERSION", "WRITE_LOCK", "migrate_blocking",
           "refuse_newer", "schema_version_blocking"]

# Advisory lock keys (any two bigints that no one else uses in this database). Store.lock
# uses the two-int4 key form, which PostgreSQL keeps apart from single-bigint keys.
WRITE_LOCK = 0x706F726368_01  # serialises writers so commit order is resourceVersion order
MIGRATE_LOCK = 0x706F726368_02

_V1 = """
CREATE TABLE porch_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE SEQUENCE porch_rv AS bigint;
CREATE TABLE porch_objects (
    resource text COLLATE "C" NOT NULL,
    namespace text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    rv bigint NOT NULL,
    body json NOT NULL,
    sealed text,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE porch_events (
    rv bigint PRIMARY KEY,
    resource text NOT NULL,
    namespace text NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    body json NOT NULL,
    sealed text
);
INSERT INTO porch_meta (key, value) VALUES ('resource_version', '0'), ('events_floor', '0');
"""

_V2 = """
CREATE TABLE porch_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    acquired_at timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    transitions bigint NOT NULL DEFAULT 0
);
"""



def _v3(conn: psycopg.Connection) -> None:
    """Index-key rows (see store/_index_keys.py), filled from the objects already stored."""
    conn.execute(
        "CREATE TABLE porch_object_keys (resource text COLLATE \"C\" NOT NULL, namespace text COLLATE \"C\" NOT NULL, "
        "key text COLLATE \"C\" NOT NULL, name text COLLATE \"C\" NOT NULL, "
        "PRIMARY KEY (resource, namespace, key, name))"
    )
    conn.execute("CREATE INDEX porch_object_keys_by_object ON porch_object_keys (resource, namespace, name)")
    stored = conn.execute(
        "SELECT resource, namespace, name, body::text FROM porch_objects WHERE resource = ANY(%s)",
        (sorted(INDEXED_RESOURCES),),
    ).fetchall()
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO porch_object_keys (resource, namespace, key, name) VALUES (%s, %s, %s, %s)",
                           list(key_rows_of_stored(stored)))


MIGRATIONS: list[str | Callable[[psycopg.Connection], None]] = [_V1, _V2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version_blocking(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT to_regclass('porch_meta') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT value FROM porch_meta WHERE key = 'schema_version'").fetchone()
    return int(found[0]) if found else 1


def refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"the PostgreSQL store at {where} was written by a newer porch-embedded (store "
            f"schema version {version}; this one understands up to {SCHEMA_VERSION}): run that "
            "newer version, or use another database; nothing was changed"
        )


def migrate_blocking(conn: psycopg.Connection, sealer: Sealer, where: str) -> None:
    """Check, create or migrate the schema on ``conn`` (autocommit) and verify the key."""
    refuse_newer(schema_version_blocking(conn), where)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        version = schema_version_blocking(conn)
        refuse_newer(version, where)
        for step in MIGRATIONS[version:]:
            if callable(step):
                step(conn)
            else:
                conn.execute(step)  # type: ignore[call-overload]
        conn.execute(
            "INSERT INTO porch_meta (key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        found = conn.execute("SELECT value FROM porch_meta WHERE key = 'key_check'").fetchone()
        if found:
            sealer.verify_key_check(found[0], where)
        else:
            conn.execute(
                "INSERT INTO porch_meta (key, value) VALUES ('key_check', %s)", (sealer.key_check(),)
            )
