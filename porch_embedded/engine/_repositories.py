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
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from porch_embedded.engine._objects_of_packages import (
    LATEST_LABEL,
    kptfile_of,
    package_body,
    resources_body,
    revision_body,
)
from porch_embedded.engine._lifecycle import carries_latest_label, latest_revision
from porch_embedded.engine._naming import package_object_name, revision_name
from porch_embedded.errors import BadRequest, Conflict, NotFound
from porch_embedded.kinds import PACKAGE, PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, REPOSITORY, SECRET, Body, Kind
from porch_embedded.kpt import KPTFILE, Kptfile
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
    credentials: Credentials = field(default_factory=Credentials)
    watched: Mapping[str, Any] = field(default_factory=dict)
    """The Repository's spec less ``spec.sync`` when the adapter was opened: a change to it reopens."""
    write_lock: trio.Lock = field(default_factory=trio.Lock)
    synced_version: str = ""
    sync_lock: trio.Lock = field(default_factory=trio.Lock)
    synced: dict[str, tuple[str, str]] | None = None
    """What the last sync left in the store, per PackageRevision name: (package, facts that
    decide whether git changed it); None until the first sync builds it from the store."""
    synced_packages: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Per Package object name: (package, latest revision), as the last sync left it."""


SYNC_CHUNK = 500
"""PackageRevisions a sync writes per store transaction (whole packages each), and the page size
it lists the store with: bounds a large first sync's memory to one chunk of files and bodies."""


@dataclass(frozen=True)
class _Pending:
    """A revision a sync must look at: new or changed in git (``revision``) or gone (None)."""

    revision: Revision | None
    object_name: str
    lock: Mapping[str, Any]
    latest: bool
    facts: str


def _facts(lock: Mapping[str, Any], lifecycle: str, revision: int, latest: bool) -> str:
    """What decides whether a stored PackageRevision must change: selfLock, lifecycle, number, label."""
    return f"{json.dumps(lock, sort_keys=True)}|{lifecycle}|{revision}|{int(latest)}"


