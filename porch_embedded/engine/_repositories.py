"""Registered repositories: their adapters, credentials, write locks, and sync into the store.

One ``RepositoryHandle`` per Repository object holds the adapter (opened lazily from
the Repository spec and its Secret), a write lock (one writer per repository at a
time; readers never wait for git), and the version last synced. ``sync`` reconciles
the store with what the repository holds in one store transaction: revisions that
appeared, changed or vanished, the latest-revision labels, the Package objects.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
import trio

from porch_embedded.engine._objects_of_packages import (
    kptfile_of,
    package_body,
    resources_body,
    revision_body,
)
from porch_embedded.engine._naming import package_object_name, revision_name
from porch_embedded.engine._repository_index import normalized_url
from porch_embedded.errors import BadRequest, Conflict, NotFound
from porch_embedded.kinds import PACKAGE, PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, REPOSITORY, SECRET, Body
from porch_embedded.store import Change, Create, Delete, FieldMatch, ListQuery, Store, Update
from porch_embedded.vcs import RepositoryAdapter, Revision, Snapshot

__all__ = [
    "AdapterFactory",
    "RepositoryAccess",
    "RepositoryHandle",
    "Repositories",
    "SyncResult",
    "conflicting_repository",
    "latest_numbers",
]

log = logging.getLogger("porch_embedded.engine.repositories")


@dataclass(frozen=True, repr=False)
class RepositoryAccess:
    """What an adapter needs to reach a repository; credentials are never printed."""

    namespace: str
    name: str
    url: str
    branch: str
    directory: str
    create_branch: bool = False
    username: str = ""
    password: str = ""
    bearer_token: str = ""
    author: str = ""
    email: str = ""
    secret_name: str = ""

    def __repr__(self) -> str:
        return f"RepositoryAccess({self.namespace}/{self.name}, {self.url}@{self.branch}:{self.directory or '/'})"


AdapterFactory = Callable[[RepositoryAccess], AbstractAsyncContextManager[RepositoryAdapter]]
"""Opens a repository's adapter; leaving the context closes it."""


@dataclass(frozen=True)
class SyncResult:
    package_count: int
    commit: str
    version: str
    changed: int


@dataclass
class RepositoryHandle:
    namespace: str
    name: str
    generation: int
    access: RepositoryAccess
    adapter: RepositoryAdapter
    closer: AsyncExitStack
    write_lock: trio.Lock = field(default_factory=trio.Lock)
    synced_version: str = ""
    sync_lock: trio.Lock = field(default_factory=trio.Lock)


def _directory(spec: Body) -> str:
    return ((spec.get("git") or {}).get("directory") or "").strip("/")


def conflicting_repository(candidate: Body, others: list[Body]) -> Body | None:
    """Another Repository that would serve the same packages (Porch's webhook rules).

    Same normalised URL and branch, and: the same directory in the same namespace, or
    one registered at the root while the other has a directory, or one directory
    nested in the other. The same repository in different namespaces is fine.
    """
    spec = candidate.get("spec") if isinstance(candidate.get("spec"), dict) else {}
    git = spec.get("git") if isinstance(spec.get("git"), dict) else {}
    if spec.get("type") != "git" or not isinstance(git.get("repo"), str) or not isinstance(
            git.get("directory", ""), str) or not isinstance(git.get("branch", ""), str):
        return None  # validation reports what is wrong with it
    key = (normalized_url(git["repo"]), git.get("branch") or "main")
    directory = _directory(spec)
    namespace = candidate["metadata"].get("namespace", "")
    for other in others:
        if other["metadata"]["name"] == candidate["metadata"]["name"] and \
                other["metadata"].get("namespace", "") == namespace:
            continue
        other_spec = other.get("spec") or {}
        other_git = other_spec.get("git") or {}
        if other_spec.get("type") != "git" or \
                (normalized_url(other_git.get("repo", "")), other_git.get("branch") or "main") != key:
            continue
        other_directory = _directory(other_spec)
        same_namespace = other["metadata"].get("namespace", "") == namespace
        if directory == other_directory:
            if same_namespace:
                return other
            continue
        if not directory or not other_directory:
            return other
        if directory.startswith(other_directory + "/") or other_directory.startswith(directory + "/"):
            return other
    return None


