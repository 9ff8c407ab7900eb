"""Opening a registered repository: the storage of its spec.type, and the Secret it names.

The Repository and its Secret are read through a ``RepositorySource`` (the store when
standalone); the Secret's data is decoded in one place for Repositories and clone tasks.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing
from cryptography.fernet import Fernet

from porch_embedded.engine import StoreRepositorySource
from porch_embedded.engine._repositories import Repositories
from porch_embedded.errors import BadRequest, NotFound, RepositoryAuthFailed
from porch_embedded.kinds import PACKAGE_REVISION, REPOSITORY, SECRET, Body
from porch_embedded.store import FieldMatch, ListQuery, Store, open_store
from porch_embedded.vcs import GitCache, GitStorage
from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server, package_files

__all__ = ["git_server"]

KEY = Fernet.generate_key()


@asynccontextmanager
async def sqlite_store(path: Path) -> AsyncIterator[Store]:
    async with open_store(f"sqlite:///{path}", encryption_key=KEY, sealed_fields={SECRET.resource: ("data",)}) as store:
        yield store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with sqlite_store(tmp_path / "store.db") as opened:
        yield opened


@pytest.fixture
def storages(tmp_path: Path) -> dict[str, GitStorage]:
    git = GitStorage(GitCache(tmp_path / "cache"))
    return {git.type: git}


def encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def secret(name: str, **data: str) -> Body:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "type": "kubernetes.io/basic-auth", "data": data}


def repository(name: str, url: str, *, kind: str = "git", secret_name: str = "") -> Body:
    git: Body = {"repo": url, "branch": "main"}
    if secret_name:
        git["secretRef"] = {"name": secret_name}
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"type": kind, "git": git}}


def clone_upstream(url: str, secret_name: str) -> Body:
    return {"type": "git", "git": {"repo": url, "ref": "v1", "directory": "pkg", "secretRef": {"name": secret_name}}}


async def test_a_repository_opens_with_the_credentials_its_secret_holds(
    git_server: GitServer, store: Store, storages: dict[str, GitStorage]
) -> None:
    git_server.create_repo("blue").commit(package_files("pkg"), tags=["pkg/v1"])
    await store.create(SECRET.resource, secret("blue-auth", username=encoded(USERNAME), password=encoded(PASSWORD)))
    await store.create(REPOSITORY.resource, repository("blue", git_server.url("blue"), secret_name="blue-auth"))
    await store.create(REPOSITORY.resource, repository("wrong", git_server.url("blue"), secret_name="wrong-auth"))
    await store.create(SECRET.resource, secret("wrong-auth", username=encoded(USERNAME), password=encoded("nope")))
    repositories = Repositories(store, storages)
    try:
        handle = await repositories.handle("default", "blue")
        assert {r.workspace for r in (await handle.adapter.snapshot()).revisions} == {"main", "v1"}
        assert handle.spec.secret_name == "blue-auth"
        with pytest.raises(RepositoryAuthFailed, match="Secret 'wrong-auth'"):
            await repositories.handle("default", "wrong")
        upstream = await repositories.read_upstream("default", clone_upstream(git_server.url("blue"), "blue-auth"))
        assert set(upstream.files) == {"Kptfile", "cm.yaml"} and upstream.lock["git"]["ref"] == "v1"
    finally:
        await repositories.aclose()


async def test_a_missing_secret_is_not_found_naming_who_named_it(
    git_server: GitServer, store: Store, storages: dict[str, GitStorage]
) -> None:
    git_server.create_repo("lost")
    await store.create(REPOSITORY.resource, repository("lost", git_server.url("lost"), secret_name="gone"))
    repositories = Repositories(store, storages)
    with pytest.raises(NotFound, match=r'secret "gone" named by repository \'lost\' \(spec.git.secretRef\) does '
                                       r'not exist in namespace "default"'):
        await repositories.handle("default", "lost")
    with pytest.raises(NotFound, match='secret "gone" named by the clone task\'s secretRef does not exist'):
        await repositories.read_upstream("default", clone_upstream(git_server.url("lost"), "gone"))


async def test_a_secret_value_that_is_not_base64_text_is_bad_request_on_every_path(
    git_server: GitServer, store: Store, storages: dict[str, GitStorage]
) -> None:
    git_server.create_repo("garbled")
    await store.create(SECRET.resource, secret("garbled-auth", username=encoded(USERNAME), password="%%not base64%%"))
    await store.create(SECRET.resource, secret("binary-auth", username=base64.b64encode(b"\xff\xfe").decode()))
    repositories = Repositories(store, storages)
    for name in ("garbled-auth", "binary-auth"):
        await store.create(REPOSITORY.resource, repository(name.removesuffix("-auth"), git_server.url("garbled"),
                                                           secret_name=name))
        with pytest.raises(BadRequest, match=f'secret "{name}" key \'(password|username)\' is not base64 text'):
            await repositories.handle("default", name.removesuffix("-auth"))
        with pytest.raises(BadRequest, match=f'secret "{name}" key \'(password|username)\' is not base64 text'):
            await repositories.read_upstream("default", clone_upstream(git_server.url("garbled"), name))


async def test_a_type_this_server_has_no_storage_for_is_bad_request(
    git_server: GitServer, store: Store, storages: dict[str, GitStorage]
) -> None:
    await store.create(REPOSITORY.resource, repository("images", git_server.url("images"), kind="oci"))
    repositories = Repositories(store, storages)
    with pytest.raises(BadRequest, match="repository 'images' has type 'oci'; this server stores packages in git "
                                         "repositories only"):
        await repositories.handle("default", "images")
    with pytest.raises(BadRequest, match="has type 'oci'"):
        await repositories.read_upstream("default", {"type": "oci", "oci": {"image": "example.com/pkg:v1"}})


async def test_the_repository_and_its_secret_are_read_through_the_source(
    git_server: GitServer, store: Store, storages: dict[str, GitStorage], tmp_path: Path
) -> None:
    """In aggregated mode they live in the cluster, not in the store the packages are cached in."""
    git_server.create_repo("remote").commit(package_files("pkg"), tags=["pkg/v1"])
    async with sqlite_store(tmp_path / "cluster.db") as cluster:
        await cluster.create(SECRET.resource, secret("remote-auth", username=encoded(USERNAME),
                                                     password=encoded(PASSWORD)))
        await cluster.create(REPOSITORY.resource, repository("remote", git_server.url("remote"),
                                                             secret_name="remote-auth"))
        repositories = Repositories(store, storages, StoreRepositorySource(cluster))
        try:
            result = await repositories.sync("default", "remote")
            assert result.package_count == 1
            upstream = await repositories.read_upstream("default", clone_upstream(git_server.url("remote"),
                                                                                 "remote-auth"))
            assert upstream.lock["git"]["commit"]
        finally:
            await repositories.aclose()


async def test_a_sync_under_way_when_its_repository_is_forgotten_leaves_nothing_behind(
    git_server: GitServer, store: Store, storages: dict[str, GitStorage]
) -> None:
    """Unregistering waits for a running sync, then drops what it wrote; a sync never writes after it."""
    git_server.create_repo("gone").commit(package_files("pkg"), tags=["pkg/v1"])
    await store.create(SECRET.resource, secret("gone-auth", username=encoded(USERNAME), password=encoded(PASSWORD)))
    await store.create(REPOSITORY.resource, repository("gone", git_server.url("gone"), secret_name="gone-auth"))
    repositories = Repositories(store, storages)
    try:
        handle = await repositories.handle("default", "gone")
        fetching, release = trio.Event(), trio.Event()
        fetch = handle.adapter.fetch

        async def held_fetch() -> str:
            fetching.set()
            await release.wait()
            return await fetch()

        handle.adapter.fetch = held_fetch  # type: ignore[method-assign]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(repositories.sync, "default", "gone")
            await fetching.wait()
            nursery.start_soon(repositories.forget, "default", "gone")
            await trio.testing.wait_all_tasks_blocked()
            release.set()
        query = ListQuery(PACKAGE_REVISION.resource, "default", fields=(FieldMatch(("spec", "repository"), "=", "gone"),))
        assert (await store.list(query)).items == []
        # A sync asked for after the Repository is gone finds it gone rather than writing.
        await store.delete(REPOSITORY.resource, "default", "gone")
        with pytest.raises(NotFound):
            await repositories.sync("default", "gone")
        assert (await store.list(query)).items == []
    finally:
        await repositories.aclose()
