"""The ``store`` fixture: every Store implementation, behind the same contract suite.

``sqlite`` uses a file in tmp_path. ``postgres`` creates a database with a random name
on the local server (127.0.0.1:5432, trust auth) and drops it WITH (FORCE) afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from porch_embedded.store import Store, open_store

KEY = Fernet.generate_key()
SEALED = {"secrets": ("data", "stringData")}

StoreOpener = Callable[..., AbstractAsyncContextManager[Store]]


ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_test_database() -> Iterator[str]:
    """A database with a random name for this test run, dropped WITH (FORCE) at its end."""
    name = f"porch_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
    else:
        reason = ""
    if reason:
        pytest.fail(
            f"PostgreSQL is not reachable at 127.0.0.1:5432 ({reason}). The store tests "
            "run on it and never skip: run scripts/setup (it starts an installed, stopped cluster), "
            "or `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; "
            "`pg_isready -h 127.0.0.1` says when it answers. See shared/notes/environment.md.",
            pytrace=False,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database_url(postgres_test_database: str) -> Iterator[str]:
    """An empty store location of its own for one test: a fresh schema in the run's database.

    (A database per test costs a quarter of a second to create; a schema, a millisecond.)
    """
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_test_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{postgres_test_database}?options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_test_database, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_database_url"))


@pytest.fixture
def open_test_store(store_url: str) -> StoreOpener:
    """Opens (or reopens) the test's store; keyword arguments override open_store's."""

    def opener(**overrides: Any) -> AbstractAsyncContextManager[Store]:
        options: dict[str, Any] = {"encryption_key": KEY, "sealed_fields": SEALED}
        options.update(overrides)
        return open_store(store_url, **options)

    return opener


@pytest.fixture
async def store(open_test_store: StoreOpener) -> AsyncIterator[Store]:
    async with open_test_store() as opened:
        yield opened


@pytest.fixture
def raw_contents(store_url: str) -> Callable[[], bytes]:
    """Everything the backend has written, as bytes (to look for leaked plaintext)."""

    def read() -> bytes:
        if store_url.startswith("sqlite:///"):
            path = Path(store_url.removeprefix("sqlite://"))
            return b"".join(
                candidate.read_bytes()
                for candidate in (path, Path(f"{path}-wal"))
                if candidate.exists()
            )
        with psycopg.connect(store_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT t::text FROM porch_objects t UNION ALL SELECT t::text FROM porch_events t"
            ).fetchall()
        return "\n".join(row[0] for row in rows).encode()

    return read
