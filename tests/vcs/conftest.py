"""Fixtures of the git adapter tests: a real git server with auth, and a cache per test."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from porch_embedded.vcs import Credentials, GitAdapter, GitCache, GitSpec, open_git_adapter
from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server

__all__ = ["git_server"]

GOOD = Credentials(USERNAME, PASSWORD)

Opener = Callable[..., AbstractAsyncContextManager[GitAdapter]]


@pytest.fixture
def cache(tmp_path: Path) -> GitCache:
    return GitCache(tmp_path / "cache", threads=4)


@pytest.fixture
def open_repo(git_server: GitServer, cache: GitCache) -> Opener:
    """``open_repo(name, credentials=GOOD, **spec)``: open a GitAdapter on a server repository."""

    def opener(name: str, credentials: Credentials | None = GOOD, **spec: Any) -> AbstractAsyncContextManager[GitAdapter]:
        return open_git_adapter(cache, GitSpec(git_server.url(name), **spec), credentials)

    return opener
