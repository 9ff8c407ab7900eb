"""``GitStorage``: Repositories of ``spec.type: git``, and git upstreams of clone tasks.

The engine hands a Repository object (or a clone task's ``upstreamRef``) to the storage of
its type and gets back an opaque spec; only this module reads ``spec.git`` and
``upstreamRef.git``. All registrations share one ``GitCache``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from porch_embedded.errors import BadRequest, BranchNotFound, NotFound
from porch_embedded.vcs import _layout as layout
from porch_embedded.vcs._cache import GitCache
from porch_embedded.vcs._git import GitAdapter, GitSpec, open_git_adapter
from porch_embedded.vcs._protocol import Credentials, StorageLocation, Upstream

__all__ = ["GitStorage", "GitUpstream"]

UPSTREAM_BRANCHES = ("main", "master")
"""The branches an unregistered upstream is opened on, in order, as Porch tries them."""


@dataclass(frozen=True)
class GitUpstream:
    """A clone task's ``upstreamRef.git``: the package at ``directory`` of ``url`` at ``ref``."""

    url: str
    directory: str
    ref: str
    secret_name: str = ""
    secret_field: str = "spec.tasks[0].clone.upstreamRef.git.secretRef"


def _text(section: Mapping[str, Any], key: str, where: str, *, default: str = "") -> str:
    value = section.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{where}.{key} must be a string, not {type(value).__name__}")
    return value


def _secret_name(section: Mapping[str, Any], where: str) -> str:
    ref = section.get("secretRef")
    if ref is None:
        return ""
    if not isinstance(ref, Mapping):
        raise BadRequest(f"{where}.secretRef must be an object with the Secret's name")
    return _text(ref, "name", f"{where}.secretRef")


class GitStorage:
    """The ``Storage`` of git repositories, in Porch's layout."""

    type = "git"

    def __init__(self, cache: GitCache) -> None:
        self.cache = cache

    def parse(self, repository: Mapping[str, Any]) -> GitSpec:
        name = (repository.get("metadata") or {}).get("name", "")
        git = (repository.get("spec") or {}).get("git")
        if not isinstance(git, Mapping):
            raise BadRequest(f"repository {name!r} has type 'git' but no spec.git: set spec.git.repo "
                             "(and optionally branch, directory, secretRef)")
        url = _text(git, "repo", "spec.git")
        if not url.strip():
            raise BadRequest(f"repository {name!r}: spec.git.repo must be the git repository's URL")
        return GitSpec(
            url=url, branch=_text(git, "branch", "spec.git") or "main",
            directory=_text(git, "directory", "spec.git").strip("/"),
            create_branch=bool(git.get("createBranch")), author=_text(git, "author", "spec.git"),
            email=_text(git, "email", "spec.git"), secret_name=_secret_name(git, "spec.git"),
        )

    def location(self, spec: GitSpec) -> StorageLocation:
        """The repository's branch and directory; the URL compared without scheme, ``.git``, trailing slash or case."""
        url = spec.url.strip().rstrip("/").removesuffix(".git").split("://", 1)[-1].lower()
        return StorageLocation(f"git:{url}#{spec.branch}", spec.directory.strip("/"),
                               overlap="same git repository and branch, and its directory overlaps this one's",
                               advice="register a different directory or branch")

    def open(self, spec: GitSpec, credentials: Credentials) -> AbstractAsyncContextManager[GitAdapter]:
        return open_git_adapter(self.cache, spec, credentials)

    def parse_upstream(self, upstream: Mapping[str, Any]) -> GitUpstream:
        where = "spec.tasks[0].clone.upstreamRef.git"
        git = upstream.get("git")
        if not isinstance(git, Mapping) or not _text(git, "repo", where):
            raise BadRequest(f"a clone from git needs {where}.repo (the repository's URL)")
        ref = _text(git, "ref", where)
        if not ref:
            raise BadRequest("a clone from git needs spec.tasks[0].clone.upstreamRef.git.ref (a tag or branch)")
        return GitUpstream(url=git["repo"], directory=_text(git, "directory", where).strip("/"), ref=ref,
                           secret_name=_secret_name(git, where))

    async def read_upstream(self, upstream: GitUpstream, credentials: Credentials) -> Upstream:
        """The package at ``upstream.directory``, its ``ref`` resolved as Porch resolves it.

        The tag ``<directory>/<ref>``, else the tag or branch ``<ref>``; the repository is
        opened on ``main``, else ``master``, for this read only. Its lock records the ref
        as the task asked for it.
        """
        directory, ref = upstream.directory, upstream.ref
        wanted = (f"{directory}/{ref}" if directory else ref, ref)
        missing: BranchNotFound | None = None
        for branch in UPSTREAM_BRANCHES:
            spec = GitSpec(url=upstream.url, branch=branch, secret_name=upstream.secret_name)
            try:
                async with self.open(spec, credentials) as adapter:
                    revisions = (await adapter.snapshot()).revisions
                    for candidate in wanted:
                        for revision in revisions:
                            if revision.path == directory and layout.short_ref(revision.locator) == candidate:
                                files = await adapter.read_package(revision)
                                lock = {"type": "git", "git": {"repo": upstream.url, "directory": directory,
                                                               "ref": ref, "commit": revision.commit}}
                                return Upstream(files, lock)
                    raise NotFound(f"no package at directory {directory or '/'!r} for ref {ref!r} in "
                                   f"{upstream.url} (tried the tag {wanted[0]!r} and the ref {ref!r})")
            except BranchNotFound as error:
                missing = error
        assert missing is not None
        raise missing
