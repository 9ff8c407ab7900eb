"""The package revision lifecycle through the API, checked in the git repository it writes.

Ports the scenarios of Porch's API e2e suite (rpkg_lifecycle, rpkg_init, rpkg_edit,
repository, rpkg_metadata) against a real git smart-HTTP server with authentication.
"""

from __future__ import annotations

from typing import Any

import trio

from tests.engine.conftest import Porch
from tests.parts.git_server import package_files

PIPELINE_KPTFILE = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: app
  annotations:
    config.kubernetes.io/local-config: "true"
pipeline:
  mutators:
    - image: gcr.io/kpt-fn/set-labels:v0.2.0
      configMap:
        team: blue
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config # keep me\ndata:\n  k: v\n"


def names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["metadata"]["name"] for item in items)


async def test_discovery_of_tags_branch_and_latest(porch: Porch) -> None:
    seeder = porch.git.create_repo("blueprints")
    seeder.commit(package_files("basens"), tags=["basens/v1"])
    seeder.commit(package_files("basens", extra={"more.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"}),
                  tags=["basens/v2"])
    repository = await porch.register("blueprints")
    assert repository["status"]["packageCount"] == 1
    assert repository["status"]["conditions"][0]["reason"] == "Ready"
    revisions = {item["metadata"]["name"]: item for item in await porch.list_revisions()}
    assert set(revisions) == {"blueprints.basens.v1", "blueprints.basens.v2", "blueprints.basens.main"}
    assert revisions["blueprints.basens.v2"]["spec"]["revision"] == 2
    assert revisions["blueprints.basens.main"]["spec"]["revision"] == -1
    assert revisions["blueprints.basens.v2"]["metadata"]["labels"] == {"kpt.dev/latest-revision": "true"}
    assert "labels" not in revisions["blueprints.basens.main"]["metadata"]
    latest = await porch.list_revisions(labelSelector="kpt.dev/latest-revision=true")
    assert names(latest) == ["blueprints.basens.v2"]
    files = (await porch.resources("blueprints.basens.v2"))["spec"]["resources"]
    assert set(files) == {"Kptfile", "cm.yaml", "more.yaml"}
    package = (await porch.ok(await porch.http.get(
        "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packages/blueprints.basens")))
    assert package["status"]["latestRevision"] == 2


async def test_init_propose_approve_writes_porchs_git_layout(porch: Porch) -> None:
    porch.git.create_repo("deploy").commit({"README.md": "deployments\n"})
    await porch.register("deploy")
    draft = await porch.init("deploy", "apps/web", "ws1", tasks=[
        {"type": "init", "init": {"description": "the web app", "keywords": ["web"]}}])
    assert draft["metadata"]["name"] == "deploy.apps.web.ws1"
    assert draft["spec"]["lifecycle"] == "Draft" and "revision" not in draft["spec"]
    refs = porch.git.refs("deploy")
    assert "refs/heads/drafts/apps/web/ws1" in refs
    message = porch.git.git("deploy", "log", "-1", "--format=%B", "drafts/apps/web/ws1")
    assert message.startswith("Creating new empty revision\n\nkpt:")
    assert '"workspaceName":"ws1"' in message and '"type":"init"' in message
    files = (await porch.resources(draft["metadata"]["name"]))["spec"]["resources"]
    assert set(files) == {"Kptfile", "README.md", "package-context.yaml"}
    assert "description: the web app" in files["Kptfile"]

    proposed = await porch.set_lifecycle(draft, "Proposed")
    assert proposed["spec"]["lifecycle"] == "Proposed"
    refs = porch.git.refs("deploy")
    assert "refs/heads/proposed/apps/web/ws1" in refs and "refs/heads/drafts/apps/web/ws1" not in refs

    published = await porch.set_lifecycle(proposed, "Published", via="approval")
    assert published["spec"]["revision"] == 1
    assert published["metadata"]["labels"]["kpt.dev/latest-revision"] == "true"
    assert published["status"]["publishedBy"] == "admin"
    refs = porch.git.refs("deploy")
    assert "refs/tags/apps/web/v1" in refs
    assert not any(ref.startswith(("refs/heads/drafts/", "refs/heads/proposed/")) for ref in refs)
    assert refs["refs/tags/apps/web/v1"] == refs["refs/heads/main"]
    approval = porch.git.git("deploy", "log", "-1", "--format=%B", "main")
    assert approval.startswith("Approving package revision apps/web/1")
    tree = porch.git.git("deploy", "ls-tree", "-r", "--name-only", "main").split()
    assert {"README.md", "apps/web/Kptfile", "apps/web/README.md", "apps/web/package-context.yaml"} <= set(tree)
    placeholder = await porch.ok(await porch.http.get(porch.revisions_url("deploy.apps.web.main")))
    assert placeholder["spec"]["revision"] == -1 and placeholder["spec"]["lifecycle"] == "Published"


