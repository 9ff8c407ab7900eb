"""Fixtures of the server-process tests: each runs on both stores (``store_kind``).

A test asks ``new_store_url`` for an empty store and gives it to every start of its
server process with ``store_args``: SQLite, the default file in the data directory;
PostgreSQL, a fresh schema in the run's database (tests/parts/postgres.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.parts.postgres import new_store_url, postgres_run_database, raw_store_contents, store_kind

__all__ = ["new_store_url", "postgres_run_database", "store_args", "store_contents", "store_kind"]


def store_args(store_url: str) -> list[str]:
    """The serve flags that put a server on ``store_url`` (none for the default SQLite file)."""
    return ["--store", store_url] if store_url else []


def store_contents(store_url: str, data_dir: Path) -> bytes:
    """What the store holds, raw: its PostgreSQL rows, or its SQLite files (to show which store ran)."""
    if store_url:
        return raw_store_contents(store_url)
    return b"".join(path.read_bytes() for path in data_dir.glob("store.db*"))
