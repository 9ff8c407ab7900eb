"""A Repository's packages leave the store with it, however its deletion completes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import trio

from porch_embedded.kinds import PACKAGE_REVISION, REPOSITORY
from porch_embedded.store import Delete, ListQuery, open_store
from tests.engine.conftest import Porch
from tests.parts.git_server import GitServer, package_files
from tests.parts.server import start_server

MERGE = {"content-type": "application/merge-patch+json"}


def names(items: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return sorted(item["metadata"]["name"] for item in items)


async def test_releasing_the_last_finalizer_of_a_deleted_repository_removes_its_packages(porch: Porch) -> None:
    porch.git.create_repo("held").commit(package_files("pkg"), tags=["pkg/v1"])
    await porch.register("held")
    assert names(await porch.list_revisions()) == ["held.pkg.main", "held.pkg.v1"]
    packages_url = porch.revisions_url().replace("/packagerevisions", "/packages")
    assert names((await porch.ok(await porch.http.get(packages_url)))["items"]) == ["held.pkg"]
    await porch.ok(await porch.http.patch(porch.repositories_url("held"),
                                          json={"metadata": {"finalizers": ["example.com/hold"]}}, headers=MERGE))

    marked = await porch.ok(await porch.http.delete(porch.repositories_url("held")))
    assert marked["metadata"]["deletionTimestamp"]
    assert names(await porch.list_revisions()) == ["held.pkg.main", "held.pkg.v1"]  # still registered

    await porch.ok(await porch.http.patch(porch.repositories_url("held"), json={"metadata": {"finalizers": None}},
                                          headers=MERGE))
    assert (await porch.http.get(porch.repositories_url("held"))).status_code == 404
    assert await porch.list_revisions() == []
    assert (await porch.ok(await porch.http.get(packages_url)))["items"] == []
    assert (await porch.ok(await porch.http.get(porch.resources_url())))["items"] == []
    # Nothing of it is left registered either: the same git repository registers again.
    again = await porch.register("again", repo="held")
    assert again["metadata"]["name"] == "again"
    assert names(await porch.list_revisions()) == ["again.pkg.main", "again.pkg.v1"]


async def test_packages_left_by_a_crash_after_a_repository_delete_are_dropped_on_the_next_start(
    tmp_path: Path, git_server: GitServer, new_store_url: Callable[[], str],
) -> None:
    """A kill -9 between a Repository's delete and its clean-up leaves its packages; a restart drops them."""
    git_server.create_repo("crashed").commit(package_files("pkg"), tags=["pkg/v1"])
    git_server.create_repo("kept").commit(package_files("other"), tags=["other/v1"])
    data = tmp_path / "data"
    settings = {"store_url": new_store_url(), "function_runner": "none", "sync_interval_s": 3600}
    async with start_server(data, **settings) as server, server.client() as http:
        store_url = server.store_url
        porch = Porch(server, http, git_server)
        await porch.register("crashed")
        await porch.register("kept")
        assert names(await porch.list_revisions()) == ["crashed.pkg.main", "crashed.pkg.v1",
                                                       "kept.other.main", "kept.other.v1"]
        # And one alone in its namespace, which is left with no Repository at all.
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
        assert (await http.post("/api/v1/namespaces", json=namespace)).status_code == 201
        team = Porch(server, http, git_server, namespace="team")
        await team.register("crashed", repo="kept")
        assert names(await team.list_revisions()) == ["crashed.other.main", "crashed.other.v1"]

    # What the crash leaves: the Repository's row is gone, its packages' rows are not.
    async with open_store(store_url, encryption_key=(data / "store.key").read_bytes().strip()) as store:
        await store.apply([Delete(REPOSITORY.resource, "default", "crashed"),
                           Delete(REPOSITORY.resource, "team", "crashed")])
        assert len((await store.list(ListQuery(PACKAGE_REVISION.resource))).items) == 6

    async with start_server(data, **settings) as server, server.client() as http:
        porch = Porch(server, http, git_server)
        with trio.fail_after(30):
            while names(await porch.list_revisions()) != ["kept.other.main", "kept.other.v1"]:
                await trio.sleep(0.1)
        packages_url = porch.revisions_url().replace("/packagerevisions", "/packages")
        assert names((await porch.ok(await porch.http.get(packages_url)))["items"]) == ["kept.other"]
        assert names((await porch.ok(await porch.http.get(porch.resources_url())))["items"]) == [
            "kept.other.main", "kept.other.v1"]
        team = Porch(server, http, git_server, namespace="team")
        with trio.fail_after(30):
            while await team.list_revisions():
                await trio.sleep(0.1)