async def test_lifecycle_rules_and_messages(porch: Porch) -> None:
    porch.git.create_repo("rules").commit({"README.md": "x\n"})
    await porch.register("rules")
    draft = await porch.init("rules", "pkg", "ws")
    response = await porch.http.put(porch.revisions_url("rules.pkg.ws", "approval"),
                                    json={**draft, "spec": {**draft["spec"], "lifecycle": "Published"}})
    assert response.status_code == 422
    assert "cannot approve package with Draft lifecycle value; only Proposed packages can be approved" \
        in response.json()["message"]
    proposed = await porch.set_lifecycle(draft, "Proposed")
    rejected = await porch.set_lifecycle(proposed, "Draft", via="approval")
    assert rejected["spec"]["lifecycle"] == "Draft"
    published = await porch.publish(rejected)
    refused = await porch.http.delete(porch.revisions_url("rules.pkg.ws"))
    assert refused.status_code == 403
    assert "must be proposed for deletion" in refused.json()["message"]
    changed_spec = {**published, "spec": {**published["spec"], "workspaceName": "other"}}
    assert (await porch.http.put(porch.revisions_url("rules.pkg.ws"), json=changed_spec)).status_code == 422
    deletion = await porch.set_lifecycle(published, "DeletionProposed")
    assert deletion["spec"]["lifecycle"] == "DeletionProposed"
    restored = await porch.set_lifecycle(deletion, "Published")
    assert restored["spec"]["lifecycle"] == "Published"
    deletion = await porch.set_lifecycle(restored, "DeletionProposed")
    await porch.ok(await porch.http.delete(porch.revisions_url("rules.pkg.ws")))
    assert "refs/tags/pkg/v1" not in porch.git.refs("rules")
    assert (await porch.http.get(porch.revisions_url("rules.pkg.ws"))).status_code == 404


async def test_edit_copies_a_published_revision_and_latest_moves(porch: Porch) -> None:
    porch.git.create_repo("edits").commit({"README.md": "x\n"})
    await porch.register("edits")
    first = await porch.publish(await porch.init("edits", "pkg", "v1"))
    copy = await porch.init("edits", "pkg", "v2", tasks=[{"type": "edit", "edit": {"sourceRef": {"name": "edits.pkg.v1"}}}])
    assert copy["spec"]["tasks"][0]["type"] == "edit"
    assert (await porch.resources("edits.pkg.v2"))["spec"]["resources"] == \
        (await porch.resources("edits.pkg.v1"))["spec"]["resources"]
    second = await porch.publish(copy)
    assert second["spec"]["revision"] == 2
    old = await porch.ok(await porch.http.get(porch.revisions_url("edits.pkg.v1")))
    assert "kpt.dev/latest-revision" not in (old["metadata"].get("labels") or {})
    assert first["spec"]["revision"] == 1
    await porch.set_lifecycle(second, "DeletionProposed")
    await porch.ok(await porch.http.delete(porch.revisions_url("edits.pkg.v2")))
    back = await porch.ok(await porch.http.get(porch.revisions_url("edits.pkg.v1")))
    assert back["metadata"]["labels"]["kpt.dev/latest-revision"] == "true"


async def test_edit_source_rules(porch: Porch) -> None:
    porch.git.create_repo("src").commit({"README.md": "x\n"})
    await porch.register("src")
    await porch.init("src", "one", "ws")
    response = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "src", "packageName": "one", "workspaceName": "ws2",
        "tasks": [{"type": "edit", "edit": {"sourceRef": {"name": "src.one.ws"}}}]}})
    assert response.status_code == 422 and "source revision must be published" in response.json()["message"]
    published = await porch.publish(await porch.init("src", "two", "ws"))
    response = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "src", "packageName": "one", "workspaceName": "ws3",
        "tasks": [{"type": "edit", "edit": {"sourceRef": {"name": published["metadata"]["name"]}}}]}})
    assert response.status_code == 422 and "source revision must be from same package src/one" in response.json()["message"]


