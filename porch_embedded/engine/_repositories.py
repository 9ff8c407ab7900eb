"""Registered repositories: their adapters, credentials, write locks, and sync into the store.

One ``RepositoryHandle`` per Repository object holds the adapter (opened lazily from
the Repository spec and its Secret), a write lock (one writer per repository at a
time; readers never wait for the repository's server), and the version last synced.
``sync`` reconciles the store with what the repository holds in one store transaction:
revisions that appeared, changed or vanished, the latest-revision labels, the Package
objects.

The engine knows no storage type: the ``Storage`` of a Repository's ``spec.type`` (from
the ``AdapterFactory`` the composition root picks) parses that spec and opens the
adapter. Repository and Secret objects are read through a ``RepositorySource``: the
store when the server is standalone, the cluster's API in aggregated mode.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from porch_embedded.engine._objects_of_packages import (
    kptfile_of,
    package_body,
    resources_body,
    revision_body,
)
from porch_embedded.engine._lifecycle import carries_latest_label, latest_revision
from porch_embedded.engine._naming import package_object_name, revision_name
from porch_embedded.errors import BadRequest, Conflict, NotFound
from porch_embedded.kinds import PACKAGE, PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, REPOSITORY, SECRET, Body, Kind
from porch_embedded.store import Change, Create, Delete, FieldMatch, ListQuery, Store, Update
from porch_embedded.vcs import (
    Credentials,
    RepositoryAdapter,
    Revision,
    Snapshot,
    Storage,
    StorageLocation,
    StorageSpec,
    Upstream,
)

__all__ = [
    "AdapterFactory",
    "RepositoryHandle",
    "RepositorySource",
    "Repositories",
    "StoreRepositorySource",
    "SyncResult",
    "conflicting_repository",
    "latest_numbers",
]

log = logging.getLogger("porch_embedded.engine.repositories")

AdapterFactory = Mapping[str, Storage]
"""The storage of each Repository ``spec.type`` this server serves: what opens adapters."""


class RepositorySource(Protocol):
    """Where the engine reads Repository objects and the Secrets they name.

    Both raise NotFound when the object does not exist.
    """

    async def repository(self, namespace: str, name: str) -> Body: ...

    async def secret(self, namespace: str, name: str) -> Body: ...


class StoreRepositorySource:
    """Repository and Secret objects from the store: the standalone server holds them itself."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def repository(self, namespace: str, name: str) -> Body:
        return await self._store.get(REPOSITORY.resource, namespace, name)

    async def secret(self, namespace: str, name: str) -> Body:
        return await self._store.get(SECRET.resource, namespace, name)


def secret_data(secret: Body) -> dict[str, str]:
    """A Secret's ``data`` decoded: key -> text; raises BadRequest for a value that is not base64 text."""
    decoded: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            decoded[key] = base64.b64decode(value).decode()
        except (binascii.Error, UnicodeDecodeError, TypeError):
            raise BadRequest(f'secret "{secret["metadata"]["name"]}" key {key!r} is not base64 text') from None
    return decoded


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
    spec: StorageSpec
    adapter: RepositoryAdapter
    closer: AsyncExitStack
    write_lock: trio.Lock = field(default_factory=trio.Lock)
    synced_version: str = ""
    sync_lock: trio.Lock = field(default_factory=trio.Lock)


def conflicting_repository(candidate: Body, location: StorageLocation,
                           others: list[tuple[StorageLocation, Body]]) -> tuple[StorageLocation, Body] | None:
    """Another Repository that would serve the same packages (Porch's webhook rules), with its location.

    ``others`` are registered in the same storage as ``location`` (``candidate``'s); one
    conflicts when: its directory is the same and it is in the same namespace, or one of
    the two is registered at the root and the other is not, or one directory is nested in
    the other. The same directory in different namespaces is fine. Porch states these
    rules for git (URL, branch, directory); they hold for an OCI registry's paths alike.
    """
    namespace, name = candidate["metadata"].get("namespace", ""), candidate["metadata"]["name"]
    directory = location.directory
    for other_location, other in others:
        same_namespace = other["metadata"].get("namespace", "") == namespace
        if other_location.store != location.store or (same_namespace and other["metadata"]["name"] == name):
            continue
        other_directory = other_location.directory
        if directory == other_directory:
            if same_namespace:
                return other_location, other
            continue
        if not directory or not other_directory:
            return other_location, other
        if directory.startswith(other_directory + "/") or other_directory.startswith(directory + "/"):
            return other_location, other
    return None


def latest_numbers(revisions: list[Revision]) -> dict[str, int]:
    """Per package path, the highest published revision number (the one labelled latest)."""
    by_package: dict[str, list[tuple[str, int]]] = {}
    for revision in revisions:
        by_package.setdefault(revision.package, []).append((revision.lifecycle, revision.revision))
    numbers = {package: latest_revision(pairs) for package, pairs in by_package.items()}
    return {package: number for package, number in numbers.items() if number}


