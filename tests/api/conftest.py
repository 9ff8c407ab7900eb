"""A server per test, started in the test's trio loop on a free loopback port.

These tests exercise the API machinery with Repository objects whose git URLs lead
nowhere; the repository sync controller is off so that the only writes a test sees
are its own (the controller has tests of its own against a real git server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.parts.server import RunningServer, start_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with start_server(tmp_path / "data", bookmark_interval_s=0.2, controllers=False) as running:
        yield running