async def test_create_validation_and_uniqueness(porch: Porch) -> None:
    porch.git.create_repo("valid").commit({"README.md": "x\n"})
    await porch.register("valid")
    await porch.init("valid", "a/b", "ws")
    duplicate = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "valid", "packageName": "a/b", "workspaceName": "ws"}})
    assert duplicate.status_code == 409 and "workspaceNames must be unique" in duplicate.json()["message"]
    again = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "valid", "packageName": "a/b", "workspaceName": "other"}})
    assert again.status_code == 409 and 'package "a/b" already exists in repository "valid"' in again.json()["message"]
    nested = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "valid", "packageName": "a/b/c", "workspaceName": "ws"}})
    assert nested.status_code == 409 and "packages cannot be nested" in nested.json()["message"]
    bad = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "valid", "packageName": "Bad_Name", "workspaceName": "ws"}})
    assert bad.status_code == 422 and bad.json()["details"]["causes"][0]["field"] == "spec.packageName"
    missing = await porch.http.post(porch.revisions_url(), json={"spec": {"packageName": "x", "workspaceName": "y"}})
    assert missing.status_code == 400 and "spec.repositoryName is required" in missing.json()["message"]
    unknown = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "nope", "packageName": "x", "workspaceName": "y"}})
    assert unknown.status_code == 404
    published = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "valid", "packageName": "z", "workspaceName": "y", "lifecycle": "Published"}})
    assert published.status_code == 422 and "can be only created as Draft" in published.json()["message"]
    latest = await porch.http.post(porch.revisions_url(), json={
        "metadata": {"labels": {"kpt.dev/latest-revision": "true"}},
        "spec": {"repository": "valid", "packageName": "q", "workspaceName": "y"}})
    assert latest.status_code == 422, latest.text
    assert latest.json()["reason"] == "Invalid"
    assert latest.json()["details"]["causes"] == [{
        "reason": "FieldValueForbidden", "field": "metadata.labels[kpt.dev/latest-revision]",
        "message": "Forbidden: label is managed by porch and cannot be set by users"}]


async def test_concurrent_creates_of_the_same_revision_let_one_win(porch: Porch) -> None:
    porch.git.create_repo("race").commit({"README.md": "x\n"})
    await porch.register("race")
    codes: list[int] = []

    async def create() -> None:
        response = await porch.http.post(porch.revisions_url(), json={"spec": {
            "repository": "race", "packageName": "pkg", "workspaceName": "ws"}})
        codes.append(response.status_code)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(create)
    assert sorted(codes) == [201, 409, 409, 409, 409]
    assert len([r for r in porch.git.refs("race") if r.startswith("refs/heads/drafts/")]) == 1


async def test_resources_update_renders_and_keeps_the_result(porch: Porch) -> None:
    porch.git.create_repo("render").commit({"README.md": "x\n"})
    await porch.register("render")
    draft = await porch.init("render", "app", "ws")
    files = {"Kptfile": PIPELINE_KPTFILE, "cm.yaml": CONFIGMAP}
    updated = await porch.push_files("render.app.ws", files)
    assert "team: blue" in updated["spec"]["resources"]["cm.yaml"]
    assert "# keep me" in updated["spec"]["resources"]["cm.yaml"]
    assert updated["status"]["renderStatus"]["result"]["exitCode"] == 0
    stored = await porch.resources("render.app.ws")
    assert stored["status"]["renderStatus"]["result"]["items"][0]["image"] == "gcr.io/kpt-fn/set-labels:v0.2.0"
    assert "team: blue" in porch.git.git("render", "show", "drafts/app/ws:app/cm.yaml")
    assert "Rendering package" in porch.git.git("render", "log", "-1", "--format=%B", "drafts/app/ws")
    revision = await porch.ok(await porch.http.get(porch.revisions_url("render.app.ws")))
    assert int(revision["metadata"]["resourceVersion"]) > int(draft["metadata"]["resourceVersion"])


async def test_render_failure_saves_nothing_unless_annotated(porch: Porch) -> None:
    porch.git.create_repo("failing").commit({"README.md": "x\n"})
    await porch.register("failing")
    await porch.init("failing", "app", "ws")
    before = await porch.resources("failing.app.ws")
    broken = PIPELINE_KPTFILE.replace("gcr.io/kpt-fn/set-labels:v0.2.0", "example.com/no-such-function:v1")
    failed = await porch.push_files("failing.app.ws", {"Kptfile": broken, "cm.yaml": CONFIGMAP}, code=422)
    assert "Package NOT pushed to remote" in failed["message"]
    after = await porch.resources("failing.app.ws")
    assert after["spec"]["resources"] == before["spec"]["resources"]
    assert after["status"]["renderStatus"]["error"]
    revision = await porch.ok(await porch.http.get(porch.revisions_url("failing.app.ws")))
    revision["metadata"].setdefault("annotations", {})["porch.kpt.dev/push-on-render-failure"] = "true"
    await porch.ok(await porch.http.put(porch.revisions_url("failing.app.ws"), json=revision))
    pushed = await porch.push_files("failing.app.ws", {"Kptfile": broken, "cm.yaml": CONFIGMAP}, code=422)
    assert "Package pushed to remote despite render failure" in pushed["message"]
    saved = await porch.resources("failing.app.ws")
    assert saved["spec"]["resources"]["Kptfile"] == broken


