"""The engine facade the API and the controllers hold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from porch_embedded.engine._objects import ObjectService
from porch_embedded.engine._packages import PackageLifecycle
from porch_embedded.engine._previews import PackagePreviews
from porch_embedded.engine._repository_index import RepositoryIndex
from porch_embedded.engine._repositories import (
    AdapterFactory,
    Repositories,
    RepositorySource,
    SyncResult,
    conflicting_repository,
)
from porch_embedded.errors import Conflict, MethodNotAllowed, NotFound, StoreUnavailable
from porch_embedded.kinds import (
    NAMESPACE,
    PACKAGE,
    PACKAGE_REVISION,
    PACKAGE_REVISION_RESOURCES,
    REPOSITORY,
    Body,
    Kind,
)
from porch_embedded.kpt import FunctionEvaluator
from porch_embedded.meta import UserInfo
from porch_embedded.store import Informer, Store, WatchEvent

if TYPE_CHECKING:
    from porch_embedded.engine._cluster import ClusterWrites

__all__ = ["Engine"]

_DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")

FOLLOW_BUDGET_S = 5.0
"""How long a write waits for the engine's informers to handle it before answering anyway.

Events reach them within milliseconds; the budget matters only when the event path
stalls (the database went away right after the write) or a handler keeps failing, and
then the write, already committed, should be answered rather than held: the informer
goes on and handles it when it can."""

ORPHAN_SWEEP_RETRY_S = 5.0
"""How long the start-up sweep of orphaned package objects waits before trying an unreachable store again."""


class Engine:
    """Routes every write to the code that owns its rules.

    API-only kinds (Repository, PackageVariant(Set), Secret, Namespace) go through
    ObjectService's generic semantics; package kinds go through the package lifecycle,
    which writes git first and the store second. What follows from a stored object
    (the repository index, a deleted Repository's clean-up) is done by the engine's
    informers, however the object got there (a delete, the update that releases the last
    finalizer, another replica); a write through this engine returns once they handled it.
    """

    def __init__(self, store: Store, open_adapter: AdapterFactory, evaluate: FunctionEvaluator,
                 source: RepositorySource | None = None) -> None:
        """``source`` says where Repository and Secret objects are read: the store unless told
        otherwise (aggregated mode reads Secrets from the cluster)."""
        self.store = store
        self.objects = ObjectService(store)
        self.repositories = Repositories(store, open_adapter, source)
        self.packages = PackageLifecycle(store, self.repositories, evaluate)
        self.previews = PackagePreviews(store, self.packages, evaluate)
        self.repository_index = RepositoryIndex(self.repositories.location)
        self._informers = {REPOSITORY.resource: Informer(store, REPOSITORY.resource, self._repository_changed,
                                                         name="engine: repositories")}
        self.cluster_writes: ClusterWrites | None = None
        """Aggregated: where writes of the cluster's kinds (PackageVariant, PackageVariantSet) go."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The engine's own background work (its informers) until cancelled."""
        async with trio.open_nursery() as nursery:
            for informer in self._informers.values():
                await nursery.start(informer.run)
            self.repository_index.ready.set()
            nursery.start_soon(self._drop_orphans)
            task_status.started()

    async def _drop_orphans(self) -> None:
        """Once per start: sweep what a crash left of deleted Repositories, waiting out a store outage."""
        while True:
            try:
                await self.repositories.drop_orphans()
                return
            except StoreUnavailable:
                await trio.sleep(ORPHAN_SWEEP_RETRY_S)

    async def _repository_changed(self, event: WatchEvent) -> None:
        """Index every Repository; unregister a deleted one (its adapter, its objects in the store)."""
        self.repository_index.apply(event)
        if event.type == "DELETED":
            metadata = event.object["metadata"]
            await self.repositories.forget(metadata.get("namespace", ""), metadata["name"])

    async def _handled(self, kind: Kind, written: Body, *, dry_run: bool) -> Body:
        """Wait (within FOLLOW_BUDGET_S) until the informer following ``kind`` handled ``written``."""
        informer = self._informers.get(kind.resource)
        if informer is not None and not dry_run:
            metadata = written["metadata"]
            with trio.move_on_after(FOLLOW_BUDGET_S):
                await informer.wait_handled(metadata.get("namespace", ""), metadata["name"],
                                            int(metadata["resourceVersion"]))
        return written

    async def ensure_default_namespaces(self) -> None:
        """Create default, kube-system and kube-public on first start, as a cluster has them."""
        for name in _DEFAULT_NAMESPACES:
            try:
                await self.store.get(NAMESPACE.resource, "", name)
            except NotFound:
                await self.objects.create(NAMESPACE, {"metadata": {"name": name}})

    async def aclose(self) -> None:
        await self.repositories.aclose()

    async def sync_repository(self, namespace: str, name: str) -> SyncResult:
        return await self.repositories.sync(namespace, name)

    async def check_repository(self, namespace: str, name: str) -> None:
        """The repository answers, accepts the credentials, and its branch exists."""
        handle = await self.repositories.handle(namespace, name)
        await handle.adapter.check()

    async def _refuse_conflicting_repository(self, body: Body) -> None:
        await self.repository_index.ready.wait()
        location, others = self.repository_index.same_storage(body)
        conflict = conflicting_repository(body, location, others) if location is not None else None
        if conflict is not None:
            other_location, other = conflict
            raise Conflict(
                f"Repository conflict with existing repository: {other['metadata']['namespace']}/"
                f"{other['metadata']['name']} ({other_location.overlap}): {other_location.advice}",
                details={"name": body["metadata"].get("name", ""), "group": REPOSITORY.group,
                         "kind": REPOSITORY.plural})

    async def create(self, kind: Kind, body: Body, *, user: UserInfo | None = None, dry_run: bool = False) -> Body:
        if kind is PACKAGE_REVISION:
            return await self.packages.create(body, user=user, dry_run=dry_run)
        if kind in (PACKAGE, PACKAGE_REVISION_RESOURCES):
            raise MethodNotAllowed(kind.refusal)
        if self.cluster_writes is not None and self.cluster_writes.owns(kind) and not dry_run:
            return await self.cluster_writes.create(kind, body)
        check = self._refuse_conflicting_repository if kind is REPOSITORY else None
        created = await self.objects.create(kind, body, dry_run=dry_run, check=check)
        return await self._handled(kind, created, dry_run=dry_run)

    async def update(self, kind: Kind, body: Body, *, subresource: str = "", user: UserInfo | None = None,
                     dry_run: bool = False, current: Body | None = None) -> Body:
        if kind in (PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES):
            metadata = body.get("metadata") or {}
            if current is None:
                current = await self.store.get(kind.resource, metadata.get("namespace", ""), metadata.get("name", ""))
            if kind is PACKAGE_REVISION_RESOURCES:
                return await self.packages.update_resources(body, current, user=user, dry_run=dry_run)
            return await self.packages.update(body, current, user=user, dry_run=dry_run,
                                              via="approval" if subresource == "approval" else "update")
        if kind is PACKAGE:
            raise MethodNotAllowed(kind.refusal)
        if self.cluster_writes is not None and self.cluster_writes.owns(kind) and not dry_run:
            return await self.cluster_writes.update(kind, body, subresource=subresource, current=current)
        check = self._refuse_conflicting_repository if kind is REPOSITORY and subresource != "status" else None
        updated = await self.objects.update(kind, body, subresource=subresource, dry_run=dry_run, current=current,
                                            check=check)
        return await self._handled(kind, updated, dry_run=dry_run)

    async def delete(self, kind: Kind, namespace: str, name: str, *, user: UserInfo | None = None,
                     expect_rv: str | None = None, expect_uid: str | None = None, dry_run: bool = False) -> Body:
        if kind is PACKAGE_REVISION:
            current = await self.store.get(kind.resource, namespace, name)
            return await self.packages.delete(current, user=user, expect_rv=expect_rv, expect_uid=expect_uid,
                                              dry_run=dry_run)
        if kind in (PACKAGE, PACKAGE_REVISION_RESOURCES):
            raise MethodNotAllowed(kind.refusal)
        if self.cluster_writes is not None and self.cluster_writes.owns(kind) and not dry_run:
            return await self.cluster_writes.delete(kind, namespace, name)
        deleted = await self.objects.delete(kind, namespace, name, expect_rv=expect_rv, expect_uid=expect_uid,
                                            dry_run=dry_run)
        return await self._handled(kind, deleted, dry_run=dry_run)
