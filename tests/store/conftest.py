"""The ``store`` fixture: every Store implementation, behind the same contract suite.

``sqlite`` uses a file in tmp_path. ``postgres`` creates a database with a random name
on the local server (127.0.0.1:5432, trust auth) and drops it WITH (FORCE) afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from porch_embedded.store import Store, open_store

KEY = Fernet.generate_key()
SEALED = {"secrets": ("data", "stringData")}

StoreOpener = Callable[..., AbstractAsyncContextManager[Store]]


@pytest.fixture(params=["sqlite"])
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
        raise AssertionError(store_url)

    return read
