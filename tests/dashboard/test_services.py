"""Authorization as the API's: a read-only user sees no write buttons, and forged writes are refused."""

from __future__ import annotations

import html

from playwright.sync_api import expect

from tests.dashboard.conftest import APPROVER_TOKEN, TEAM_A_TOKEN, VIEWER_TOKEN, Site, csrf_of, login


def test_a_read_only_user_sees_no_write_buttons_and_a_forged_write_is_refused(site: Site) -> None:
    site.admin.register("guarded")
    site.admin.init("guarded", "app", "ws1")
    site.admin.set_lifecycle("guarded.app.ws1", "Proposed")
    context = site.context()
    page = context.new_page()
    login(page, site, VIEWER_TOKEN)
    expect(page.get_by_test_id("user")).to_have_text("viewer")
    expect(page.locator("tr[data-repository=guarded]")).to_be_visible()
    expect(page.get_by_role("button", name="Sync guarded now")).to_have_count(0)
    expect(page.get_by_role("link", name="Register a repository")).to_have_count(0)
    page.goto(f"{site.url}/ui/revisions/default/guarded.app.ws1")
    expect(page.get_by_test_id("lifecycle")).to_have_text("Proposed")
    expect(page.locator("main button")).to_have_count(0)
    page.goto(f"{site.url}/ui/queue")
    expect(page.locator("#queue-table tbody tr[data-row]")).to_have_count(1)
    expect(page.locator("#queue-table button")).to_have_count(0)

    token = csrf_of(page)  # a well-formed write, with this session's CSRF token: only authorization stops it
    current = site.admin.get("guarded.app.ws1")
    response = context.request.post(f"{site.url}/ui/revisions/default/guarded.app.ws1/approve", form={
        "csrf_token": token, "resource_version": current["metadata"]["resourceVersion"], "lifecycle": "Proposed"})
    assert response.status == 403
    assert 'User "viewer" cannot update resource "packagerevisions/approval"' in html.unescape(response.text())
    sync = context.request.post(f"{site.url}/ui/repositories/default/guarded/sync", form={"csrf_token": token})
    assert sync.status == 403
    register = context.request.post(f"{site.url}/ui/repositories", form={
        "csrf_token": token, "name": "sneaky", "repo": "http://127.0.0.1:9/x.git"})
    assert register.status == 403
    assert site.admin.get("guarded.app.ws1")["spec"]["lifecycle"] == "Proposed"
    assert site.admin.http.get(site.admin.repositories_url("sneaky")).status_code == 404
    context.close()


def test_an_approver_may_approve(site: Site) -> None:
    site.admin.register("approvable")
    site.admin.init("approvable", "app", "ws1")
    site.admin.set_lifecycle("approvable.app.ws1", "Proposed")
    context = site.context()
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, site, APPROVER_TOKEN)
    page.goto(f"{site.url}/ui/revisions/default/approvable.app.ws1")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Published")
    expect(page.get_by_test_id("approved-by")).to_have_text("approver")
    context.close()


def test_a_user_of_one_namespace_sees_that_namespace_only(site: Site) -> None:
    admin = site.admin
    admin.ok(admin.http.post("/api/v1/namespaces", json={"metadata": {"name": "team-a"}}), 201)
    admin.register("ours", namespace="team-a")
    admin.register("theirs")
    admin.init("ours", "app", "ws1", namespace="team-a")
    admin.set_lifecycle("ours.app.ws1", "Proposed", namespace="team-a")
    admin.init("theirs", "app", "ws1")
    admin.set_lifecycle("theirs.app.ws1", "Proposed")
    context = site.context()
    page = context.new_page()
    login(page, site, TEAM_A_TOKEN)
    expect(page.locator("tr[data-repository=ours]")).to_be_visible()
    expect(page.locator("tr[data-repository=theirs]")).to_have_count(0)
    page.goto(f"{site.url}/ui/queue")
    rows = page.locator("#queue-table tbody tr[data-row]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-row", "team-a/ours.app.ws1")
    response = page.goto(f"{site.url}/ui/revisions/default/theirs.app.ws1")
    assert response is not None and response.status == 403
    context.close()
