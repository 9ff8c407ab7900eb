"""The ``upgrade`` task end to end: clone, customise, upstream v2, upgrade, propose, approve, git.

Also Porch's upgrade task tests (pkg/task/upgrade_test.go, pkg/engine/engine_test.go
TestValidateUpgradeTask) as refusals through the API, and one bad-input test per
refusal, each checking that nothing was created (no PackageRevision, no draft branch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.conftest import Porch

KPTFILE = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: basens
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  description: sample description
"""
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: example\n"
CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config # the application's settings
data:
  color: blue
  size: small
"""
LOCAL_ONLY = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local-only\ndata:\n  site: edge-1\n"
ADDED_IN_V2 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added-in-v2\ndata:\n  feature: enabled\n"
LOCAL_PIPELINE = """\
pipeline:
  mutators:
    - image: ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0
      configMap:
        env: prod
"""
IDENTIFIER = "internal.kpt.dev/upstream-identifier"


def upgrade_task(old: str, new: str, local: str, strategy: str | None = None) -> dict[str, Any]:
    upgrade: dict[str, Any] = {"oldUpstreamRef": {"name": old}, "newUpstreamRef": {"name": new},
                               "localPackageRevisionRef": {"name": local}}
    if strategy is not None:
        upgrade["strategy"] = strategy
    return {"type": "upgrade", "upgrade": upgrade}


async def published_downstream(porch: Porch, *, local_pipeline: bool = True) -> None:
    """blueprints.basens.v1 and .v2 published upstream; deploy.my-ns.v1 cloned from v1, customised, published.

    Locally: ``size: large`` in app-config, a new local-only ConfigMap and (optionally) a
    set-labels pipeline. Upstream v2: ``color: green`` in app-config and a new ConfigMap.
    """
    porch.git.create_repo("blueprints").commit(
        {"basens/Kptfile": KPTFILE, "basens/namespace.yaml": NAMESPACE, "basens/app-config.yaml": CONFIG},
        tags=["basens/v1"])
    porch.git.create_repo("deploy").commit({"README.md": "deployments\n"})
    await porch.register("blueprints")
    await porch.register("deploy", deployment=True)
    await porch.init("deploy", "my-ns", "v1", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}])
    files = (await porch.resources("deploy.my-ns.v1"))["spec"]["resources"]
    files["app-config.yaml"] = files["app-config.yaml"].replace("size: small", "size: large")
    files["local-only.yaml"] = LOCAL_ONLY
    if local_pipeline:
        files["Kptfile"] += LOCAL_PIPELINE
    await porch.push_files("deploy.my-ns.v1", files)
    await porch.publish(await porch.ok(await porch.http.get(porch.revisions_url("deploy.my-ns.v1"))))
    await porch.init("blueprints", "basens", "v2", tasks=[{"type": "edit", "edit": {
        "sourceRef": {"name": "blueprints.basens.v1"}}}])
    upstream = (await porch.resources("blueprints.basens.v2"))["spec"]["resources"]
    upstream["app-config.yaml"] = upstream["app-config.yaml"].replace("color: blue", "color: green")
    upstream["added-in-v2.yaml"] = ADDED_IN_V2
    await porch.push_files("blueprints.basens.v2", upstream)
    await porch.publish(await porch.ok(await porch.http.get(porch.revisions_url("blueprints.basens.v2"))))


async def test_upgrade_merges_upstream_v2_into_the_local_package_and_lands_in_git(porch: Porch, tmp_path: Path) -> None:
    await published_downstream(porch)
    v2_lock = (await porch.ok(await porch.http.get(porch.revisions_url("blueprints.basens.v2"))))["status"]["selfLock"]
    draft = await porch.init("deploy", "my-ns", "v2", tasks=[
        upgrade_task("blueprints.basens.v1", "blueprints.basens.v2", "deploy.my-ns.v1")])
    assert draft["metadata"]["name"] == "deploy.my-ns.v2"
    assert draft["spec"]["tasks"][0] == upgrade_task("blueprints.basens.v1", "blueprints.basens.v2",
                                                     "deploy.my-ns.v1")
    assert draft["status"]["upstreamLock"] == {"type": "git", "git": {
        "repo": porch.git.url("blueprints"), "directory": "basens", "ref": "basens/v2",
        "commit": v2_lock["git"]["commit"]}}
    files = (await porch.resources("deploy.my-ns.v2"))["spec"]["resources"]
    assert set(files) == {"Kptfile", "README.md", "package-context.yaml", "namespace.yaml", "app-config.yaml",
                          "local-only.yaml", "added-in-v2.yaml"} - {"README.md"}
    config = yaml.safe_load(files["app-config.yaml"])
    assert config["data"] == {"color": "green", "size": "large"}  # upstream's change and the local one
    assert "# the application's settings" in files["app-config.yaml"]
    assert yaml.safe_load(files["local-only.yaml"])["data"] == {"site": "edge-1"}
    added = yaml.safe_load(files["added-in-v2.yaml"])
    assert added["data"] == {"feature": "enabled"}
    assert added["metadata"]["annotations"][IDENTIFIER] == "|ConfigMap|default|added-in-v2"
    # The render after the merge ran the local pipeline over upstream's new resource too.
    assert added["metadata"]["labels"] == {"env": "prod"}
    context = yaml.safe_load(files["package-context.yaml"])
    assert context["data"] == {"name": "my-ns", "package-path": "my-ns"}
    kptfile = yaml.safe_load(files["Kptfile"])
    assert kptfile["metadata"]["name"] == "my-ns"
    assert kptfile["upstream"] == {"type": "git", "git": {
        "repo": porch.git.url("blueprints"), "directory": "basens", "ref": "basens/v2"}}
    assert kptfile["upstreamLock"] == draft["status"]["upstreamLock"]
    assert kptfile["pipeline"]["mutators"][0]["configMap"] == {"env": "prod"}
    assert kptfile["status"]["conditions"] == [{"type": "Rendered", "status": "True", "reason": "RenderSuccess"}]

    published = await porch.publish(draft)
    assert (published["spec"]["lifecycle"], published["spec"]["revision"]) == ("Published", 2)
    in_git = porch.git.files_at("deploy", "my-ns/v2", "my-ns", tmp_path / "clone")
    assert in_git == (await porch.resources("deploy.my-ns.v2"))["spec"]["resources"]
    assert yaml.safe_load(in_git["app-config.yaml"])["data"] == {"color": "green", "size": "large"}
    assert yaml.safe_load(in_git["Kptfile"])["upstreamLock"]["git"]["ref"] == "basens/v2"

    # The new upstream is now followed by deploy.my-ns.v2: it cannot be deleted (Porch counts newUpstreamRef).
    v2 = await porch.set_lifecycle(
        await porch.ok(await porch.http.get(porch.revisions_url("blueprints.basens.v2"))), "DeletionProposed",
        via="approval")
    refused = await porch.http.delete(porch.revisions_url(v2["metadata"]["name"]))
    assert refused.status_code == 403, refused.text
    # Only deploy.my-ns.v2: its branch placeholder repeats its tasks but does not count.
    assert refused.json()["message"] == ('packagerevisions.porch.kpt.dev "blueprints.basens.v2" is forbidden: cannot '
                                         "delete package revision, it is referenced as upstream by: deploy.my-ns.v2")


@pytest.mark.parametrize("strategy", ["force-delete-replace", "copy-merge"])
async def test_upgrade_strategies_that_take_upstreams_files(porch: Porch, strategy: str) -> None:
    await published_downstream(porch, local_pipeline=False)
    await porch.init("deploy", "my-ns", "v2", tasks=[
        upgrade_task("blueprints.basens.v1", "blueprints.basens.v2", "deploy.my-ns.v1", strategy)])
    files = (await porch.resources("deploy.my-ns.v2"))["spec"]["resources"]
    assert yaml.safe_load(files["app-config.yaml"])["data"] == {"color": "green", "size": "small"}
    assert "added-in-v2.yaml" in files
    # force-delete-replace drops what upstream does not have; copy-merge keeps local-only files.
    assert ("local-only.yaml" in files) is (strategy == "copy-merge")
    assert yaml.safe_load(files["Kptfile"])["upstreamLock"]["git"]["ref"] == "basens/v2"


async def test_fast_forward_upgrade_of_an_unchanged_package(porch: Porch) -> None:
    # The merge ignores the upstream identifiers a clone writes on resources, not yet the one on the Kptfile:
    # this upstream's Kptfile already carries it, as a blueprint that was itself cloned does.
    marked_kptfile = KPTFILE.replace('    config.kubernetes.io/local-config: "true"\n', (
        '    config.kubernetes.io/local-config: "true"\n'
        f"    {IDENTIFIER}: kpt.dev|Kptfile|default|basens\n"))
    seeder = porch.git.create_repo("blueprints")
    seeder.commit({"basens/Kptfile": marked_kptfile, "basens/app-config.yaml": CONFIG}, tags=["basens/v1"])
    seeder.commit({"basens/app-config.yaml": CONFIG.replace("color: blue", "color: green")}, tags=["basens/v2"])
    porch.git.create_repo("deploy").commit({"README.md": "deployments\n"})
    await porch.register("blueprints")
    await porch.register("deploy")
    clone = await porch.init("deploy", "basens", "v1", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}])
    await porch.publish(clone)
    # What the clone wrote (upstream, identifiers, render status) is not a local change; a new Kptfile name
    # would be, for kpt, so the downstream package keeps upstream's name.
    draft = await porch.init("deploy", "basens", "v2", tasks=[
        upgrade_task("blueprints.basens.v1", "blueprints.basens.v2", "deploy.basens.v1", "fast-forward")])
    files = (await porch.resources(draft["metadata"]["name"]))["spec"]["resources"]
    assert yaml.safe_load(files["app-config.yaml"])["data"] == {"color": "green", "size": "small"}
    assert draft["status"]["upstreamLock"]["git"]["ref"] == "basens/v2"


# ---- refusals ----------------------------------------------------------------------------------

async def refused(porch: Porch, task: dict[str, Any], code: int, message: str, *, repository: str = "deploy",
                  package: str = "my-ns", workspace: str = "v2") -> dict[str, Any]:
    """Create an upgrade revision that must be refused with ``code`` and ``message``; nothing may be created."""
    before = {r["metadata"]["name"] for r in await porch.list_revisions()}
    refs = porch.git.refs(repository)
    response = await porch.http.post(porch.revisions_url(), json={
        "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "spec": {"repository": repository, "packageName": package, "workspaceName": workspace, "tasks": [task]}})
    assert response.status_code == code, response.text
    status = dict(response.json())
    assert status["kind"] == "Status" and status["code"] == code
    assert status["message"] == message, status["message"]
    assert {r["metadata"]["name"] for r in await porch.list_revisions()} == before
    assert porch.git.refs(repository) == refs
    return status


async def test_each_bad_upgrade_reference_or_strategy_is_refused_and_creates_nothing(porch: Porch) -> None:
    await published_downstream(porch, local_pipeline=False)
    # A draft of the upstream package and one of the downstream package, both unpublished.
    await porch.init("blueprints", "basens", "v3", tasks=[{"type": "edit", "edit": {
        "sourceRef": {"name": "blueprints.basens.v2"}}}])
    await porch.init("deploy", "my-ns", "draft", tasks=[{"type": "edit", "edit": {
        "sourceRef": {"name": "deploy.my-ns.v1"}}}])
    # Another upstream package, and another downstream package.
    await porch.init("blueprints", "other", "v1")
    await porch.publish(await porch.ok(await porch.http.get(porch.revisions_url("blueprints.other.v1"))))
    await porch.init("deploy", "elsewhere", "v1", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}])
    await porch.publish(await porch.ok(await porch.http.get(porch.revisions_url("deploy.elsewhere.v1"))))
    old, new, local = "blueprints.basens.v1", "blueprints.basens.v2", "deploy.my-ns.v1"

    await refused(porch, {"type": "upgrade"}, 400,
                  'upgrade field not set for task of type "upgrade": give spec.tasks[0].upgrade.oldUpstreamRef, '
                  ".newUpstreamRef and .localPackageRevisionRef")
    await refused(porch, upgrade_task(old, "", local), 400,
                  "spec.tasks[0].upgrade.newUpstreamRef.name is required: the name of a published PackageRevision")
    status = await refused(porch, upgrade_task(old, new, local, "three-way"), 422,
                           'spec.tasks[0].upgrade.strategy: Unsupported value: "three-way": supported values: '
                           '"resource-merge", "fast-forward", "force-delete-replace", "copy-merge"')
    assert status["details"]["causes"] == [{
        "reason": "FieldValueNotSupported", "field": "spec.tasks[0].upgrade.strategy",
        "message": 'Unsupported value: "three-way": supported values: "resource-merge", "fast-forward", '
                   '"force-delete-replace", "copy-merge"'}]
    # Porch's TestApplyErrorInvalidUpstreamUprade: references to nothing.
    await refused(porch, upgrade_task("original", "upstream", "destination"), 404,
                  'error fetching the resources for package "my-ns" with ref {Name:original}: '
                  'cannot find package revision "original"')
    await refused(porch, upgrade_task(old, "blueprints.basens.v9", local), 404,
                  'error fetching revision for target upstream "blueprints.basens.v9": '
                  'cannot find package revision "blueprints.basens.v9"')
    await refused(porch, upgrade_task(old, new, "deploy.my-ns.v9"), 404,
                  'error fetching revision "deploy.my-ns.v9" to be upgraded: '
                  'cannot find package revision "deploy.my-ns.v9"')
    # Porch's TestUpgradeToPlaceholderAsNewUpstream and TestUpgradePlaceholderAsLocal.
    await refused(porch, upgrade_task(old, "blueprints.basens.main", local), 422,
                  "target upstream revision may not be the placeholder package revision "
                  "blueprints/blueprints.basens.main")
    await refused(porch, upgrade_task(old, new, "deploy.my-ns.main"), 422,
                  "source revision may not be the placeholder package revision deploy/deploy.my-ns.main")
    # Porch's TestValidateUpgradeTask: every source must be published.
    for unpublished, task in (("deploy.my-ns.draft", upgrade_task(old, new, "deploy.my-ns.draft")),
                              ("blueprints.basens.v3", upgrade_task(old, "blueprints.basens.v3", local)),
                              ("blueprints.basens.v3", upgrade_task("blueprints.basens.v3", new, local))):
        await refused(porch, task, 422, f'all source PackageRevisions of upgrade task must be published, '
                                        f'"{unpublished}" is not')
    await refused(porch, upgrade_task(old, new, "deploy.elsewhere.v1"), 422,
                  'spec.tasks[0].upgrade.localPackageRevisionRef must be a revision of the package being created, '
                  'deploy/my-ns; "deploy.elsewhere.v1" is a revision of deploy/elsewhere')
    await refused(porch, upgrade_task(old, "blueprints.other.v1", local), 422,
                  "spec.tasks[0].upgrade.oldUpstreamRef and .newUpstreamRef must be revisions of the same upstream "
                  'package: "blueprints.basens.v1" is a revision of blueprints/basens, "blueprints.other.v1" of '
                  "blueprints/other")
    # The merge's own refusal: fast-forward over local changes.
    status = await refused(porch, upgrade_task(old, new, local, "fast-forward"), 422,
                           'error updating the package "my-ns" to revision "blueprints.basens.v2": '
                           "local package files have been modified: [app-config.yaml local-only.yaml "
                           "package-context.yaml].\n  use a different update --strategy.")
    assert status["reason"] == "Invalid"
    # A good request after all of these works: nothing above left anything behind.
    await porch.init("deploy", "my-ns", "v2", tasks=[upgrade_task(old, new, local)])


async def test_a_merge_conflict_is_422_naming_what_to_fix_and_creates_nothing(porch: Porch) -> None:
    sub = {"sub/Kptfile": KPTFILE.replace("name: basens", "name: sub"), "sub/cm.yaml": LOCAL_ONLY}
    seeder = porch.git.create_repo("blueprints")
    seeder.commit({"basens/Kptfile": KPTFILE, "basens/app-config.yaml": CONFIG}, tags=["basens/v1"])
    seeder.commit({f"basens/{path}": text for path, text in sub.items()}, tags=["basens/v2"])
    porch.git.create_repo("deploy").commit({"README.md": "deployments\n"})
    await porch.register("blueprints")
    await porch.register("deploy")
    await porch.init("deploy", "my-ns", "v1", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}])
    files = (await porch.resources("deploy.my-ns.v1"))["spec"]["resources"]
    await porch.push_files("deploy.my-ns.v1", {**files, **sub})
    await porch.publish(await porch.ok(await porch.http.get(porch.revisions_url("deploy.my-ns.v1"))))
    await refused(porch, upgrade_task("blueprints.basens.v1", "blueprints.basens.v2", "deploy.my-ns.v1"), 422,
                  'error updating the package "my-ns" to revision "blueprints.basens.v2": subpackage "sub" added in '
                  'both upstream and local; rename or remove the local subpackage "sub" and upgrade again')


async def test_porch_e2e_package_upgrade(porch: Porch) -> None:
    """Porch's API e2e TestPackageUpgrade (test/e2e/api/rpkg_clone_test.go), on this test's git server."""
    quota = ("apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: example\n  namespace: example\n"
             "spec:\n  hard:\n    cpu: \"40\"\n    memory: 40G\n")
    seeder = porch.git.create_repo("test-blueprints")
    seeder.commit({"basens/Kptfile": KPTFILE, "basens/namespace.yaml": NAMESPACE}, tags=["basens/v1"])
    seeder.commit({"basens/resourcequota.yaml": quota}, tags=["basens/v2"])
    porch.git.create_repo("package-upgrade").commit({"README.md": "downstream\n"})
    await porch.register("test-blueprints")
    await porch.register("package-upgrade")
    created = await porch.init("package-upgrade", "testns", "test-workspace", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "test-blueprints.basens.v1"}}}}])
    files = (await porch.resources(created["metadata"]["name"]))["spec"]["resources"]
    files["config-map.yaml"] = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: update-resources-configmap\n"
                                "  namespace: example\ndata:\n  value: Update Resources and Render\n")
    await porch.push_files(created["metadata"]["name"], files)
    published = await porch.publish(
        await porch.ok(await porch.http.get(porch.revisions_url(created["metadata"]["name"]))))
    upgrade = await porch.init("package-upgrade", "testns", "test-workspace-upgrade", tasks=[
        upgrade_task("test-blueprints.basens.v1", "test-blueprints.basens.v2", published["metadata"]["name"])])
    upgraded = (await porch.resources(upgrade["metadata"]["name"]))["spec"]["resources"]
    assert "resourcequota.yaml" in upgraded and "config-map.yaml" in upgraded
    upgrade = await porch.publish(upgrade)
    await refused(porch, upgrade_task("test-blueprints.basens.v2", "test-blueprints.basens.main",
                                      upgrade["metadata"]["name"]), 422,
                  "target upstream revision may not be the placeholder package revision "
                  "test-blueprints/test-blueprints.basens.main", repository="package-upgrade", package="testns",
                  workspace="test-workspace-main-upgrade")
    await refused(porch, upgrade_task("test-blueprints.basens.v1", "test-blueprints.basens.v2",
                                      "test-blueprints.basens.main"), 422,
                  "source revision may not be the placeholder package revision "
                  "test-blueprints/test-blueprints.basens.main", repository="package-upgrade", package="testns",
                  workspace="test-workspace-main-upgrade")
