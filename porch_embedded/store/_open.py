"""Pick a store implementation from its URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from porch_embedded.errors import BadRequest
from porch_embedded.store._protocol import Store

__all__ = ["open_store"]


@asynccontextmanager
async def open_store(
    url: str,
    *,
    encryption_key: bytes,
    sealed_fields: Mapping[str, Sequence[str]] | None = None,
    event_retention: int = 100_000,
    password: str | None = None,
) -> AsyncIterator[Store]:
    """Open the store named by ``url``: ``sqlite:///path/to/db`` or ``postgresql://...``.

    ``encryption_key`` (a Fernet key) encrypts at rest the top-level fields that
    ``sealed_fields`` names per resource, e.g. ``{"secrets": ("data", "stringData")}``.
    ``event_retention`` is how many watch events are kept before compaction.
    ``password`` is the PostgreSQL password, kept out of the URL and out of every message.
    """
    if url.startswith("sqlite:///"):
        from porch_embedded.store._sqlite import open_sqlite_store

        async with open_sqlite_store(
            Path(url.removeprefix("sqlite://")),
            encryption_key=encryption_key,
            sealed_fields=dict(sealed_fields or {}),
            event_retention=event_retention,
        ) as store:
            yield store
        return
    if url.startswith(("postgresql://", "postgres://")):
        from porch_embedded.store._postgres import open_postgres_store

        async with open_postgres_store(
            url,
            password=password,
            encryption_key=encryption_key,
            sealed_fields=dict(sealed_fields or {}),
            event_retention=event_retention,
        ) as store:
            yield store
        return
    scheme = url.partition(":")[0]  # never echo the whole URL: it may hold a password
    raise BadRequest(
        f"unsupported store URL scheme {scheme!r}: use sqlite:///ABSOLUTE/PATH or "
        "postgresql://USER@HOST:PORT/DATABASE"
    )
