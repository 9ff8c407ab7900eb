"""Fixtures of the adapter tests: a real git server with auth, a cache per test, and the
``backend`` every contract test runs on (one parameter per storage type: git now)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

import pytest

from porch_embedded.kinds import Body
from porch_embedded.vcs import (
    Credentials,
    GitAdapter,
    GitCache,
    GitSpec,
    GitStorage,
    RepositoryAdapter,
    Storage,
    open_git_adapter,
)
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


class Backend(Protocol):
    """One storage type as the contract suite drives it: a real server, and Repository objects on it."""

    type: str
    storage: Storage

    def create(self, name: str) -> None:
        """Make an empty repository on the server, ready to be registered."""
        ...

    def repository(self, name: str) -> Body:
        """A Repository object that registers the server's repository ``name``."""
        ...

    def open(self, name: str) -> AbstractAsyncContextManager[RepositoryAdapter]:
        """Open the adapter of ``repository(name)`` through the storage, with good credentials."""
        ...


class GitBackend:
    type = "git"

    def __init__(self, server: GitServer, cache: GitCache) -> None:
        self.server = server
        self.storage = GitStorage(cache)

    def create(self, name: str) -> None:
        self.server.create_repo(name)

    def repository(self, name: str) -> Body:
        return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"type": "git", "git": {"repo": self.server.url(name), "branch": "main",
                                                "secretRef": {"name": f"{name}-auth"}}}}

    def open(self, name: str) -> AbstractAsyncContextManager[RepositoryAdapter]:
        return self.storage.open(self.storage.parse(self.repository(name)), GOOD)


@pytest.fixture(params=["git"])
def backend(request: pytest.FixtureRequest, cache: GitCache) -> Backend:
    """The storage type under test; the OCI backend (a real registry) joins the parameters."""
    if request.param == "git":
        return GitBackend(request.getfixturevalue("git_server"), cache)
    raise AssertionError(request.param)