async def test_resources_of_a_proposed_revision_are_read_only(porch: Porch) -> None:
    porch.git.create_repo("frozen").commit({"README.md": "x\n"})
    await porch.register("frozen")
    await porch.set_lifecycle(await porch.init("frozen", "app", "ws"), "Proposed")
    refused = await porch.push_files("frozen.app.ws", {"Kptfile": PIPELINE_KPTFILE}, code=422)
    assert 'cannot update a package revision with lifecycle value "Proposed"; package must be Draft' in refused["message"]
    stale = await porch.resources("frozen.app.ws")
    stale["metadata"]["resourceVersion"] = "1"
    assert (await porch.http.put(porch.resources_url("frozen.app.ws"), json=stale)).status_code == 409


async def test_field_and_label_selectors_on_revisions(porch: Porch) -> None:
    seeder = porch.git.create_repo("sel")
    seeder.commit({**package_files("a"), **package_files("b")}, tags=["a/v1", "b/v1"])
    await porch.register("sel")
    await porch.init("sel", "c", "draft")
    assert names(await porch.list_revisions(fieldSelector="spec.packageName=a")) == ["sel.a.main", "sel.a.v1"]
    assert names(await porch.list_revisions(fieldSelector="spec.lifecycle=Draft")) == ["sel.c.draft"]
    assert names(await porch.list_revisions(fieldSelector="spec.revision=1")) == ["sel.a.v1", "sel.b.v1"]
    assert names(await porch.list_revisions(fieldSelector="spec.workspaceName=main,spec.packageName=b")) == \
        ["sel.b.main"]
    assert names(await porch.list_revisions(labelSelector="kpt.dev/latest-revision")) == ["sel.a.v1", "sel.b.v1"]


async def test_external_push_appears_after_sync_with_watch_event(porch: Porch) -> None:
    seeder = porch.git.create_repo("external")
    seeder.commit(package_files("app"), tags=["app/v1"])
    await porch.register("external")
    listed = await porch.ok(await porch.http.get(porch.revisions_url()))
    events: list[tuple[str, str]] = []

    async def watch() -> None:
        async with porch.http.stream("GET", porch.revisions_url(), params={
                "watch": "1", "resourceVersion": listed["metadata"]["resourceVersion"]}) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    import json

                    event = json.loads(line)
                    events.append((event["type"], event["object"]["metadata"]["name"]))
                    if ("ADDED", "external.app.v2") in events:
                        return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        seeder.commit(package_files("app", extra={"new.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n"}),
                      tags=["app/v2"])
        await porch.sync_now("external")
        with trio.fail_after(20):
            while ("ADDED", "external.app.v2") not in events:
                await trio.sleep(0.05)
    v1 = await porch.ok(await porch.http.get(porch.revisions_url("external.app.v1")))
    assert "kpt.dev/latest-revision" not in (v1["metadata"].get("labels") or {})
    assert ("MODIFIED", "external.app.v1") in events


async def test_repository_registration_errors_and_unregistration(porch: Porch) -> None:
    seeder = porch.git.create_repo("shared")
    seeder.commit(package_files("pkg"), tags=["pkg/v1"])
    await porch.register("shared")
    duplicate = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "again"},
                 "spec": {"type": "git", "git": {"repo": porch.git.url("shared") + "/", "branch": "main"}}}
    conflict = await porch.http.post(porch.repositories_url(), json=duplicate)
    assert conflict.status_code == 409
    assert "Repository conflict with existing repository: default/shared" in conflict.json()["message"]
    bad_name = {**duplicate, "metadata": {"name": "Bad_Name"}}
    invalid = await porch.http.post(porch.repositories_url(), json=bad_name)
    assert invalid.status_code == 422, invalid.text
    assert {c["field"] for c in invalid.json()["details"]["causes"]} == {"metadata.name"}
    await porch.ok(await porch.http.post("/api/v1/namespaces", json={"metadata": {"name": "other"}}), 201)
    elsewhere = Porch(porch.server, porch.http, porch.git, namespace="other")
    await elsewhere.register("shared")
    assert names(await elsewhere.list_revisions()) == ["shared.pkg.main", "shared.pkg.v1"]
    porch.git.create_repo("private").commit({"README.md": "x\n"})
    wrong = await porch.register("badcreds", repo="private", password="wrong", wait=False)
    assert wrong["metadata"]["name"] == "badcreds"
    failed = await porch.wait_ready("badcreds", status="False")
    message = failed["status"]["conditions"][0]["message"]
    assert failed["status"]["conditions"][0]["reason"] == "Error"
    assert "badcreds-auth" in message and "wrong" not in message
    await porch.ok(await porch.http.delete(porch.repositories_url("shared")))
    assert await porch.list_revisions() == []
    assert "refs/tags/pkg/v1" in porch.git.refs("shared")
    assert names(await elsewhere.list_revisions()) == ["shared.pkg.main", "shared.pkg.v1"]


