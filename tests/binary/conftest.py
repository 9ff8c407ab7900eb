"""The built binaries (`make binary`): which one the tests here take, and the podman setup they share.

These tests run in `make test-binary`, with $PORCH_EMBEDDED_BINARY naming the static
binary; without it they take dist/porch-embedded-static from a local `make binary`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.parts.fn_images import containers_conf
from tests.parts.git_server import git_server
from tests.parts.server import server_binary

__all__ = ["containers_conf", "git_server", "static_binary"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def static_binary() -> Path:
    """The fully static binary under test."""
    binary = server_binary() or ROOT / "dist" / "porch-embedded-static"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build it with `make binary` (or set PORCH_EMBEDDED_BINARY)")
    return binary
