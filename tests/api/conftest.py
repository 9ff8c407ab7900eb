"""A server per test, started in the test's trio loop on a free loopback port.

These tests exercise the API machinery with Repository objects whose git URLs lead
nowhere; the repository sync controller is off so that the only writes a test sees
are its own (the controller has tests of its own against a real git server).

Every test runs twice, on each store (``store_kind``: sqlite, postgres); a test that
starts servers of its own takes ``new_store_url`` and gives each one an empty store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.parts.postgres import new_store_url, postgres_run_database, store_kind
from tests.parts.server import RunningServer, start_server

__all__ = ["new_store_url", "postgres_run_database", "server", "store_kind"]


@pytest.fixture
async def server(tmp_path: Path, new_store_url: Callable[[], str]) -> AsyncIterator[RunningServer]:
    async with start_server(tmp_path / "data", store_url=new_store_url(), bookmark_interval_s=0.2,
                            controllers=False) as running:
        yield running
