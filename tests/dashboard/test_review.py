"""Diffs, the file editor, clone and upgrade in the browser.

One scene per module, made through the API as the admin: a catalog repository whose
package ``app`` has two published revisions (v2 changes a colour and adds a file), and a
deployment repository with ``app-edge``, a clone of catalog v1 with a local change,
published, and a draft copy of it that moves its ConfigMap to another file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from playwright.sync_api import BrowserContext, Page, expect

from tests.dashboard.conftest import VIEWER_TOKEN, Admin, Site, assert_accessible, csrf_of, login

KPTFILE = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: app
  annotations:
    config.kubernetes.io/local-config: "true"
"""
CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  color: blue
  size: small
"""
SET_LABELS = """\
pipeline:
  mutators:
    - image: ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0
      configMap:
        tier: edge
"""
EDGE = "deploy.app-edge"


def files_of(admin: Admin, name: str) -> dict[str, str]:
    url = f"/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources/{name}"
    return dict(admin.ok(admin.http.get(url))["spec"]["resources"])


def push(admin: Admin, name: str, files: dict[str, str]) -> dict[str, Any]:
    url = f"/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources/{name}"
    current = admin.ok(admin.http.get(url))
    current["spec"]["resources"] = files
    return admin.ok(admin.http.put(url, json=current))


def edit_task(source: str) -> list[dict[str, Any]]:
    return [{"type": "edit", "edit": {"sourceRef": {"name": source}}}]


@pytest.fixture(scope="module")
def scene(site: Site) -> Iterator[Site]:
    admin = site.admin
    admin.register("catalog")
    admin.register("deploy")
    admin.init("catalog", "app", "v1")
    push(admin, "catalog.app.v1", {**files_of(admin, "catalog.app.v1"), "Kptfile": KPTFILE, "config.yaml": CONFIG})
    admin.publish("catalog.app.v1")
    admin.init("catalog", "app", "v2", tasks=edit_task("catalog.app.v1"))
    v2 = files_of(admin, "catalog.app.v2")
    v2["config.yaml"] = v2["config.yaml"].replace("color: blue", "color: green")
    v2["extra.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  feature: on\n"
    push(admin, "catalog.app.v2", v2)
    admin.publish("catalog.app.v2")
    admin.init("deploy", "app-edge", "v1", tasks=[{"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "catalog.app.v1"}}}}])
    edge = files_of(admin, f"{EDGE}.v1")
    edge["config.yaml"] = edge["config.yaml"].replace("size: small", "size: large")
    push(admin, f"{EDGE}.v1", edge)
    admin.publish(f"{EDGE}.v1")
    admin.init("deploy", "app-edge", "v2", tasks=edit_task(f"{EDGE}.v1"))
    moved = files_of(admin, f"{EDGE}.v2")
    moved["settings/config.yaml"] = moved.pop("config.yaml").replace("size: large", "size: huge")
    push(admin, f"{EDGE}.v2", moved)
    yield site


@pytest.fixture(scope="module")
def signed_in(scene: Site) -> Iterator[BrowserContext]:
    """One browser context signed in as the admin, for the module (signing in once saves seconds)."""
    context = scene.context()
    first = context.new_page()
    login(first, scene)
    first.close()
    yield context
    context.close()


@pytest.fixture
def page(signed_in: BrowserContext) -> Iterator[Page]:
    """A fresh tab of the admin's context that accepts every confirmation."""
    opened = signed_in.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    opened.close()


def changed(page: Page, selector: str) -> list[str]:
    """The texts of the changed lines under ``selector`` (unified rows, or split cells)."""
    return [text.strip() for text in page.locator(f"{selector} code").all_inner_texts()]


