"""A server per test, started in the test's trio loop on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.parts.server import RunningServer, start_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with start_server(tmp_path / "data", bookmark_interval_s=0.2) as running:
        yield running