class Repositories:
    """The handles of registered repositories and the sync of each into the store."""

    def __init__(self, store: Store, storages: AdapterFactory, source: RepositorySource | None = None) -> None:
        self._store = store
        self._storages = storages
        self._source = source or StoreRepositorySource(store)
        self._handles: dict[tuple[str, str], RepositoryHandle] = {}
        self._opening: dict[tuple[str, str], trio.Lock] = {}

    async def handle(self, namespace: str, name: str) -> RepositoryHandle:
        """The handle of a registered repository, (re)opening its adapter when its spec changed.

        Opening fetches from the git server, so each repository has its own opening lock:
        a repository whose server hangs delays only the requests that need it.
        """
        repository = await self._source.repository(namespace, name)
        generation = int(repository["metadata"].get("generation", 1))
        key = (namespace, name)
        async with self._opening.setdefault(key, trio.Lock()):
            handle = self._handles.get(key)
            if handle is not None and handle.generation == generation:
                return handle
            storage = self._storage(repository)
            spec = storage.parse(repository)
            credentials = await self._credentials(namespace, spec.secret_name,
                                                  f"repository {name!r} ({spec.secret_field})")
            if handle is not None:
                await handle.closer.aclose()
            closer = AsyncExitStack()
            adapter = await closer.enter_async_context(storage.open(spec, credentials))
            handle = RepositoryHandle(namespace, name, generation, spec, adapter, closer)
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

    async def drop_orphans(self) -> list[tuple[str, str]]:
        """Drop the package objects of Repositories that are gone; return which repositories those were.

        A Repository's objects leave the store when its DELETED event is handled; a process
        killed between the delete and that clean-up leaves them behind, and no later event
        names that Repository again. This runs at every start, so it asks the store for one
        object that names no registered Repository (a field-selected list of one item, which
        the store answers without handing over every object) rather than reading every
        package. A candidate's Repository is looked up again before its objects are dropped,
        so that one registered after the first list is never swept. PackageRevisionResources
        need no query of their own: they are written and deleted with their PackageRevision.
        """
        registered: dict[str, set[str]] = {}
        for item in (await self._store.list(ListQuery(REPOSITORY.resource))).items:
            registered.setdefault(item["metadata"].get("namespace", ""), set()).add(item["metadata"]["name"])
        orphans: list[tuple[str, str]] = []
        for kind in (PACKAGE_REVISION, PACKAGE):
            while (found := await self._one_unregistered(kind, registered)) is not None:
                namespace, name = found
                try:
                    await self._store.get(REPOSITORY.resource, namespace, name)
                    registered.setdefault(namespace, set()).add(name)  # registered since the first list
                    continue
                except NotFound:
                    pass
                if found in orphans:  # its objects outlived forget (written meanwhile): next start
                    log.warning("repository %s/%s: objects remain after dropping them; leaving them for now",
                                namespace, name)
                    break
                log.warning("repository %s/%s is gone but its packages were left in the store; dropping them",
                            namespace, name)
                await self.forget(namespace, name)
                orphans.append(found)
        return sorted(orphans)

    async def _one_unregistered(self, kind: Kind, registered: Mapping[str, set[str]]) -> tuple[str, str] | None:
        """(namespace, spec.repository) of one ``kind`` object whose Repository is not in ``registered``."""
        repository = ("spec", "repository")
        queries = [ListQuery(kind.resource, namespace, fields=tuple(FieldMatch(repository, "!=", name)
                                                                    for name in sorted(names)), limit=1)
                   for namespace, names in sorted(registered.items())]
        queries.append(ListQuery(kind.resource, fields=tuple(FieldMatch(("metadata", "namespace"), "!=", namespace)
                                                             for namespace in sorted(registered)), limit=1))
        for query in queries:
            for item in (await self._store.list(query)).items:
                return item["metadata"].get("namespace", ""), str((item.get("spec") or {}).get("repository") or "")
        return None

    async def aclose(self) -> None:
        handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            await handle.closer.aclose()

    async def read_upstream(self, namespace: str, upstream: Body) -> Upstream:
        """Files and ``upstreamLock`` of a clone task's unregistered upstream (its ``upstreamRef``).

        The storage of the upstream's type parses and reads it; the Secret it names is read
        from ``namespace``.
        """
        storage = self._storage_of_type(upstream.get("type") or "git", "the clone task's upstream")
        spec = storage.parse_upstream(upstream)
        credentials = await self._credentials(namespace, spec.secret_name, "the clone task's secretRef")
        return await storage.read_upstream(spec, credentials)

    def location(self, repository: Body) -> StorageLocation | None:
        """Where a Repository's packages live, as its storage says; None when its spec is not one
        this server can parse (validation or the Ready condition says what is wrong)."""
        storage = self._storages.get((repository.get("spec") or {}).get("type"))
        if storage is None:
            return None
        try:
            return storage.location(storage.parse(repository))
        except BadRequest:
            return None

    def _storage(self, repository: Body) -> Storage:
        return self._storage_of_type((repository.get("spec") or {}).get("type"),
                                     f"repository {repository['metadata']['name']!r}")

    def _storage_of_type(self, kind: Any, what: str) -> Storage:
        storage = self._storages.get(kind) if isinstance(kind, str) else None
        if storage is None:
            served = " and ".join(sorted(self._storages))
            raise BadRequest(f"{what} has type {kind!r}; this server stores packages in {served} repositories only")
        return storage

    async def _credentials(self, namespace: str, secret_name: str, named_by: str) -> Credentials:
        """The credentials of the Secret ``secret_name`` (none when it is empty)."""
        if not secret_name:
            return Credentials()
        try:
            secret = await self._source.secret(namespace, secret_name)
        except NotFound:
            raise NotFound(f'secret "{secret_name}" named by {named_by} does not exist in namespace '
                           f'"{namespace}"') from None
        return Credentials.from_secret(secret_data(secret))

    async def sync(self, namespace: str, name: str, *, force: bool = False) -> SyncResult:
        """Fetch the repository and make the store match it, in one transaction."""
        handle = await self.handle(namespace, name)
        async with handle.sync_lock:
            version = await handle.adapter.fetch()
            snapshot = await handle.adapter.snapshot()
            if version == handle.synced_version and not force:
                return SyncResult(len(snapshot.packages), snapshot.branch_commit, version, 0)
            repository = await self._source.repository(namespace, name)
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
            is_latest = carries_latest_label(revision.lifecycle, revision.revision, latest.get(revision.package, 0))
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

