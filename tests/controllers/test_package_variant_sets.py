"""The PackageVariantSet controller through the API: targets of each kind, CEL, updates, deletions.

Ported from Porch's packagevariantset controller tests (unroll of targets, ensure of the
variants: create, update in place, delete, the hashed long name) and its render tests
where they need the server (the ``repository`` variable, ``target`` of each kind).
"""

from __future__ import annotations

from typing import Any

from tests.controllers.variant_sets import OWNER_LABEL, SETS, UPSTREAM, VariantSets, condition


async def test_listed_repositories_fan_out_with_package_names_and_cel(sets: VariantSets) -> None:
    await sets.downstream("cluster-01", {"env": "dev"})
    await sets.downstream("cluster-02", {"env": "prod"})
    created = await sets.create("example", {"upstream": UPSTREAM, "targets": [{
        "repositories": [{"name": "cluster-01", "packageNames": ["foo-01", "foo-02"]}, {"name": "cluster-02"}],
        "template": {"downstream": {"packageExpr": "target.package + '-' + repository.labels['env']"},
                     "annotationExprs": [{"key": "upstream", "valueExpr": "upstream.name"}]}}]})
    ready = await sets.wait_ready("example")
    assert condition(ready, "Stalled") | {"lastTransitionTime": ""} == {
        "type": "Stalled", "status": "False", "reason": "Valid", "message": "all validation checks passed",
        "lastTransitionTime": "", "observedGeneration": 1}
    assert condition(ready, "Ready")["message"] == "package variants successfully reconciled"
    variants = await sets.variants(created)
    assert set(variants) == {"example-cluster-01-foo-01-dev", "example-cluster-01-foo-02-dev",
                             "example-cluster-02-basens-prod"}
    variant = variants["example-cluster-01-foo-02-dev"]
    assert variant["spec"]["upstream"] == UPSTREAM
    assert variant["spec"]["downstream"] == {"repo": "cluster-01", "package": "foo-02-dev"}
    assert variant["spec"]["annotations"] == {"upstream": "blueprints.basens.v1"}
    metadata = variant["metadata"]
    assert metadata["labels"] == {OWNER_LABEL: created["metadata"]["uid"]}
    assert metadata["finalizers"] == ["config.porch.kpt.dev/packagevariants"]
    assert metadata["ownerReferences"] == [{"apiVersion": "config.porch.kpt.dev/v1alpha2",
                                            "kind": "PackageVariantSet", "name": "example",
                                            "uid": created["metadata"]["uid"], "controller": True}]


async def test_repository_selector_follows_labels_in_and_out(sets: VariantSets) -> None:
    await sets.downstream("edge-1", {"tier": "edge", "region": "eu"})
    await sets.downstream("edge-2", {"tier": "edge", "region": "us"})
    await sets.downstream("core-1", {"tier": "core", "region": "eu"})
    created = await sets.create("sites", {"upstream": UPSTREAM, "targets": [{
        "repositorySelector": {"matchLabels": {"tier": "edge"}},
        "template": {"labels": {"pkg-type": "site", "region": "none"},
                     "labelExprs": [{"key": "region", "valueExpr": "repository.labels['region']"},
                                    {"keyExpr": "target.labels['region'] + '-site'", "value": "yes"}],
                     "packageContext": {"data": {"tier": "edge"},
                                        "dataExprs": [{"key": "site", "valueExpr": "target.name"}],
                                        "removeKeys": ["old"], "removeKeyExprs": ["'stale-' + repoDefault"]},
                     "injectors": [{"kind": "ConfigMap", "nameExpr": "target.name + '-config'"}],
                     "pipeline": {"mutators": [{
                         "image": "ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0",
                         "configMap": {"site": "none", "fixed": "1"},
                         "configMapExprs": [{"key": "site", "valueExpr": "repository.name"}]}]}}}]})
    await sets.wait_ready("sites")
    variants = await sets.live_variants(created)
    assert set(variants) == {"sites-edge-1-basens", "sites-edge-2-basens"}
    spec = variants["sites-edge-2-basens"]["spec"]
    assert spec["labels"] == {"pkg-type": "site", "region": "us", "us-site": "yes"}
    assert spec["packageContext"] == {"data": {"tier": "edge", "site": "edge-2"},
                                      "removeKeys": ["old", "stale-edge-2"]}
    assert spec["injectors"] == [{"kind": "ConfigMap", "name": "edge-2-config"}]
    assert spec["pipeline"]["mutators"] == [{"image": "ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0",
                                             "configMap": {"site": "edge-2", "fixed": "1"}}]

    await sets.label_repository("core-1", {"tier": "edge"})
    assert await sets.until(lambda: _names_are(sets, created, {"sites-edge-1-basens", "sites-edge-2-basens",
                                                                "sites-core-1-basens"}))
    kept = (await sets.variants(created))["sites-edge-1-basens"]["metadata"]["uid"]
    await sets.label_repository("edge-2", {"tier": None})
    assert await sets.until(lambda: _names_are(sets, created, {"sites-edge-1-basens", "sites-core-1-basens"}))
    assert (await sets.variants(created))["sites-edge-1-basens"]["metadata"]["uid"] == kept


