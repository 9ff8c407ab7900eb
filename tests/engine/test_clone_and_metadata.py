"""Clones (registered upstream, git URL, into a deployment repository) and revision metadata."""

from __future__ import annotations

from typing import Any

import yaml

from tests.engine.conftest import Porch
from tests.parts.git_server import package_files


async def test_clone_from_a_registered_upstream_records_upstream_and_lock(porch: Porch) -> None:
    seeder = porch.git.create_repo("blueprints")
    tagged = seeder.commit(package_files("basens"), tags=["basens/v1"])
    porch.git.create_repo("deploy").commit({"README.md": "x\n"})
    await porch.register("blueprints")
    await porch.register("deploy", deployment=True)
    clone = await porch.init("deploy", "basens-clone", "clone-1", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}])
    assert clone["status"]["upstreamLock"]["git"] == {
        "repo": porch.git.url("blueprints"), "directory": "basens", "ref": "basens/v1", "commit": tagged}
    files = (await porch.resources("deploy.basens-clone.clone-1"))["spec"]["resources"]
    kptfile = yaml.safe_load(files["Kptfile"])
    assert kptfile["metadata"]["name"] == "basens-clone"
    assert kptfile["upstream"]["git"]["ref"] == "basens/v1"
    context = yaml.safe_load(files["package-context.yaml"])
    assert context["data"] == {"name": "basens-clone", "package-path": "basens-clone"}
    again = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "deploy", "packageName": "basens-clone", "workspaceName": "clone-2",
        "tasks": [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}]}})
    assert again.status_code == 409 and "make subsequent revisions using `copy`" in again.json()["message"]
    placeholder = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "deploy", "packageName": "other", "workspaceName": "ws",
        "tasks": [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "blueprints.basens.main"}}}}]}})
    assert placeholder.status_code == 422
    assert "may not be the placeholder package revision" in placeholder.json()["message"]
    referenced = await porch.set_lifecycle(
        await porch.ok(await porch.http.get(porch.revisions_url("blueprints.basens.v1"))), "DeletionProposed")
    refused = await porch.http.delete(porch.revisions_url(referenced["metadata"]["name"]))
    assert refused.status_code == 403
    assert "referenced as upstream by: deploy.basens-clone.clone-1" in refused.json()["message"]


async def test_clone_from_a_git_url_with_credentials(porch: Porch) -> None:
    seeder = porch.git.create_repo("upstream-only")
    commit = seeder.commit(package_files("catalog/basens"), tags=["catalog/basens/v3"])
    porch.git.create_repo("target").commit({"README.md": "x\n"})
    await porch.register("target")
    clone = await porch.init("target", "mine", "ws", tasks=[{"type": "clone", "clone": {"upstreamRef": {
        "type": "git", "git": {"repo": porch.git.url("upstream-only"), "ref": "v3", "directory": "catalog/basens",
                               "secretRef": {"name": "target-auth"}}}}}])
    assert clone["status"]["upstreamLock"]["git"]["commit"] == commit
    files = (await porch.resources("target.mine.ws"))["spec"]["resources"]
    assert set(files) == {"Kptfile", "cm.yaml"}
    missing = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "target", "packageName": "nothing", "workspaceName": "ws", "tasks": [{"type": "clone", "clone": {
            "upstreamRef": {"type": "git", "git": {"repo": porch.git.url("upstream-only"), "ref": "v9",
                                                   "directory": "catalog/basens",
                                                   "secretRef": {"name": "target-auth"}}}}}]}})
    assert missing.status_code == 404 and "no package at directory 'catalog/basens'" in missing.json()["message"]
    assert not any(ref.startswith("refs/heads/drafts/nothing") for ref in porch.git.refs("target"))