def _build_changes(repository: Body, pending: list[tuple[_Pending, Body | None, Body | None]],
                   files: list[dict[str, str]]) -> list[Change]:
    """The PackageRevision and PackageRevisionResources writes of changed revisions (blocking: CPU only).

    Revisions of one package often share their Kptfile: each distinct text is parsed once.
    """
    parsed: dict[str, Kptfile | None] = {}
    changes: list[Change] = []
    for (entry, kept, stored_resources), content in zip(pending, files, strict=True):
        assert entry.revision is not None
        text = content.get(KPTFILE)
        if text is None or text not in parsed:
            kptfile = kptfile_of(content)
            if text is not None:
                parsed[text] = kptfile
        else:
            kptfile = parsed[text]
        body = revision_body(repository, entry.revision, kptfile, entry.lock, kept=kept, latest=entry.latest)
        resources = resources_body(body, content, ((stored_resources or {}).get("status") or {}).get("renderStatus"))
        if kept is None:
            changes.append(Create(PACKAGE_REVISION.resource, body))
        else:
            changes.append(Update(PACKAGE_REVISION.resource, body, kept["metadata"]["resourceVersion"]))
        if stored_resources is not None:
            changes.append(Update(PACKAGE_REVISION_RESOURCES.resource, resources,
                                  stored_resources["metadata"]["resourceVersion"]))
        else:
            changes.append(Create(PACKAGE_REVISION_RESOURCES.resource, resources))
    return changes


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

        A new generation that changed only ``spec.sync`` (such as ``porchctl repo sync``
        setting runOnceAt), with the same credentials, keeps the open adapter.

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
            watched = {key: value for key, value in (repository.get("spec") or {}).items() if key != "sync"}
            if handle is not None and (handle.watched, handle.credentials) == (watched, credentials):
                # Only spec.sync changed (a runOnceAt, a schedule): keep the adapter and what the
                # handle knows of the store.
                handle.generation = generation
                return handle
            if handle is not None:
                await handle.closer.aclose()
            closer = AsyncExitStack()
            adapter = await closer.enter_async_context(storage.open(spec, credentials))
            handle = RepositoryHandle(namespace, name, generation, spec, adapter, closer, credentials, watched)
            self._handles[key] = handle
            return handle

    async def forget(self, namespace: str, name: str) -> None:
        """Unregister: close the adapter and drop the repository's objects from the store (not git).

        A sync of the repository that is under way, or queued for its lock, finishes first
        (the lock is taken here, and trio's locks are fair), so no sync of this handle writes
        the objects back after they are dropped.
        """
        async with self._opening.setdefault((namespace, name), trio.Lock()):
            handle = self._handles.pop((namespace, name), None)
        self._opening.pop((namespace, name), None)
        if handle is not None:
            async with handle.sync_lock:
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
        """Fetch the repository and make the store match it (see ``reconcile``)."""
        handle = await self.handle(namespace, name)
        async with handle.sync_lock:
            if force:
                handle.synced = None  # compare every revision with the store, not with the last sync
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

        Costs what changed, not what exists: each revision's facts (selfLock, lifecycle,
        number, latest label) are compared with what the handle recorded at its last
        sync (``RepositoryHandle.synced``), and only revisions that differ are read from
        the store and, when they really changed, from git. A handle's first sync builds
        that record from the store, listed page by page. The files of a revision are read
        only when its commit, lifecycle or number changed (a latest label alone reuses the
        stored files); bodies are built in a worker thread (parsing Kptfiles is CPU work)
        with each distinct Kptfile parsed once.

        Changes go to the store in transactions of whole packages (about ``SYNC_CHUNK``
        revisions each): a package's revisions, its latest label and its Package object
        always change together, and a first sync of 10,000 revisions never holds more
        than one chunk's files and bodies. It relies on the engine's invariant that a
        PackageRevision and its PackageRevisionResources are always written and deleted
        together, in one store transaction.
        """
        namespace, name = handle.namespace, handle.name
        listed = handle.synced is None
        if handle.synced is None:
            handle.synced = await self._stored_revisions(namespace, name)
            handle.synced_packages = await self._stored_packages(namespace, name)
        known, known_packages = handle.synced, handle.synced_packages
        latest = latest_numbers(list(snapshot.revisions))
        todo: dict[str, list[_Pending]] = {}
        seen: set[str] = set()
        for revision in snapshot.revisions:
            object_name = revision_name(name, revision.package, revision.workspace)
            if object_name in seen:
                continue
            seen.add(object_name)
            is_latest = carries_latest_label(revision.lifecycle, revision.revision, latest.get(revision.package, 0))
            lock = handle.adapter.self_lock(revision)
            facts = _facts(lock, revision.lifecycle, revision.revision, is_latest)
            if known.get(object_name, ("", ""))[1] != facts:
                todo.setdefault(revision.package, []).append(_Pending(revision, object_name, lock, is_latest, facts))
        for object_name, (package, _facts_seen) in known.items():
            if object_name not in seen:
                todo.setdefault(package, []).append(_Pending(None, object_name, {}, False, ""))
        packages = {r.package for r in snapshot.revisions}
        for object_name, (package, _latest) in known_packages.items():
            if package not in packages:
                todo.setdefault(package, [])
        for package in packages:
            if known_packages.get(package_object_name(name, package), ("", -1))[1] != latest.get(package, 0):
                todo.setdefault(package, [])

        changed = 0
        batch: list[str] = []
        size = 0
        for package in sorted(todo):
            batch.append(package)
            size += len(todo[package]) or 1
            if size >= SYNC_CHUNK:
                changed += await self._write_packages(handle, repository, batch, todo, packages, latest, listed)
                batch, size = [], 0
        if batch:
            changed += await self._write_packages(handle, repository, batch, todo, packages, latest, listed)
        return changed

    async def _write_packages(self, handle: RepositoryHandle, repository: Body, batch: list[str],
                              todo: Mapping[str, list[_Pending]], packages: set[str], latest: Mapping[str, int],
                              listed: bool) -> int:
        """One store transaction that brings ``batch``'s packages in line with git; how many objects changed.

        ``listed``: the handle's record was read from the store just now, so a name it
        lacks is not stored (no need to ask).
        """
        namespace, name = handle.namespace, handle.name
        known, known_packages = handle.synced, handle.synced_packages
        assert known is not None
        changes: list[Change] = []
        record: dict[str, tuple[str, str] | None] = {}
        to_build: list[tuple[_Pending, Body | None, Body | None]] = []
        for package in batch:
            for pending in todo[package]:
                kept = None if listed and pending.object_name not in known else \
                    await self._stored(PACKAGE_REVISION.resource, namespace, pending.object_name)
                revision = pending.revision
                if revision is None:  # gone from git
                    if kept is not None:
                        changes.append(Delete(PACKAGE_REVISION.resource, namespace, pending.object_name,
                                              expect_rv=kept["metadata"]["resourceVersion"]))
                        changes.append(Delete(PACKAGE_REVISION_RESOURCES.resource, namespace, pending.object_name))
                    record[pending.object_name] = None
                    continue
                record[pending.object_name] = (package, pending.facts)
                if kept is not None and (kept.get("status") or {}).get("selfLock") == pending.lock \
                        and kept["spec"].get("lifecycle") == revision.lifecycle \
                        and kept["spec"].get("revision", 0) == revision.revision:
                    has_label = (kept["metadata"].get("labels") or {}).get(LATEST_LABEL) == "true"
                    if has_label != pending.latest:
                        stored_files = (await self._resources_of(namespace, pending.object_name) or {}).get("spec", {})
                        body = revision_body(repository, revision, kptfile_of(stored_files.get("resources") or {}),
                                             pending.lock, kept=kept, latest=pending.latest)
                        changes.append(Update(PACKAGE_REVISION.resource, body, kept["metadata"]["resourceVersion"]))
                    continue
                stored_resources = await self._resources_of(namespace, pending.object_name) \
                    if kept is not None else None
                to_build.append((pending, kept, stored_resources))
        files = await handle.adapter.read_packages([pending.revision for pending, _, _ in to_build
                                                    if pending.revision is not None])
        changes += await trio.to_thread.run_sync(_build_changes, repository, to_build, files)
        package_record: dict[str, tuple[str, int] | None] = {}
        for package in batch:
            object_name = package_object_name(name, package)
            kept_package = known_packages.get(object_name)
            if package not in packages:
                if kept_package is not None:
                    stored = await self._stored(PACKAGE.resource, namespace, object_name)
                    if stored is not None:
                        changes.append(Delete(PACKAGE.resource, namespace, object_name,
                                              expect_rv=stored["metadata"]["resourceVersion"]))
                package_record[object_name] = None
                continue
            number = latest.get(package, 0)
            package_record[object_name] = (package, number)
            if kept_package is not None and kept_package[1] == number:
                continue
            body = package_body(namespace, name, package, number)
            stored = None if listed and kept_package is None else \
                await self._stored(PACKAGE.resource, namespace, object_name)
            if stored is None:
                changes.append(Create(PACKAGE.resource, body))
            elif stored.get("status") != body["status"]:
                body["metadata"] = {**stored["metadata"]}
                changes.append(Update(PACKAGE.resource, body, stored["metadata"]["resourceVersion"]))
        if changes:
            try:
                await self._store.apply(changes)
            except Conflict:
                log.info("repository %s/%s changed while syncing; the next sync catches up", namespace, name)
                raise
        for object_name, entry in record.items():
            if entry is None:
                known.pop(object_name, None)
            else:
                known[object_name] = entry
        for object_name, package_entry in package_record.items():
            if package_entry is None:
                known_packages.pop(object_name, None)
            else:
                known_packages[object_name] = package_entry
        return len(changes)

    async def _stored(self, resource: str, namespace: str, name: str) -> Body | None:
        try:
            return await self._store.get(resource, namespace, name)
        except NotFound:
            return None

    async def _stored_revisions(self, namespace: str, name: str) -> dict[str, tuple[str, str]]:
        """The repository's stored PackageRevisions as the sync compares them: name -> (package, facts)."""
        record: dict[str, tuple[str, str]] = {}
        async for item in self._pages(PACKAGE_REVISION.resource, namespace, name):
            spec = item["spec"]
            has_label = (item["metadata"].get("labels") or {}).get(LATEST_LABEL) == "true"
            record[item["metadata"]["name"]] = (spec.get("packageName", ""), _facts(
                (item.get("status") or {}).get("selfLock") or {}, spec.get("lifecycle", ""),
                spec.get("revision", 0), has_label))
        return record

    async def _stored_packages(self, namespace: str, name: str) -> dict[str, tuple[str, int]]:
        """The repository's stored Package objects: name -> (package, latest revision)."""
        return {item["metadata"]["name"]: (item["spec"]["packageName"],
                                           (item.get("status") or {}).get("latestRevision", -1))
                async for item in self._pages(PACKAGE.resource, namespace, name)}

    async def _pages(self, resource: str, namespace: str, name: str) -> AsyncIterator[Body]:
        """The repository's objects of ``resource``, read SYNC_CHUNK at a time (a page's bodies are dropped
        before the next is read)."""
        token = ""
        while True:
            page = await self._store.list(ListQuery(resource, namespace, fields=(
                FieldMatch(("spec", "repository"), "=", name),), limit=SYNC_CHUNK, continue_token=token))
            for item in page.items:
                yield item
            token = page.continue_token
            if not token:
                return

    async def _resources_of(self, namespace: str, name: str) -> Body | None:
        try:
            return await self._store.get(PACKAGE_REVISION_RESOURCES.resource, namespace, name)
        except NotFound:
            return None

    def known(self) -> list[tuple[str, str]]:
        return list(self._handles)

