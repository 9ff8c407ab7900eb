"""Upstream moves: a published downstream gets an upgrade draft; a draft downstream cannot follow."""

from __future__ import annotations

from typing import Any

from tests.controllers.variants import (
    blueprint_and_deploy,
    condition,
    create_variant,
    eventually,
    files_of,
    get_variant,
    load,
    package_revisions,
    settled,
)
from tests.engine.conftest import Porch
from tests.parts.git_server import package_files

V2 = {"basens/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: basens\ndata:\n  k: v2\n",
      "basens/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  new: \"yes\"\n"}


async def test_a_new_upstream_revision_makes_an_upgrade_draft_of_the_published_downstream(porch: Porch) -> None:
    blueprints = await blueprint_and_deploy(porch)
    await create_variant(porch, "site-u", packageContext={"data": {"region": "eu"}})
    await settled(porch, "site-u")
    [draft] = await package_revisions(porch, "deploy", "site-u")
    published = await porch.publish(draft)

    blueprints.commit(V2, tags=["basens/v2"])
    await porch.sync_now("blueprints")

    async def upgraded() -> dict[str, Any] | None:
        variant = await get_variant(porch, "site-u")
        targets = [t["name"] for t in (variant.get("status") or {}).get("downstreamTargets") or []]
        return variant if targets == ["deploy.site-u.packagevariant-2"] else None
    done = await eventually(upgraded)
    assert condition(done, "Ready")["status"] == "True"
    revisions = await package_revisions(porch, "deploy", "site-u")
    assert [r["metadata"]["name"] for r in revisions] == ["deploy.site-u.packagevariant-1",
                                                          "deploy.site-u.packagevariant-2"]
    upgrade = revisions[1]
    assert upgrade["spec"]["lifecycle"] == "Draft"
    assert upgrade["spec"]["tasks"][0] == {"type": "upgrade", "upgrade": {
        "oldUpstreamRef": {"name": "blueprints.basens.v1"}, "newUpstreamRef": {"name": "blueprints.basens.v2"},
        "localPackageRevisionRef": {"name": published["metadata"]["name"]}, "strategy": "resource-merge"}}
    assert upgrade["status"]["upstreamLock"]["git"]["ref"] == "basens/v2"
    files = await files_of(porch, upgrade["metadata"]["name"])
    assert load(files["cm.yaml"])["data"] == {"k": "v2"}
    assert load(files["extra.yaml"])["data"] == {"new": "yes"}
    assert load(files["package-context.yaml"])["data"]["region"] == "eu"


async def test_a_draft_downstream_cannot_follow_its_upstream(porch: Porch) -> None:
    blueprints = await blueprint_and_deploy(porch)
    await create_variant(porch, "site-d")
    await settled(porch, "site-d")
    blueprints.commit(package_files("basens", extra={"more.yaml": V2["basens/extra.yaml"]}), tags=["basens/v2"])
    await porch.sync_now("blueprints")
    failed = await settled(porch, "site-d", ready="False")
    assert condition(failed, "Ready")["message"] == \
        'cannot update upstream of downstream "deploy.site-d.packagevariant-1" when it is not published'
    assert len(await package_revisions(porch, "deploy", "site-d")) == 1