async def test_labels_annotations_and_package_metadata(porch: Porch) -> None:
    porch.git.create_repo("meta").commit({"README.md": "x\n"})
    await porch.register("meta")
    created = await porch.init("meta", "app", "ws", packageMetadata={"labels": {"team": "blue"}},
                               readinessGates=[{"conditionType": "Approved"}])
    files = (await porch.resources("meta.app.ws"))["spec"]["resources"]
    kptfile = yaml.safe_load(files["Kptfile"])
    assert kptfile["metadata"]["labels"] == {"team": "blue"}
    assert kptfile["info"]["readinessGates"] == [{"conditionType": "Approved"}]
    assert created["spec"]["packageMetadata"]["labels"] == {"team": "blue"}
    by_kptfile_label = await porch.list_revisions(fieldSelector="spec.packageMetadata.labels[team]=blue")
    assert [r["metadata"]["name"] for r in by_kptfile_label] == ["meta.app.ws"]
    created["metadata"]["labels"] = {"owner": "alice"}
    created["metadata"]["annotations"] = {"note": "kept in the store, not in git"}
    updated = await porch.ok(await porch.http.put(porch.revisions_url("meta.app.ws"), json=created))
    assert updated["metadata"]["labels"] == {"owner": "alice"}
    assert "note" not in porch.git.git("meta", "show", "drafts/app/ws:app/Kptfile")
    assert [r["metadata"]["name"] for r in await porch.list_revisions(labelSelector="owner=alice")] == ["meta.app.ws"]
    published = await porch.publish(updated)
    assert published["metadata"]["labels"] == {"owner": "alice", "kpt.dev/latest-revision": "true"}
    published["metadata"]["labels"] = {"owner": "alice"}
    refused = await porch.http.put(porch.revisions_url("meta.app.ws"), json=published)
    assert refused.status_code == 422 and refused.json()["details"]["causes"] == [{
        "reason": "FieldValueForbidden", "field": "metadata.labels[kpt.dev/latest-revision]",
        "message": "Forbidden: label is managed by porch and cannot be modified by users"}]
    published["metadata"]["labels"] = {"owner": "alice", "kpt.dev/latest-revision": "true"}
    published["metadata"]["annotations"] = {"note": "edited"}
    edited = await porch.ok(await porch.http.put(porch.revisions_url("meta.app.ws"), json=published))
    assert edited["metadata"]["labels"] == {"owner": "alice", "kpt.dev/latest-revision": "true"}
    edited["metadata"]["labels"] = {"owner": "bob"}
    edited["spec"]["lifecycle"] = "DeletionProposed"
    approved = await porch.ok(await porch.http.put(porch.revisions_url("meta.app.ws", "approval"), json=edited))
    assert approved["metadata"]["labels"] == {"owner": "bob", "kpt.dev/latest-revision": "true"}


async def test_finalizers_hold_a_revision_until_cleared(porch: Porch) -> None:
    porch.git.create_repo("fin").commit({"README.md": "x\n"})
    await porch.register("fin")
    draft = await porch.init("fin", "app", "ws")
    draft["metadata"]["finalizers"] = ["example.com/hold"]
    held = await porch.ok(await porch.http.put(porch.revisions_url("fin.app.ws"), json=draft))
    pending = await porch.ok(await porch.http.delete(porch.revisions_url("fin.app.ws")))
    assert pending["metadata"]["deletionTimestamp"]
    assert "refs/heads/drafts/app/ws" in porch.git.refs("fin")
    current = await porch.ok(await porch.http.get(porch.revisions_url("fin.app.ws")))
    current["metadata"]["finalizers"] = []
    await porch.ok(await porch.http.put(porch.revisions_url("fin.app.ws"), json=current))
    assert (await porch.http.get(porch.revisions_url("fin.app.ws"))).status_code == 404
    assert "refs/heads/drafts/app/ws" not in porch.git.refs("fin")
    assert held["metadata"]["finalizers"] == ["example.com/hold"]