async def _names_are(sets: VariantSets, created: dict[str, Any], names: set[str]) -> bool:
    return set(await sets.live_variants(created)) == names


async def test_object_selector_targets_any_served_kind_with_cel(sets: VariantSets) -> None:
    await sets.downstream("team-repo")
    for name, role in (("alpha", "dev"), ("beta", "dev"), ("gamma", "ops")):
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": {"role": role}},
                  "stringData": {"k": "v"}}
        await sets.porch.ok(await sets.http.post("/api/v1/namespaces/default/secrets", json=secret), 201)
    created = await sets.create("teams", {"upstream": UPSTREAM, "targets": [{
        "objectSelector": {"apiVersion": "v1", "kind": "Secret", "matchLabels": {"role": "dev"}},
        "template": {"downstream": {"repo": "team-repo", "packageExpr": "target.name + '-shared'"},
                     "labelExprs": [{"key": "role", "valueExpr": "target.labels['role']"}]}}, {
        "objectSelector": {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                           "name": "team-repo"}}]})
    await sets.wait_ready("teams")
    variants = await sets.live_variants(created)
    assert set(variants) == {"teams-team-repo-alpha-shared", "teams-team-repo-beta-shared",
                             "teams-team-repo-basens"}
    assert variants["teams-team-repo-beta-shared"]["spec"]["labels"] == {"role": "dev"}
    # A new object of the selected kind is a new target; one that stops matching is gone.
    delta = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "delta", "labels": {"role": "dev"}}}
    await sets.porch.ok(await sets.http.post("/api/v1/namespaces/default/secrets", json=delta), 201)
    await sets.porch.ok(await sets.http.delete("/api/v1/namespaces/default/secrets/alpha"))
    assert await sets.until(lambda: _names_are(sets, created, {
        "teams-team-repo-beta-shared", "teams-team-repo-delta-shared", "teams-team-repo-basens"}))


async def test_a_changed_set_updates_its_variants_in_place(sets: VariantSets) -> None:
    await sets.downstream("cluster-01")
    created = await sets.create("inplace", {"upstream": UPSTREAM, "targets": [{
        "repositories": [{"name": "cluster-01"}], "template": {"labels": {"color": "red"}}}]})
    await sets.wait_ready("inplace")
    before = (await sets.variants(created))["inplace-cluster-01-basens"]
    await sets.patch_spec("inplace", {"targets": [{"repositories": [{"name": "cluster-01"}],
                                                   "template": {"labels": {"color": "blue"},
                                                                "deletionPolicy": "orphan"}}]})
    await sets.wait_ready("inplace")
    after = (await sets.variants(created))["inplace-cluster-01-basens"]
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["creationTimestamp"] == before["metadata"]["creationTimestamp"]
    assert after["spec"]["labels"] == {"color": "blue"}
    assert after["spec"]["deletionPolicy"] == "orphan"
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1


