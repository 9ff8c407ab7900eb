"""The PackageVariant controller through the API, against a real git server.

Porch's controller test cases (packagevariant_controller_test.go, injection_test.go)
ported to the running server: what a variant makes of its downstream, and what it
leaves alone.
"""

from __future__ import annotations

from tests.controllers.variants import (
    blueprint_and_deploy,
    condition,
    create_variant,
    files_of,
    load,
    package_revisions,
    patch_variant,
    settled,
)
from tests.engine.conftest import Porch

SET_LABELS = "gcr.io/kpt-fn/set-labels:v0.2.0"
SET_ANNOTATIONS = "gcr.io/kpt-fn/set-annotations:v0.1.4"


async def test_a_variant_clones_its_upstream_with_its_labels_annotations_and_context(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    variant = await create_variant(
        porch, "site-a", labels={"site": "a"}, annotations={"owner": "team-a"},
        packageContext={"data": {"region": "eu", "zone": "1"}, "removeKeys": ["absent"]})
    assert variant["spec"]["adoptionPolicy"] == "adoptNone" and variant["spec"]["deletionPolicy"] == "delete"
    done = await settled(porch, "site-a")
    assert condition(done, "Stalled") | {"lastTransitionTime": ""} == {
        "type": "Stalled", "status": "False", "reason": "Valid", "message": "all validation checks passed",
        "lastTransitionTime": "", "observedGeneration": 1}
    assert condition(done, "Ready")["reason"] == "NoErrors"
    assert condition(done, "Ready")["message"] == "successfully ensured downstream package variant"
    assert "config.porch.kpt.dev/packagevariants" in done["metadata"]["finalizers"]
    [draft] = await package_revisions(porch, "deploy", "site-a")
    assert draft["metadata"]["name"] == "deploy.site-a.packagevariant-1"
    assert [t["name"] for t in done["status"]["downstreamTargets"]] == ["deploy.site-a.packagevariant-1"]
    assert draft["spec"]["lifecycle"] == "Draft"
    assert draft["spec"]["tasks"][0]["type"] == "clone"
    assert draft["spec"]["tasks"][0]["clone"]["upstreamRef"]["upstreamRef"] == {"name": "blueprints.basens.v1"}
    assert draft["metadata"]["labels"] == {"site": "a"}
    assert draft["metadata"]["annotations"] == {"owner": "team-a"}
    assert draft["metadata"]["ownerReferences"] == [{
        "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "PackageVariant", "name": "site-a",
        "uid": done["metadata"]["uid"], "controller": True}]
    files = await files_of(porch, draft["metadata"]["name"])
    assert load(files["package-context.yaml"])["data"] == {
        "name": "site-a", "package-path": "site-a", "region": "eu", "zone": "1"}
    assert load(files["Kptfile"])["upstream"]["git"]["ref"] == "basens/v1"


async def test_pipeline_functions_go_first_named_after_the_variant(porch: Porch) -> None:
    kptfile = ("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: basens\n  annotations:\n"
               "    config.kubernetes.io/local-config: \"true\"\npipeline:\n  mutators:\n"
               f"  - image: {SET_ANNOTATIONS}\n    configMap:\n      from: upstream\n")
    await blueprint_and_deploy(porch, upstream_files={
        "basens/Kptfile": kptfile,
        "basens/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: basens\ndata:\n  k: v\n"})
    await create_variant(porch, "site-b", pipeline={
        "mutators": [{"image": SET_LABELS, "name": "label", "configMap": {"env": "prod"}}],
        "validators": [{"image": SET_LABELS, "configMap": {"checked": "yes"}}]})
    await settled(porch, "site-b")
    [draft] = await package_revisions(porch, "deploy", "site-b")
    files = await files_of(porch, draft["metadata"]["name"])
    pipeline = load(files["Kptfile"])["pipeline"]
    assert [f.get("name") for f in pipeline["mutators"]] == ["PackageVariant.site-b.label.0", None]
    assert pipeline["mutators"][1]["image"] == SET_ANNOTATIONS
    assert [f["name"] for f in pipeline["validators"]] == ["PackageVariant.site-b..0"]
    rendered = load(files["cm.yaml"])
    assert rendered["metadata"]["labels"]["env"] == "prod"
    assert rendered["metadata"]["annotations"]["from"] == "upstream"

    # A changed pipeline replaces the variant's functions and keeps the package's own.
    await patch_variant(porch, "site-b", {"pipeline": {
        "mutators": [{"image": SET_LABELS, "name": "tier", "configMap": {"tier": "gold"}}], "validators": None}})
    await settled(porch, "site-b")
    [same_draft] = await package_revisions(porch, "deploy", "site-b")
    assert same_draft["metadata"]["name"] == draft["metadata"]["name"]
    pipeline = load((await files_of(porch, draft["metadata"]["name"]))["Kptfile"])["pipeline"]
    assert [f.get("name") for f in pipeline["mutators"]] == ["PackageVariant.site-b.tier.0", None]
    assert "validators" not in pipeline


async def test_a_steady_variant_writes_nothing(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    await create_variant(porch, "steady", packageContext={"data": {"region": "eu"}})
    await settled(porch, "steady")
    [draft] = await package_revisions(porch, "deploy", "steady")
    refs = porch.git.refs("deploy")
    # A spec change that asks nothing of the package: the controller runs and writes only the status.
    await patch_variant(porch, "steady", {"deletionPolicy": "orphan"})
    after = await settled(porch, "steady")
    assert after["metadata"]["generation"] == 2
    [same] = await package_revisions(porch, "deploy", "steady")
    assert same["metadata"]["resourceVersion"] == draft["metadata"]["resourceVersion"]
    assert porch.git.refs("deploy") == refs