def latest_numbers(revisions: list[Revision]) -> dict[str, int]:
    """Per package path, the highest published revision number (the one labelled latest)."""
    latest: dict[str, int] = {}
    for revision in revisions:
        if revision.lifecycle in ("Published", "DeletionProposed") and revision.revision >= 1:
            latest[revision.package] = max(latest.get(revision.package, 0), revision.revision)
    return latest


class Repositories:
    """The handles of registered repositories and the sync of each into the store."""

    def __init__(self, store: Store, open_adapter: AdapterFactory) -> None:
        self._store = store
        self._open_adapter = open_adapter
        self._handles: dict[tuple[str, str], RepositoryHandle] = {}
        self._opening: dict[tuple[str, str], trio.Lock] = {}

    async def handle(self, namespace: str, name: str) -> RepositoryHandle:
        """The handle of a registered repository, (re)opening its adapter when its spec changed.

        Opening fetches from the git server, so each repository has its own opening lock:
        a repository whose server hangs delays only the requests that need it.
        """
        repository = await self._store.get(REPOSITORY.resource, namespace, name)
        generation = int(repository["metadata"].get("generation", 1))
        key = (namespace, name)
        async with self._opening.setdefault(key, trio.Lock()):
            handle = self._handles.get(key)
            if handle is not None and handle.generation == generation:
                return handle
            access = await self._access(repository)
            if handle is not None:
                await handle.closer.aclose()
            closer = AsyncExitStack()
            adapter = await closer.enter_async_context(self._open_adapter(access))
            handle = RepositoryHandle(namespace, name, generation, access, adapter, closer)
            self._handles[key] = handle
            return handle

    async def forget(self, namespace: str, name: str) -> None:
        """Unregister: close the adapter and drop the repository's objects from the store (not git)."""
        async with self._opening.setdefault((namespace, name), trio.Lock()):
            handle = self._handles.pop((namespace, name), None)
        self._opening.pop((namespace, name), None)
        if handle is not None:
            await handle.closer.aclose()
        changes: list[Change] = []
        for kind in (PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, PACKAGE):
            page = await self._store.list(ListQuery(kind.resource, namespace, fields=(
                FieldMatch(("spec", "repository"), "=", name),)))
            changes += [Delete(kind.resource, namespace, item["metadata"]["name"],
                               expect_rv=item["metadata"]["resourceVersion"]) for item in page.items]
        if changes:
            await self._store.apply(changes)

    async def aclose(self) -> None:
        handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            await handle.closer.aclose()

    async def read_upstream(self, namespace: str, url: str, directory: str, ref: str,
                            secret_name: str = "") -> tuple[dict[str, str], str]:
        """Files and commit of the package at ``directory`` of an unregistered git repository.

        ``ref`` is resolved as Porch resolves it: the tag ``<directory>/<ref>``, else the
        tag or branch ``<ref>``. The repository is opened for this read only.
        """
        credentials = await self._credentials(namespace, secret_name, "the clone task's secretRef") \
            if secret_name else {}
        directory = directory.strip("/")
        last_error: NotFound | None = None
        for branch in ("main", "master"):
            access = RepositoryAccess(
                namespace=namespace, name="upstream", url=url, branch=branch, directory="",
                username=credentials.get("username", ""), password=credentials.get("password", ""),
                bearer_token=credentials.get("bearerToken", ""), secret_name=secret_name)
            try:
                async with self._open_adapter(access) as adapter:
                    snapshot = await adapter.snapshot()
                    wanted = (f"{directory}/{ref}" if directory else ref, ref)
                    for candidate in wanted:
                        for revision in snapshot.revisions:
                            if revision.path == directory and adapter.self_lock(revision)["git"]["ref"] == candidate:
                                return await adapter.read_package(revision), revision.commit
                    raise NotFound(f"no package at directory {directory or '/'!r} for ref {ref!r} in {url} "
                                   f"(tried the tag {wanted[0]!r} and the ref {ref!r})")
            except NotFound as error:
                last_error = error
                if "branch" not in error.message:
                    raise
        assert last_error is not None
        raise last_error

    async def _credentials(self, namespace: str, secret_name: str, named_by: str) -> dict[str, str]:
        try:
            secret = await self._store.get(SECRET.resource, namespace, secret_name)
        except NotFound:
            raise NotFound(f'secret "{secret_name}" named by {named_by} does not exist in namespace '
                           f'"{namespace}"') from None
        credentials: dict[str, str] = {}
        for key, value in (secret.get("data") or {}).items():
            try:
                credentials[key] = base64.b64decode(value).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise BadRequest(f'secret "{secret_name}" key {key!r} is not base64 text') from None
        return credentials

    async def _access(self, repository: Body) -> RepositoryAccess:
        spec = repository.get("spec") or {}
        if spec.get("type") != "git":
            raise BadRequest(f"repository {repository['metadata']['name']!r} has type {spec.get('type')!r}; "
                             "this server stores packages in git repositories only")
        git = spec.get("git") or {}
        namespace = repository["metadata"]["namespace"]
        credentials: dict[str, str] = {}
        secret_name = (git.get("secretRef") or {}).get("name", "")
        if secret_name:
            try:
                secret = await self._store.get(SECRET.resource, namespace, secret_name)
            except NotFound:
                raise NotFound(f'secret "{secret_name}" named by repository {repository["metadata"]["name"]!r} '
                               f'(spec.git.secretRef) does not exist in namespace "{namespace}"') from None
            for key, value in (secret.get("data") or {}).items():
                try:
                    credentials[key] = base64.b64decode(value).decode()
                except (binascii.Error, UnicodeDecodeError):
                    raise BadRequest(f'secret "{secret_name}" key {key!r} is not base64 text') from None
        return RepositoryAccess(
            namespace=namespace, name=repository["metadata"]["name"], url=git.get("repo", ""),
            branch=git.get("branch") or "main", directory=_directory(spec),
            create_branch=bool(git.get("createBranch")), username=credentials.get("username", ""),
            password=credentials.get("password", ""), bearer_token=credentials.get("bearerToken", ""),
            author=git.get("author", ""), email=git.get("email", ""), secret_name=secret_name,
        )

    async def sync(self, namespace: str, name: str, *, force: bool = False) -> SyncResult:
        """Fetch the repository and make the store match it, in one transaction."""
        handle = await self.handle(namespace, name)
        async with handle.sync_lock:
            version = await handle.adapter.fetch()
            snapshot = await handle.adapter.snapshot()
            if version == handle.synced_version and not force:
                return SyncResult(len(snapshot.packages), snapshot.branch_commit, version, 0)
            repository = await self._store.get(REPOSITORY.resource, namespace, name)
            changed = await self.reconcile(handle, repository, snapshot)
            handle.synced_version = version
            return SyncResult(len({r.package for r in snapshot.revisions}), snapshot.branch_commit, version, changed)

    async def reconcile(self, handle: RepositoryHandle, repository: Body, snapshot: Snapshot) -> int:
        """Write the store changes that make it describe ``snapshot``; return how many objects changed.

        Reads only what changed: PackageRevision rows are listed (small), but the files of a
        PackageRevisionResources are fetched only for the revisions whose commit, lifecycle
        or latest label changed. It relies on the engine's invariant that a
        PackageRevision and its PackageRevisionResources are always written and deleted
        together, in one store transaction.
        """
        namespace, name = handle.namespace, handle.name
        by_repository = (FieldMatch(("spec", "repository"), "=", name),)
        stored = {item["metadata"]["name"]: item for item in (await self._store.list(
            ListQuery(PACKAGE_REVISION.resource, namespace, fields=by_repository))).items}
        stored_packages = {item["metadata"]["name"]: item for item in (await self._store.list(
            ListQuery(PACKAGE.resource, namespace, fields=by_repository))).items}
        latest = latest_numbers(list(snapshot.revisions))
        steps: list[Change | tuple[Revision, str, Body | None, bool]] = []
        """Changes in order, with a placeholder where a revision's files must be read first."""
        seen: set[str] = set()
        for revision in snapshot.revisions:
            object_name = revision_name(name, revision.package, revision.workspace)
            if object_name in seen:
                continue
            seen.add(object_name)
            kept = stored.get(object_name)
            is_latest = revision.revision >= 1 and latest.get(revision.package) == revision.revision \
                and revision.lifecycle in ("Published", "DeletionProposed")
            lock = handle.adapter.self_lock(revision)
            unchanged = kept is not None and (kept.get("status") or {}).get("selfLock") == lock \
                and kept["spec"].get("lifecycle") == revision.lifecycle \
                and kept["spec"].get("revision", 0) == revision.revision
            if unchanged:
                assert kept is not None
                has_label = (kept["metadata"].get("labels") or {}).get("kpt.dev/latest-revision") == "true"
                if has_label != is_latest:
                    stored_files = (await self._resources_of(namespace, object_name) or {}).get("spec", {})
                    body = revision_body(repository, revision, kptfile_of(stored_files.get("resources") or {}),
                                         lock, kept=kept, latest=is_latest)
                    steps.append(Update(PACKAGE_REVISION.resource, body, kept["metadata"]["resourceVersion"]))
                continue
            steps.append((revision, object_name, kept, is_latest))
        to_read = [step[0] for step in steps if isinstance(step, tuple)]
        contents = iter(await handle.adapter.read_packages(to_read))  # one call, not one per revision
        changes: list[Change] = []
        for step in steps:
            if not isinstance(step, tuple):
                changes.append(step)
                continue
            revision, object_name, kept, is_latest = step
            files = next(contents)
            body = revision_body(repository, revision, kptfile_of(files), handle.adapter.self_lock(revision),
                                 kept=kept, latest=is_latest)
            stored_resources = await self._resources_of(namespace, object_name) if kept is not None else None
            resources = resources_body(body, files, ((stored_resources or {}).get("status") or {}).get("renderStatus"))
            if kept is None:
                changes.append(Create(PACKAGE_REVISION.resource, body))
            else:
                changes.append(Update(PACKAGE_REVISION.resource, body, kept["metadata"]["resourceVersion"]))
            if stored_resources is not None:
                changes.append(Update(PACKAGE_REVISION_RESOURCES.resource, resources,
                                      stored_resources["metadata"]["resourceVersion"]))
            else:
                changes.append(Create(PACKAGE_REVISION_RESOURCES.resource, resources))
        for object_name, kept in stored.items():
            if object_name not in seen:
                changes.append(Delete(PACKAGE_REVISION.resource, namespace, object_name,
                                      expect_rv=kept["metadata"]["resourceVersion"]))
                changes.append(Delete(PACKAGE_REVISION_RESOURCES.resource, namespace, object_name))
        packages = {r.package for r in snapshot.revisions}
        for package in sorted(packages):
            object_name = package_object_name(name, package)
            body = package_body(namespace, name, package, latest.get(package, 0))
            kept = stored_packages.get(object_name)
            if kept is None:
                changes.append(Create(PACKAGE.resource, body))
            elif kept.get("status") != body["status"]:
                body["metadata"] = {**kept["metadata"]}
                changes.append(Update(PACKAGE.resource, body, kept["metadata"]["resourceVersion"]))
        for object_name, kept in stored_packages.items():
            if kept["spec"]["packageName"] not in packages:
                changes.append(Delete(PACKAGE.resource, namespace, object_name,
                                      expect_rv=kept["metadata"]["resourceVersion"]))
        if changes:
            try:
                await self._store.apply(changes)
            except Conflict:
                log.info("repository %s/%s changed while syncing; the next sync catches up", namespace, name)
                raise
        return len(changes)

    async def _resources_of(self, namespace: str, name: str) -> Body | None:
        try:
            return await self._store.get(PACKAGE_REVISION_RESOURCES.resource, namespace, name)
        except NotFound:
            return None

    def known(self) -> list[tuple[str, str]]:
        return list(self._handles)

