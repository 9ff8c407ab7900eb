"""Adoption and deletion policies, edit drafts, and a moved downstream (Porch's controller cases)."""

from __future__ import annotations

from tests.controllers.variants import (
    blueprint_and_deploy,
    condition,
    create_variant,
    eventually,
    files_of,
    load,
    package_revisions,
    patch_variant,
    settled,
    variants_url,
)
from tests.engine.conftest import Porch

CLONE = [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}]


async def _gone(porch: Porch, name: str) -> bool:
    return (await porch.http.get(variants_url(porch, name))).status_code == 404


async def test_adopt_existing_takes_over_the_package_and_adopt_none_leaves_it(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    existing = await porch.init("deploy", "adopted", "by-hand", tasks=CLONE)
    await create_variant(porch, "adopted", adoptionPolicy="adoptExisting", labels={"site": "x"},
                         annotations={"note": "adopted"}, packageContext={"data": {"region": "eu"}})
    done = await settled(porch, "adopted")
    [draft] = await package_revisions(porch, "deploy", "adopted")
    assert draft["metadata"]["name"] == existing["metadata"]["name"]  # no new draft
    assert [ref["uid"] for ref in draft["metadata"]["ownerReferences"]] == [done["metadata"]["uid"]]
    assert draft["metadata"]["labels"] == {"site": "x"}
    assert draft["metadata"]["annotations"] == {"note": "adopted"}
    files = await files_of(porch, draft["metadata"]["name"])
    assert load(files["package-context.yaml"])["data"]["region"] == "eu"

    untouched = await porch.init("deploy", "left-alone", "by-hand", tasks=CLONE)
    await create_variant(porch, "left-alone", downstream={"repo": "deploy", "package": "left-alone"})
    failed = await settled(porch, "left-alone", ready="False")
    assert "cannot create a new revision for package \"left-alone\" that already exists" in \
        condition(failed, "Ready")["message"]
    [still] = await package_revisions(porch, "deploy", "left-alone")
    assert still["metadata"]["name"] == untouched["metadata"]["name"]
    assert "ownerReferences" not in still["metadata"]


async def test_deletion_policy_delete_removes_drafts_and_proposes_published_for_deletion(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    await create_variant(porch, "drafty")
    await create_variant(porch, "published")
    await settled(porch, "drafty")
    await settled(porch, "published")
    [published] = await package_revisions(porch, "deploy", "published")
    published = await porch.publish(published)
    for name in ("drafty", "published"):
        await porch.ok(await porch.http.delete(variants_url(porch, name)))
    await eventually(lambda: _gone(porch, "drafty"))
    await eventually(lambda: _gone(porch, "published"))
    assert await package_revisions(porch, "deploy", "drafty") == []
    [proposed] = await package_revisions(porch, "deploy", "published")
    assert proposed["spec"]["lifecycle"] == "DeletionProposed"
    assert "ownerReferences" not in proposed["metadata"]  # it must outlive the variant, for an approver


async def test_deletion_policy_orphan_keeps_the_downstream_without_owner(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    await create_variant(porch, "orphaned", deletionPolicy="orphan")
    await settled(porch, "orphaned")
    await porch.ok(await porch.http.delete(variants_url(porch, "orphaned")))
    await eventually(lambda: _gone(porch, "orphaned"))
    [kept] = await package_revisions(porch, "deploy", "orphaned")
    assert kept["spec"]["lifecycle"] == "Draft"
    assert "ownerReferences" not in kept["metadata"]


async def test_a_moved_downstream_lets_go_of_the_old_one(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    await create_variant(porch, "mover")
    await settled(porch, "mover")
    await patch_variant(porch, "mover", {"downstream": {"package": "moved"}})
    done = await settled(porch, "mover")
    assert await package_revisions(porch, "deploy", "mover") == []
    [moved] = await package_revisions(porch, "deploy", "moved")
    assert [t["name"] for t in done["status"]["downstreamTargets"]] == [moved["metadata"]["name"]]


async def test_changed_mutations_of_a_published_downstream_make_an_edit_draft(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    await create_variant(porch, "site-e", packageContext={"data": {"region": "eu"}})
    await settled(porch, "site-e")
    [draft] = await package_revisions(porch, "deploy", "site-e")
    published = await porch.publish(draft)
    await patch_variant(porch, "site-e", {"packageContext": {"data": {"region": "us"}}})
    done = await settled(porch, "site-e")
    revisions = await package_revisions(porch, "deploy", "site-e")
    assert [r["metadata"]["name"] for r in revisions] == ["deploy.site-e.packagevariant-1",
                                                          "deploy.site-e.packagevariant-2"]
    edit = revisions[1]
    assert edit["spec"]["lifecycle"] == "Draft"
    assert edit["spec"]["tasks"][0] == {"type": "edit", "edit": {"sourceRef": {"name": published["metadata"]["name"]}}}
    assert load((await files_of(porch, edit["metadata"]["name"]))["package-context.yaml"])["data"]["region"] == "us"
    assert load((await files_of(porch, published["metadata"]["name"]))["package-context.yaml"])["data"]["region"] \
        == "eu"
    assert [t["name"] for t in done["status"]["downstreamTargets"]] == [edit["metadata"]["name"]]

    # The latest published downstream, proposed for deletion by hand, is the variant's target: restored.
    second = await porch.publish(edit)
    await porch.set_lifecycle(second, "DeletionProposed")

    async def restored() -> bool:
        current = await porch.ok(await porch.http.get(porch.revisions_url(second["metadata"]["name"])))
        return bool(current["spec"]["lifecycle"] == "Published")
    await eventually(restored)
    assert len(await package_revisions(porch, "deploy", "site-e")) == 2


async def test_a_downstream_that_refuses_deletion_does_not_keep_its_variant(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    await create_variant(porch, "base")
    await settled(porch, "base")
    [draft] = await package_revisions(porch, "deploy", "base")
    await porch.init("deploy", "derived", "ws", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": draft["metadata"]["name"]}}}}])
    await porch.ok(await porch.http.delete(variants_url(porch, "base")))
    await eventually(lambda: _gone(porch, "base"))
    [kept] = await package_revisions(porch, "deploy", "base")  # a clone's upstream: Porch leaves it too
    assert kept["metadata"]["name"] == draft["metadata"]["name"]
