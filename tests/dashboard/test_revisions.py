"""A revision's page (resources, pipeline, tasks, render results, approval) and the moves on it."""

from __future__ import annotations

from playwright.sync_api import Dialog, Page, expect

from tests.dashboard.conftest import Site, assert_accessible, login, screenshot

PIPELINE = """\
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
BROKEN = PIPELINE.replace("gcr.io/kpt-fn/set-labels:v0.2.0", "example.com/no-such-function:v1")
GATED = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: gated
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  readinessGates:
    - conditionType: example.com/reviewed
status:
  conditions:
    - type: example.com/reviewed
      status: "True"
      reason: LooksGood
      message: checked by a person
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  k: v\n"


def accept_dialogs(page: Page, seen: list[str]) -> None:
    def on_dialog(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)


def push(site: Site, name: str, files: dict[str, str], code: int = 200) -> None:
    url = f"/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources/{name}"
    current = site.admin.ok(site.admin.http.get(url))
    current["spec"]["resources"] = {**current["spec"]["resources"], **files}
    response = site.admin.http.put(url, json=current)
    assert response.status_code == code, response.text


def test_the_revision_page_shows_pipeline_render_results_and_files(site: Site) -> None:
    site.admin.register("catalog")
    site.admin.init("catalog", "app", "ws1")
    push(site, "catalog.app.ws1", {"Kptfile": PIPELINE, "cm.yaml": CONFIGMAP})
    push(site, "catalog.app.ws1", {"Kptfile": BROKEN}, code=422)
    context = site.context()
    page = context.new_page()
    login(page, site)
    page.goto(f"{site.url}/ui/revisions/default/catalog.app.ws1")
    expect(page.get_by_role("heading", level=1)).to_contain_text("app")
    expect(page.get_by_test_id("lifecycle")).to_have_text("Draft")
    expect(page.get_by_text("gcr.io/kpt-fn/set-labels:v0.2.0", exact=True)).to_be_visible()
    expect(page.get_by_test_id("render-state")).to_contain_text("Render failed")
    expect(page.get_by_test_id("render-error")).to_contain_text("no-such-function")
    expect(page.get_by_text("an update that was refused because of it")).to_be_visible()
    page.reload()  # the failure is stored on the revision, not in the browser
    expect(page.get_by_test_id("render-error")).to_contain_text("no-such-function")
    expect(page.locator("summary", has_text="cm.yaml")).to_be_visible()
    expect(page.get_by_test_id("commit")).not_to_be_empty()
    expect(page.get_by_test_id("branch")).to_have_text(
        site.admin.get("catalog.app.ws1")["status"]["selfLock"]["git"]["ref"])
    expect(page.get_by_test_id("tasks")).to_contain_text("type: init")
    expect(page.get_by_text("No readiness gates.")).to_be_visible()

    # A readiness gate and the condition that answers it, both from the Kptfile.
    site.admin.init("catalog", "gated", "ws1", readinessGates=[{"conditionType": "example.com/reviewed"}])
    push(site, "catalog.gated.ws1", {"Kptfile": GATED})
    page.goto(f"{site.url}/ui/revisions/default/catalog.gated.ws1")
    expect(page.get_by_test_id("gate")).to_have_text("example.com/reviewed: True LooksGood checked by a person")
    expect(page.locator("#conditions tbody tr", has_text="example.com/reviewed")).to_contain_text("LooksGood")
    screenshot(page, "revision")
    assert_accessible(page)
    context.close()


def test_propose_approve_then_propose_deletion_and_reject_it(site: Site) -> None:
    site.admin.register("flow")
    site.admin.init("flow", "web", "ws1")
    context = site.context()
    page = context.new_page()
    dialogs: list[str] = []
    accept_dialogs(page, dialogs)
    login(page, site)
    page.goto(f"{site.url}/ui/revisions/default/flow.web.ws1")
    page.get_by_role("button", name="Propose", exact=True).click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Proposed")
    expect(page.get_by_role("status")).to_contain_text("flow.web.ws1 proposed")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Draft")
    page.get_by_role("button", name="Propose", exact=True).click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Proposed")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Published")
    expect(page.get_by_test_id("approved-by")).to_have_text("admin")
    published = site.admin.get("flow.web.ws1")["status"]
    expect(page.get_by_test_id("tag")).to_have_text("web/v1")
    expect(page.get_by_test_id("commit")).to_have_text(published["selfLock"]["git"]["commit"])
    expect(page.get_by_text(published["publishTimestamp"], exact=True)).to_be_visible()
    assert site.admin.get("flow.web.ws1")["spec"]["revision"] == 1
    page.get_by_role("button", name="Propose deletion").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("DeletionProposed")
    page.get_by_role("button", name="Reject deletion").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Published")
    page.get_by_role("button", name="Propose deletion").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("DeletionProposed")
    page.get_by_role("button", name="Approve deletion").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Packages of default/flow")  # the revision is gone
    expect(page.get_by_role("status")).to_contain_text("flow.web.ws1: deletion approved")
    assert site.admin.http.get(site.admin.revisions_url("flow.web.ws1")).status_code == 404
    assert dialogs == ["Reject flow.web.ws1 and send it back to Draft?", "Approve and publish flow.web.ws1?",
                       "Propose deleting flow.web.ws1? An approver must then approve the deletion.",
                       "Keep flow.web.ws1 published and reject its deletion?",
                       "Propose deleting flow.web.ws1? An approver must then approve the deletion.",
                       "Delete flow.web.ws1 for good? Its tag is removed from git."]
    context.close()


def test_a_dismissed_confirmation_changes_nothing(site: Site) -> None:
    site.admin.register("careful")
    site.admin.init("careful", "db", "ws1")
    site.admin.set_lifecycle("careful.db.ws1", "Proposed")
    context = site.context()
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    login(page, site)
    page.goto(f"{site.url}/ui/revisions/default/careful.db.ws1")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("lifecycle")).to_have_text("Proposed")
    assert site.admin.get("careful.db.ws1")["spec"]["lifecycle"] == "Proposed"
    context.close()


def test_a_conflict_explains_what_changed_and_offers_reload(site: Site) -> None:
    site.admin.register("raced")
    site.admin.init("raced", "api", "ws1")
    site.admin.set_lifecycle("raced.api.ws1", "Proposed")
    context = site.context()
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, site)
    page.goto(f"{site.url}/ui/revisions/default/raced.api.ws1")
    page.evaluate("htmx.find('main').removeAttribute('sse-connect')")  # no live refresh: the page stays stale
    page.goto(f"{site.url}/ui/revisions/default/raced.api.ws1")
    expect(page.get_by_test_id("lifecycle")).to_have_text("Proposed")
    page.route("**/ui/events*", lambda route: route.abort())
    page.reload()
    site.admin.set_lifecycle("raced.api.ws1", "Draft")  # someone else rejects it meanwhile
    page.get_by_role("button", name="Approve").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("raced.api.ws1 changed since you loaded the page: it is now Draft (you saw Proposed)")
    page.get_by_role("button", name="Reload").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Draft")
    assert site.admin.get("raced.api.ws1")["spec"]["lifecycle"] == "Draft"
    context.close()
