"""Fixtures of the adapter tests: a real git server and a real OCI registry, each with auth, a
cache per test, and the ``backend`` every contract test runs on (one parameter per storage type)."""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Callable, Iterator
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
    OciStorage,
    RepositoryAdapter,
    Storage,
    open_git_adapter,
)
from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server
from tests.parts.registry import Registry, oci_registry

__all__ = ["git_server", "not_a_registry", "oci_registry"]

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

    def open_missing(self) -> AbstractAsyncContextManager[RepositoryAdapter]:
        """Open a repository whose server holds no such repository (git: an unknown path; OCI, where a
        path comes into being with its first push: an address that is no registry)."""
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

    def open_missing(self) -> AbstractAsyncContextManager[RepositoryAdapter]:
        return self.open("does-not-exist")


class OciBackend:
    """Repositories under a prefix of their own in the session's registry (htpasswd auth)."""

    type = "oci"

    def __init__(self, registry: Registry, not_a_registry: str) -> None:
        self.registry = registry
        self.prefix = f"t{secrets.token_hex(4)}"
        self.not_a_registry = not_a_registry
        self.storage = OciStorage()
        self.credentials = Credentials(registry.username, registry.password)

    def create(self, name: str) -> None:
        """Nothing to do: a registry path exists from its first push."""

    def repository(self, name: str, *, host: str = "") -> Body:
        return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"type": "oci", "oci": {"registry": f"{host or self.registry.host}/{self.prefix}/{name}",
                                                "secretRef": {"name": f"{name}-auth"}}}}

    def open(self, name: str) -> AbstractAsyncContextManager[RepositoryAdapter]:
        return self.storage.open(self.storage.parse(self.repository(name)), self.credentials)

    def open_missing(self) -> AbstractAsyncContextManager[RepositoryAdapter]:
        return self.storage.open(self.storage.parse(self.repository("r", host=self.not_a_registry)),
                                 self.credentials)


@pytest.fixture(scope="session")
def not_a_registry() -> Iterator[str]:
    """``127.0.0.1:PORT`` of an HTTP server that answers 404 to everything (no ``/v2/``)."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(params=["git", "oci"])
def backend(request: pytest.FixtureRequest, cache: GitCache) -> Backend:
    """The storage type under test, on its real server."""
    if request.param == "git":
        return GitBackend(request.getfixturevalue("git_server"), cache)
    if request.param == "oci":
        return OciBackend(request.getfixturevalue("oci_registry"), request.getfixturevalue("not_a_registry"))
    raise AssertionError(request.param)