async def test_server_side_table_for_revisions(porch: Porch) -> None:
    seeder = porch.git.create_repo("table")
    seeder.commit(package_files("pkg"), tags=["pkg/v1"])
    await porch.register("table")
    await porch.init("table", "draft", "ws")
    table = await porch.ok(await porch.http.get(porch.revisions_url(), headers={
        "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}))
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Package", "WorkspaceName", "Revision", "Latest", "Lifecycle", "Repository"]
    rows = {row["cells"][0]: row["cells"] for row in table["rows"]}
    assert rows["table.pkg.v1"] == ["table.pkg.v1", "pkg", "v1", 1, True, "Published", "table"]
    assert rows["table.pkg.main"] == ["table.pkg.main", "pkg", "main", -1, False, "Published", "table"]
    assert rows["table.draft.ws"] == ["table.draft.ws", "draft", "ws", 0, False, "Draft", "table"]


UPSTREAM_KPTFILE = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: basens
  labels:
    test-label: test-value
  annotations:
    config.kubernetes.io/local-config: "true"
    test-annotation: "true"
"""


async def test_package_metadata_follows_the_kptfile(porch: Porch) -> None:
    """Porch's e2e TestPackageMetadataFromKptfile: clone, Kptfile edit, packageMetadata update."""
    porch.git.create_repo("meta-blueprints").commit(
        {"basens/Kptfile": UPSTREAM_KPTFILE, "basens/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n"
                                                               "  name: example\n"}, tags=["basens/v1"])
    porch.git.create_repo("meta-target").commit({"README.md": "x\n"})
    await porch.register("meta-blueprints")
    await porch.register("meta-target")
    name = "meta-target.test-package-metadata.test-workspace"

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        revision = await porch.ok(await porch.http.get(porch.revisions_url(name)))
        kptfile = yaml.safe_load((await porch.resources(name))["spec"]["resources"]["Kptfile"])
        return revision["spec"]["packageMetadata"], kptfile["metadata"]

    created = await porch.init("meta-target", "test-package-metadata", "test-workspace", tasks=[{
        "type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "meta-blueprints.basens.v1"}}}}],
        packageMetadata={"labels": {"porch.dev/new-label": "new-label-value"},
                         "annotations": {"porch.dev/new-annotation": "new-annotation-value"}})
    labels = {"test-label": "test-value", "porch.dev/new-label": "new-label-value"}
    annotations = {"test-annotation": "true", "porch.dev/new-annotation": "new-annotation-value"}
    assert created["spec"]["packageMetadata"]["labels"] == labels
    for metadata in await both():
        assert metadata["labels"] == labels
        assert annotations.items() <= metadata["annotations"].items()

    resources = await porch.resources(name)
    kptfile = yaml.safe_load(resources["spec"]["resources"]["Kptfile"])
    kptfile["metadata"]["labels"]["porch.dev/test-label"] = "added-by-e2e-test"
    kptfile["metadata"]["annotations"]["porch.dev/test-annotation"] = "e2e-test-annotation-value"
    resources["spec"]["resources"]["Kptfile"] = yaml.safe_dump(kptfile)
    await porch.ok(await porch.http.put(porch.resources_url(name), json=resources))
    labels["porch.dev/test-label"] = "added-by-e2e-test"
    annotations["porch.dev/test-annotation"] = "e2e-test-annotation-value"
    for metadata in await both():
        assert metadata["labels"] == labels
        assert annotations.items() <= metadata["annotations"].items()

    revision = await porch.ok(await porch.http.get(porch.revisions_url(name)))
    revision["spec"]["packageMetadata"] = {
        "labels": {"porch.dev/new-label": "changed-label-value", "porch.dev/added-label": "added-label-value"},
        "annotations": {"porch.dev/new-annotation": "changed-annotation-value",
                        "porch.dev/added-annotation": "added-annotation-value"}}
    await porch.ok(await porch.http.put(porch.revisions_url(name), json=revision))
    for metadata in await both():
        assert metadata["labels"] == revision["spec"]["packageMetadata"]["labels"]
        assert revision["spec"]["packageMetadata"]["annotations"].items() <= metadata["annotations"].items()
        assert "test-annotation" not in metadata["annotations"]
