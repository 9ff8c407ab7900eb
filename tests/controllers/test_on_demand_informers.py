"""The variant controllers follow PackageRevisions only while they have something to reconcile.

A server without PackageVariants or PackageVariantSets (most edge deployments) must not
read every PackageRevision at start for them; the first variant (or set) starts following
revisions and still gets reconciled, and the last one gone stops it. Observed through a
store that counts the lists and open watches of each resource.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography.fernet import Fernet

from porch_embedded.controllers import StoreInjectionSource, run_package_variant_sets, run_package_variants
from porch_embedded.engine import Engine
from porch_embedded.kinds import PACKAGE_REVISION, PACKAGE_VARIANT, PACKAGE_VARIANT_SET
from porch_embedded.runners import RunnerSettings, build_function_runner
from porch_embedded.store import ListPage, ListQuery, Store, WatchEvent, WatchQuery, open_store
from tests.controllers.variants import eventually, variant_body

REVISIONS = PACKAGE_REVISION.resource


class CountingStore:
    """A store that counts, per resource, the lists made and the watches open."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.listed: collections.Counter[str] = collections.Counter()
        self.watching: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def list(self, query: ListQuery) -> ListPage:
        self.listed[query.resource] += 1
        return await self._inner.list(query)

    @asynccontextmanager
    async def watch(self, query: WatchQuery) -> AsyncIterator[AsyncIterator[WatchEvent]]:
        self.watching[query.resource] += 1
        try:
            async with self._inner.watch(query) as events:
                yield events
        finally:
            self.watching[query.resource] -= 1


@pytest.fixture
async def counted(tmp_path: Path) -> AsyncIterator[tuple[CountingStore, Engine]]:
    """Both variant controllers running on a counting SQLite store."""
    def no_repositories(access: Any) -> Any:
        raise AssertionError("these tests register no repository")

    async with open_store(f"sqlite:///{tmp_path / 'store.db'}", encryption_key=Fernet.generate_key()) as inner:
        store = CountingStore(inner)
        engine = Engine(store, no_repositories, build_function_runner(RunnerSettings(kind="none")))  # type: ignore[arg-type]
        try:
            await engine.ensure_default_namespaces()
            async with trio.open_nursery() as nursery:
                await nursery.start(run_package_variants, engine, StoreInjectionSource(store))  # type: ignore[arg-type]
                await nursery.start(run_package_variant_sets, engine)
                yield store, engine
                nursery.cancel_scope.cancel()
        finally:
            await engine.aclose()


async def until(check: Callable[[], bool]) -> None:
    async def probe() -> bool:
        return check()
    await eventually(probe)


async def test_without_variants_the_controllers_never_list_package_revisions(
        counted: tuple[CountingStore, Engine]) -> None:
    store, _ = counted
    # Both controllers reported started: their PackageVariant(Set) informers listed, the
    # revision informers were not started.
    assert store.listed[PACKAGE_VARIANT.resource] >= 2 and store.listed[PACKAGE_VARIANT_SET.resource] >= 1
    assert store.listed[REVISIONS] == 0 and store.watching[REVISIONS] == 0


async def test_a_first_variant_is_reconciled_and_the_last_one_gone_stops_following_revisions(
        counted: tuple[CountingStore, Engine]) -> None:
    store, engine = counted
    await engine.create(PACKAGE_VARIANT, {**variant_body("site-a"), "metadata": {"name": "site-a",
                                                                                  "namespace": "default"}})

    async def reconciled() -> dict[str, Any] | None:
        variant = await store.get(PACKAGE_VARIANT.resource, "default", "site-a")
        return variant if (variant.get("status") or {}).get("conditions") else None

    variant = await eventually(reconciled)
    stalled = next(c for c in variant["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and "could not find upstream package revision" in stalled["message"]
    assert store.listed[REVISIONS] >= 1 and store.watching[REVISIONS] == 1

    await engine.delete(PACKAGE_VARIANT, "default", "site-a")  # the controller releases its finalizer
    await until(lambda: store.watching[REVISIONS] == 0)
    listed = store.listed[REVISIONS]

    await engine.create(PACKAGE_VARIANT_SET, {
        "apiVersion": PACKAGE_VARIANT_SET.api_version, "kind": "PackageVariantSet",
        "metadata": {"name": "fleet", "namespace": "default"},
        "spec": {"upstream": {"repo": "blueprints", "package": "basens", "revision": 1},
                 "targets": [{"repositories": [{"name": "cluster-01"}]}]}})
    await until(lambda: store.watching[REVISIONS] == 1)
    assert store.listed[REVISIONS] > listed
    await engine.delete(PACKAGE_VARIANT_SET, "default", "fleet")
    await until(lambda: store.watching[REVISIONS] == 0)
