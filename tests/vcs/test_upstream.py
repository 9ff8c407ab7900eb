"""Git upstreams of clone tasks: how a ``ref`` resolves, which branch is opened, what the lock records."""

from __future__ import annotations

import pytest

from porch_embedded.errors import BadRequest, BranchNotFound, NotFound
from porch_embedded.vcs import GitCache, GitStorage
from tests.parts.git_server import GitServer, package_files
from tests.vcs.conftest import GOOD


def upstream(url: str, ref: str, directory: str = "") -> dict[str, object]:
    return {"type": "git", "git": {"repo": url, "ref": ref, "directory": directory}}


async def test_an_upstream_on_master_is_read_when_main_is_missing(git_server: GitServer, cache: GitCache) -> None:
    seed = git_server.create_repo("legacy", branch="master")
    commit = seed.commit(package_files("pkg"), branch="master", tags=["pkg/v1"])
    storage = GitStorage(cache)
    read = await storage.read_upstream(storage.parse_upstream(upstream(git_server.url("legacy"), "v1", "/pkg/")), GOOD)
    assert read.files == {name.removeprefix("pkg/"): text for name, text in package_files("pkg").items()}
    # the lock records the ref as the task asked for it, not the tag it resolved to
    assert read.lock == {"type": "git", "git": {"repo": git_server.url("legacy"), "directory": "pkg", "ref": "v1",
                                                "commit": commit}}


async def test_a_missing_package_is_not_found_even_when_the_url_says_branch(
    git_server: GitServer, cache: GitCache
) -> None:
    """Only a missing branch makes the read try ``master``; the error's type says so, not its text."""
    git_server.create_repo("branch-catalog").commit(package_files("pkg"), tags=["pkg/v1"])
    storage = GitStorage(cache)
    with pytest.raises(NotFound, match="no package at directory 'pkg' for ref 'v9'") as caught:
        await storage.read_upstream(storage.parse_upstream(upstream(git_server.url("branch-catalog"), "v9", "pkg")),
                                    GOOD)
    assert not isinstance(caught.value, BranchNotFound)


async def test_an_upstream_without_main_or_master_is_branch_not_found(git_server: GitServer, cache: GitCache) -> None:
    git_server.create_repo("bare", branch=None)
    storage = GitStorage(cache)
    with pytest.raises(BranchNotFound, match="branch 'master' does not exist"):
        await storage.read_upstream(storage.parse_upstream(upstream(git_server.url("bare"), "v1")), GOOD)


def test_an_upstream_needs_a_ref(cache: GitCache) -> None:
    with pytest.raises(BadRequest, match=r"upstreamRef.git.ref \(a tag or branch\)"):
        GitStorage(cache).parse_upstream(upstream("http://127.0.0.1:1/x.git", ""))
