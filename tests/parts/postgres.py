"""PostgreSQL for tests: one randomly named database per test run, a fresh schema per store.

The local server (127.0.0.1:5432, trust auth, user postgres) is started before the session
(shared/notes/environment.md). ``postgres_run_database`` creates a database with a random
name on an autocommit connection and drops it WITH (FORCE) when the run ends. Each server a
test starts gets an empty schema of its own in that database, named in the URL as
``?options=-csearch_path%3D<schema>`` (a schema costs about a millisecond, a database a
quarter of a second), so every test starts from a clean store.

``store_kind`` is the store dimension of the API and lifecycle suites: ``sqlite`` (the
server's default file in its data directory) and ``postgres``. ``new_store_url`` hands out
empty store locations of that kind; a test that starts several servers asks for one each.
Import the fixtures into a conftest to use them (as with ``git_server``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest

__all__ = [
    "ADMIN_URL",
    "STORE_KINDS",
    "create_schema",
    "drop_schema",
    "new_store_url",
    "postgres_run_database",
    "raw_store_contents",
    "schema_url",
    "store_kind",
]

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STORE_KINDS = ("sqlite", "postgres")


def _admin_connection() -> psycopg.Connection:
    """An autocommit connection to the maintenance database, or a test failure that says how to fix it."""
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
    pytest.fail(
        f"PostgreSQL is not reachable at 127.0.0.1:5432 ({reason}). These tests run on it and "
        "never skip: run scripts/setup (it starts an installed, stopped cluster), or "
        "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; "
        "`pg_isready -h 127.0.0.1` says when it answers. See shared/notes/environment.md.",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def postgres_run_database() -> Iterator[str]:
    """The URL of a database with a random name for this test run, dropped WITH (FORCE) at its end."""
    name = f"porch_run_{secrets.token_hex(6)}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def schema_url(database_url: str, schema: str) -> str:
    """``database_url`` with every session's search_path set to ``schema``."""
    return f"{database_url}?options=-csearch_path%3D{schema}"


def create_schema(database_url: str) -> str:
    """Create an empty schema with a random name; return it."""
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store the test's servers use: every API and lifecycle test runs on both."""
    return str(request.param)


@pytest.fixture
def new_store_url(store_kind: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """Hands out an empty store per call, as a ``Settings.store_url``.

    SQLite: ``""``, the server's default file in its own data directory (give each server
    its own directory). PostgreSQL: a fresh schema in the run's database, dropped after
    the test (its servers are stopped by then).
    """
    if store_kind == "sqlite":
        yield lambda: ""
        return
    database = str(request.getfixturevalue("postgres_run_database"))
    made: list[str] = []

    def make() -> str:
        made.append(create_schema(database))
        return schema_url(database, made[-1])

    try:
        yield make
    finally:
        for schema in made:
            drop_schema(database, schema)


def raw_store_contents(store_url: str) -> bytes:
    """Every row of a PostgreSQL store's objects and events, as text bytes (to look for
    leaked plaintext). SQLite stores are files: read them directly."""
    with psycopg.connect(store_url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT t::text FROM porch_objects t UNION ALL SELECT t::text FROM porch_events t"
        ).fetchall()
    return "\n".join(row[0] for row in rows).encode()