async def test_health_check_reports_a_repository_that_lost_its_branch(porch: Porch) -> None:
    seeder = porch.git.create_repo("fragile")
    seeder.commit(package_files("pkg"), tags=["pkg/v1"])
    await porch.register("fragile")
    porch.git.git("fragile", "update-ref", "-d", "refs/heads/main")
    failed = await porch.wait_ready("fragile", status="False")
    condition = failed["status"]["conditions"][0]
    assert condition["reason"] == "Error" and "branch 'main' does not exist" in condition["message"]
    assert [r["metadata"]["name"] for r in await porch.list_revisions()] == ["fragile.pkg.main", "fragile.pkg.v1"]


async def test_a_hanging_repository_does_not_block_the_others(porch: Porch) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    accepted: list[trio.SocketStream] = []

    async def swallow(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            accepted.append(await listener.accept())  # never answers

    seeder = porch.git.create_repo("healthy")
    seeder.commit(package_files("pkg"), tags=["pkg/v1"])
    async with trio.open_nursery() as nursery:
        await nursery.start(swallow)
        hanging = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                   "metadata": {"name": "hanging"},
                   "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:{port}/stuck.git"}}}
        await porch.ok(await porch.http.post(porch.repositories_url(), json=hanging), 201)
        await porch.register("healthy")
        # The hanging server holds its sync for 3 x 30 s of read timeouts; the healthy
        # repository must be served long before that, even on a loaded machine.
        with trio.fail_after(45):
            listed = await porch.list_revisions(fieldSelector="spec.repository=healthy")
            draft = await porch.init("healthy", "other", "ws")
        assert sorted(r["metadata"]["name"] for r in listed) == ["healthy.pkg.main", "healthy.pkg.v1"]
        assert draft["spec"]["lifecycle"] == "Draft"
        nursery.cancel_scope.cancel()
    for stream in accepted:
        await stream.aclose()
    await listener.aclose()


async def test_concurrent_content_updates_of_one_draft_let_one_win(porch: Porch) -> None:
    porch.git.create_repo("busy").commit({"README.md": "x\n"})
    await porch.register("busy")
    await porch.init("busy", "app", "ws")
    current = await porch.resources("busy.app.ws")
    codes: list[int] = []

    async def update(index: int) -> None:
        body = {**current, "spec": {**current["spec"], "resources": {
            **current["spec"]["resources"], f"cm{index}.yaml": CONFIGMAP}}}
        codes.append((await porch.http.put(porch.resources_url("busy.app.ws"), json=body)).status_code)

    async with trio.open_nursery() as nursery:
        for index in range(4):
            nursery.start_soon(update, index)
    assert sorted(codes) == [200, 409, 409, 409]
    files = (await porch.resources("busy.app.ws"))["spec"]["resources"]
    assert len([f for f in files if f.startswith("cm")]) == 1


async def test_a_git_directory_that_overlaps_a_registered_one_is_a_conflict(porch: Porch) -> None:
    porch.git.create_repo("dirs").commit(package_files("blueprints/pkg"))
    await porch.register("blueprints", repo="dirs", directory="/blueprints/", wait=False)

    def repository(name: str, directory: str, branch: str = "main") -> dict[str, Any]:
        return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
                "spec": {"type": "git", "git": {"repo": porch.git.url("dirs") + "/", "branch": branch,
                                                "directory": directory}}}

    for name, directory in [("same", "blueprints"), ("nested", "blueprints/team"), ("root", "")]:
        response = await porch.http.post(porch.repositories_url(), json=repository(name, directory))
        assert response.status_code == 409, (directory, response.text)
        assert response.json()["message"] == (
            "Repository conflict with existing repository: default/blueprints (same git repository and branch, "
            "and its directory overlaps this one's): register a different directory or branch")
    for name, directory, branch in [("sibling", "blueprints-2", "main"), ("branch", "", "other")]:
        await porch.ok(await porch.http.post(porch.repositories_url(), json=repository(name, directory, branch)), 201)