def test_a_draft_against_its_origin_upstream_and_a_picked_revision_in_both_views(scene: Site, page: Page) -> None:
    page.goto(f"{scene.url}/ui/revisions/default/{EDGE}.v2")
    page.get_by_role("navigation", name="Review").get_by_role("link", name="Changes").click()
    expect(page.get_by_test_id("sides")).to_have_text(f"{EDGE}.v1 (Published v1) → {EDGE}.v2 (Draft)")
    # By resource (the default), the ConfigMap moved: one change, not a removal and an addition.
    moved = page.locator('section.change[data-status="moved"]')
    expect(moved).to_have_count(1)
    expect(moved.get_by_test_id("moved")).to_have_text("config.yaml → settings/config.yaml")
    assert changed(page, 'section.change[data-status="moved"] tr.line.removed') == ["-  size: large"]
    assert changed(page, 'section.change[data-status="moved"] tr.line.added') == ["+  size: huge"]
    expect(page.locator("section.change")).to_have_count(1)
    # Split: the old line on the left, its replacement on the same row on the right.
    page.get_by_role("link", name="Split").click()
    row = page.locator("table.diff.split tr", has=page.locator("td.line.removed"))
    expect(row).to_have_count(1)
    expect(row.locator("td.line.removed")).to_have_text("  size: large")
    expect(row.locator("td.line.added")).to_have_text("  size: huge")
    # By file: the same change is a removed file and an added one.
    page.get_by_role("link", name="By file").click()
    expect(page.locator("section.change")).to_have_count(2)
    expect(page.locator('section.change[data-path="config.yaml"]')).to_have_attribute("data-status", "removed")
    expect(page.locator('section.change[data-path="settings/config.yaml"]')).to_have_attribute("data-status", "added")
    expect(page.locator("table.diff.split")).to_have_count(2)
    assert_accessible(page)  # the split diff: added and removed lines on their tints

    # The newest upstream: catalog v2 (the clone was of v1), by resource, unified.
    page.get_by_label("Compare with").select_option("upstream")
    page.get_by_label("View").select_option("unified")
    page.get_by_label("Compare by").select_option("resources")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("sides")).to_contain_text("catalog.app.v2 (Published v2) →")
    expect(page.locator('section.change[data-resource="v1 ConfigMap extra"]')).to_have_attribute(
        "data-status", "removed")
    config = page.locator('section.change[data-resource="v1 ConfigMap app-config"]')
    expect(config).to_have_attribute("data-status", "moved")
    assert "-  color: green" in changed(page, 'section.change[data-resource="v1 ConfigMap app-config"] tr.removed')
    expect(page.locator("table.diff.unified").first).to_be_visible()
    page.get_by_role("link", name="Split").click()
    expect(page.get_by_test_id("sides")).to_contain_text("catalog.app.v2 (Published v2) →")
    expect(config.locator("td.line.removed", has_text="color: green")).to_have_count(1)
    expect(config.locator("td.line.added", has_text="color: blue")).to_have_count(1)

    # Any other revision, picked from the list (split, as chosen last), then unified; or named.
    page.get_by_label("Compare with").select_option("catalog.app.v1")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("sides")).to_contain_text("catalog.app.v1 (Published v1) →")
    expect(page.locator("table.diff.split td.line.added", has_text="size: huge")).to_have_count(1)
    page.get_by_role("link", name="Unified").click()
    assert "+  size: huge" in changed(page, "tr.line.added")
    page.get_by_label("or any revision by name").fill(f"{EDGE}.v1")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("sides")).to_contain_text(f"{EDGE}.v1 (Published v1) →")


def open_editor(scene: Site, page: Page, name: str) -> None:
    page.goto(f"{scene.url}/ui/revisions/default/{name}")
    page.get_by_role("navigation", name="Review").get_by_role("link", name="Edit files").click()
    expect(page.get_by_role("heading", name="Edit")).to_be_visible()


