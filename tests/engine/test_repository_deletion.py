"""A Repository's packages leave the store with it, however its deletion completes."""

from __future__ import annotations

from tests.engine.conftest import Porch
from tests.parts.git_server import package_files

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
