"""The repositories page: status, sync now, registering a repository, live changes."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.dashboard.conftest import Site, assert_accessible, login, screenshot


def test_repositories_show_readiness_and_sync_now_syncs(site: Site) -> None:
    site.admin.register("blueprints")
    site.admin.init("blueprints", "basens", "v1")
    context = site.context()
    page = context.new_page()
    login(page, site)
    row = page.locator("tr[data-repository=blueprints]")
    expect(row.get_by_test_id("ready")).to_have_text("Ready")
    before = row.get_by_test_id("last-sync").inner_text()
    assert before
    status = site.admin.get_repository("blueprints")["status"]
    expect(row.get_by_test_id("next-sync")).to_have_text(status["nextFullSyncTime"])
    expect(row.get_by_test_id("packages")).to_have_text(str(status["packageCount"]))
    expect(row.get_by_test_id("revisions")).to_have_text("1")
    expect(row.get_by_test_id("commit")).to_have_text(status["gitCommitHash"][:12])
    page.wait_for_timeout(1100)  # sync times have second precision
    row.get_by_role("button", name="Sync blueprints now").click()
    expect(page.get_by_role("status")).to_contain_text("Sync of default/blueprints requested")
    # the sync controller syncs and writes the status; the row follows live
    expect(page.locator("tr[data-repository=blueprints]").get_by_test_id("last-sync")).not_to_have_text(before,
                                                                                                      timeout=15000)
    screenshot(page, "repositories")
    assert_accessible(page)
    context.close()


def test_register_a_repository_through_the_form(site: Site) -> None:
    site.admin.git.create_repo("fresh")
    context = site.context()
    page = context.new_page()
    login(page, site)
    page.get_by_role("link", name="Register a repository").click()
    page.get_by_label("Name", exact=True).fill("fresh")
    page.get_by_label("Git URL").fill(site.admin.git.url("fresh"))
    page.get_by_label("User name").fill("porch-tester")
    page.get_by_label("Password or token").fill("s3cret-Pa55word-xyzzy")
    page.get_by_label("Create the branch if it is missing").check()
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status")).to_contain_text("Repository default/fresh registered")
    expect(page.locator("tr[data-repository=fresh]").get_by_test_id("ready")).to_have_text("Ready", timeout=15000)
    assert site.admin.wait_ready("fresh")["spec"]["git"]["secretRef"] == {"name": "fresh-auth"}
    context.close()


def test_registering_a_clash_says_what_to_fix(site: Site) -> None:
    context = site.context()
    page = context.new_page()
    login(page, site)
    page.goto(f"{site.url}/ui/repositories/new")
    page.get_by_label("Name", exact=True).fill("Not_A_Name")
    page.get_by_label("Git URL").fill("http://127.0.0.1:9/x.git")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("Not_A_Name")
    expect(page.get_by_label("Git URL")).to_have_value("http://127.0.0.1:9/x.git")  # the form keeps what was typed
    context.close()


def test_a_repository_that_fails_to_sync_shows_error_and_why(site: Site) -> None:
    admin = site.admin
    admin.secret("missing-auth")
    admin.ok(admin.http.post(admin.repositories_url(), json={
        "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "missing"},
        "spec": {"type": "git", "git": {"repo": admin.git.url("no-such-repository"), "branch": "main",
                                        "secretRef": {"name": "missing-auth"}}}}), 201)
    context = site.context()
    page = context.new_page()
    login(page, site)
    row = page.locator("tr[data-repository=missing]")
    expect(row.get_by_test_id("ready")).to_have_text("Error", timeout=15000)  # arrives live once the sync failed
    expect(row.locator(".detail")).not_to_be_empty()
    context.close()