def test_edit_refused_for_bad_files_then_rendered_in_preview_then_saved(scene: Site, page: Page) -> None:
    admin = scene.admin
    admin.init("deploy", "app-edge", "edit", tasks=edit_task(f"{EDGE}.v1"))
    name = f"{EDGE}.edit"
    before = files_of(admin, name)
    open_editor(scene, page, name)
    kptfile = page.locator('textarea[data-path="Kptfile"]')
    kptfile.fill(before["Kptfile"] + "pipeline:\n  mutator: []\n")
    page.locator('textarea[data-path="config.yaml"]').fill("data: [\n")
    page.get_by_role("button", name="Save").click()
    problems = page.get_by_test_id("problems")
    expect(problems.locator('li[data-path="Kptfile"]')).to_contain_text(
        "Kptfile is invalid: field mutator not found in type v1.Pipeline")
    expect(problems.locator('li[data-path="Kptfile"]')).to_contain_text("pipeline.mutator")
    expect(problems.locator('li[data-path="config.yaml"]')).to_contain_text("yaml: line 2")
    assert files_of(admin, name) == before  # nothing saved

    # Fixed, with a pipeline: the render preview shows the function and what it changes, and saves nothing.
    page.locator('textarea[data-path="Kptfile"]').fill(before["Kptfile"] + SET_LABELS)
    page.locator('textarea[data-path="config.yaml"]').fill(before["config.yaml"])
    page.get_by_role("button", name="Preview render").click()
    expect(page.get_by_test_id("render-state")).to_have_text("Render passed")
    image = "ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0"
    function = page.locator(f'#render-functions tr[data-function="{image}"]')
    expect(function).to_have_count(1)
    expect(function.locator("td.severity-info")).to_have_text("info")
    expect(function).to_contain_text("set 1 labels in total")
    assert_accessible(page)  # the editor with its render preview
    assert "+    tier: edge" in changed(page, 'section.change[data-resource="v1 ConfigMap app-config"] tr.added')
    assert files_of(admin, name) == before

    # A function that fails: its exit code and the render's error, with the severity of its results.
    page.locator('textarea[data-path="Kptfile"]').fill(
        before["Kptfile"] + SET_LABELS.replace("set-labels:v0.2.0", "no-such-function:v1"))
    page.get_by_role("button", name="Preview render").click()
    expect(page.get_by_test_id("render-state")).to_have_text("Render failed")
    expect(page.get_by_test_id("render-error")).to_contain_text("no-such-function")

    page.locator('textarea[data-path="Kptfile"]').fill(before["Kptfile"] + SET_LABELS)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Draft")
    expect(page.get_by_text(f"{name}: files saved and rendered")).to_be_visible()
    saved = yaml.safe_load(files_of(admin, name)["config.yaml"])
    assert saved["metadata"]["labels"] == {"tier": "edge"} and saved["data"]["size"] == "large"


def test_a_save_over_someone_elses_save_is_a_409_explained_with_a_reload(scene: Site, page: Page) -> None:
    admin = scene.admin
    admin.init("deploy", "app-edge", "race", tasks=edit_task(f"{EDGE}.v1"))
    name = f"{EDGE}.race"
    open_editor(scene, page, name)
    theirs = files_of(admin, name)
    theirs["config.yaml"] = theirs["config.yaml"].replace("size: large", "size: theirs")
    push(admin, name, theirs)  # behind the browser's back
    page.locator('textarea[data-path="config.yaml"]').fill(theirs["config.yaml"].replace("size: theirs", "size: mine"))
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/edit")) as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 409
    conflict = page.get_by_test_id("conflict")
    expect(conflict).to_contain_text("someone saved this draft after you opened the editor")
    expect(page.locator('textarea[data-path="config.yaml"]')).to_have_value(
        theirs["config.yaml"].replace("size: theirs", "size: mine"))  # the edit is kept to copy
    assert "size: theirs" in files_of(admin, name)["config.yaml"]  # theirs stands
    conflict.get_by_test_id("reload").click()
    expect(page.locator('textarea[data-path="config.yaml"]')).to_have_value(theirs["config.yaml"])
    # Proposed meanwhile: refused too, and said so, with the text kept.
    admin.set_lifecycle(name, "Proposed")
    page.locator('textarea[data-path="config.yaml"]').fill("late: edit\n")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/edit")) as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 409
    expect(page.get_by_test_id("edit-error")).to_contain_text(f"{name} is Proposed: only a Draft's files can be edited")
    expect(page.locator('textarea[data-path="config.yaml"]')).to_have_value("late: edit\n")
    assert "size: theirs" in files_of(admin, name)["config.yaml"]