async def test_a_steady_state_writes_nothing(sets: VariantSets) -> None:
    for name in ("r1", "r2", "r3"):
        await sets.downstream(name, {"fleet": "a"})
    created = await sets.create("steady", {"upstream": UPSTREAM, "targets": [{
        "repositorySelector": {"matchLabels": {"fleet": "a"}}, "template": {"labels": {"x": "y"}}}]})
    ready = await sets.wait_ready("steady")

    async def variants_settled() -> dict[str, str]:
        """The variants' resourceVersions once the PackageVariant controller has written each one's
        status for its generation (it writes them too, after making their drafts)."""
        variants = await sets.variants(created)
        done = all(any(c.get("type") == "Ready" and c.get("observedGeneration") == v["metadata"]["generation"]
                       for c in (v.get("status") or {}).get("conditions") or []) for v in variants.values())
        return {name: v["metadata"]["resourceVersion"] for name, v in variants.items()} if done else {}

    before = await sets.until(variants_settled)
    assert len(before) == 3
    # The same variants written another way: the set is reconciled again (a new generation) and
    # nothing but its status (the observed generation) is written.
    await sets.patch_spec("steady", {"targets": [{"repositorySelector": {"matchLabels": {"fleet": "a"}},
                                                  "template": {"labelExprs": [{"key": "x", "valueExpr": "'y'"}]}}]})
    again = await sets.wait_ready("steady")
    assert again["metadata"]["generation"] == ready["metadata"]["generation"] + 1
    after = {name: v["metadata"]["resourceVersion"] for name, v in (await sets.variants(created)).items()}
    assert after == before


async def test_deleting_a_set_deletes_its_variants(sets: VariantSets) -> None:
    await sets.downstream("cluster-01")
    created = await sets.create("gone", {"upstream": UPSTREAM, "targets": [{"repositories": [{"name": "cluster-01"}]}]})
    await sets.wait_ready("gone")
    assert set(await sets.live_variants(created)) == {"gone-cluster-01-basens"}
    await sets.porch.ok(await sets.http.delete(f"{SETS}/gone"))
    assert await sets.until(lambda: _names_are(sets, created, set()))


async def test_a_long_name_is_cut_and_hashed_as_porch_does(sets: VariantSets) -> None:
    await sets.downstream("dnrepo4")
    package = "supersupersuperloooooooooooooooooooooooooooooooooooooongpkgname"  # 63 characters
    created = await sets.create("my-pvs", {"upstream": UPSTREAM, "targets": [{
        "repositories": [{"name": "dnrepo4", "packageNames": [package]}]}]})
    await sets.wait_ready("my-pvs")
    assert set(await sets.variants(created)) == {"my-pvs-dnrepo4-supersupersuperlooooooooooooooooooooooo-24a05b17"}


async def test_a_workspace_names_the_upstream(sets: VariantSets) -> None:
    await sets.downstream("cluster-01")
    draft = await sets.porch.init("blueprints", "fresh", "ws1")
    assert draft["spec"]["workspaceName"] == "ws1"
    created = await sets.create("by-workspace", {
        "upstream": {"repo": "blueprints", "package": "fresh", "workspaceName": "ws1"},
        "targets": [{"repositories": [{"name": "cluster-01"}],
                     "template": {"annotationExprs": [{"key": "from", "valueExpr": "upstream.name"}]}}]})
    await sets.wait_ready("by-workspace")
    variant = (await sets.variants(created))["by-workspace-cluster-01-fresh"]
    assert variant["spec"]["annotations"] == {"from": "blueprints.fresh.ws1"}