def test_clone_previewed_then_created_on_confirmation(scene: Site, page: Page) -> None:
    page.goto(f"{scene.url}/ui/revisions/default/catalog.app.v2")
    page.get_by_role("navigation", name="Review").get_by_role("link", name="Clone").click()
    page.get_by_label("Into repository").select_option("deploy")
    page.get_by_label("Package name").fill("app-core")
    page.get_by_role("button", name="Preview the clone").click()
    expect(page.get_by_role("heading", name="The new draft against catalog.app.v2 (Published v2)")).to_be_visible()
    kptfile = page.locator('section.change[data-resource="kpt.dev/v1 Kptfile app"]')
    expect(kptfile).to_have_attribute("data-status", "removed")  # renamed: the Kptfile is now app-core's
    expect(page.locator('section.change[data-resource="kpt.dev/v1 Kptfile app-core"]')).to_have_attribute(
        "data-status", "added")
    assert "internal.kpt.dev/upstream-identifier" in " ".join(changed(page, "tr.line.added"))
    assert scene.admin.http.get(scene.admin.revisions_url("deploy.app-core.v1")).status_code == 404
    page.get_by_role("button", name="Create the draft").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Draft")
    expect(page.get_by_role("heading", level=1)).to_have_text("app-core v1")
    assert yaml.safe_load(files_of(scene.admin, "deploy.app-core.v1")["Kptfile"])["upstreamLock"]["git"]["ref"] == \
        "app/v2"


def test_upgrade_shows_the_merge_before_the_draft_is_made(scene: Site, page: Page) -> None:
    page.goto(f"{scene.url}/ui/revisions/default/{EDGE}.v1")
    page.get_by_role("navigation", name="Review").get_by_role("link", name="Upgrade").click()
    expect(page.get_by_test_id("follows")).to_contain_text("catalog.app.v1")
    expect(page.get_by_label("Upgrade to")).to_have_value("catalog.app.v2")
    page.get_by_label("View").select_option("split")
    page.get_by_role("button", name="Preview the merge").click()
    config = page.locator('section.change[data-resource="v1 ConfigMap app-config"]')
    expect(config).to_have_attribute("data-status", "modified")
    row = config.locator("table.diff.split tr", has=page.locator("td.line.removed"))
    expect(row.locator("td.line.removed")).to_have_text("  color: blue")
    expect(row.locator("td.line.added")).to_have_text("  color: green")  # upstream's change; the local size stays
    expect(page.locator('section.change[data-resource="v1 ConfigMap extra"]')).to_have_attribute("data-status", "added")
    assert scene.admin.http.get(scene.admin.revisions_url(f"{EDGE}.upgrade-v2")).status_code == 404
    page.get_by_role("button", name="Create the draft").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Draft")
    merged = yaml.safe_load(files_of(scene.admin, f"{EDGE}.upgrade-v2")["config.yaml"])
    assert merged["data"] == {"color": "green", "size": "large"}
    # Proposed, it waits in the queue, whose size figure opens its changes against the revision it upgraded.
    scene.admin.set_lifecycle(f"{EDGE}.upgrade-v2", "Proposed")
    page.goto(f"{scene.url}/ui/queue")
    page.locator(f'tr[data-row="default/{EDGE}.upgrade-v2"]').get_by_test_id("diff").get_by_role("link").click()
    expect(page.get_by_test_id("sides")).to_have_text(f"{EDGE}.v1 (Published v1) → {EDGE}.upgrade-v2 (Proposed)")


def test_writes_need_the_right_and_a_create_needs_the_previewed_files(scene: Site) -> None:
    context = scene.context()
    viewer = context.new_page()
    login(viewer, scene, VIEWER_TOKEN)
    viewer.goto(f"{scene.url}/ui/revisions/default/{EDGE}.v2")
    expect(viewer.get_by_role("navigation", name="Review").get_by_role("link")).to_have_text(["Changes"])
    csrf = csrf_of(viewer)
    refused = context.request.post(f"{scene.url}/ui/revisions/default/{EDGE}.v2/edit", form={
        "csrf_token": csrf, "resource_version": "1", "path": "Kptfile", "content": KPTFILE, "action": "save"})
    assert refused.status == 403, refused.text()
    refused = context.request.post(f"{scene.url}/ui/revisions/default/catalog.app.v2/clone", form={
        "csrf_token": csrf, "repository": "deploy", "package": "x", "workspace": "v1", "action": "preview"})
    assert refused.status == 403, refused.text()
    context.close()

    context = scene.context()
    admin_page = context.new_page()
    login(admin_page, scene)
    stale = context.request.post(f"{scene.url}/ui/revisions/default/catalog.app.v2/clone", form={
        "csrf_token": csrf_of(admin_page), "repository": "deploy", "package": "app-stale", "workspace": "v1",
        "action": "create", "digest": "0" * 64})
    assert stale.status == 409 and "preview again" in stale.text()
    assert scene.admin.http.get(scene.admin.revisions_url("deploy.app-stale.v1")).status_code == 404
    context.close()
