"""Browsing a repository's revisions: filter by lifecycle and name, sort, page; all on the server."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.dashboard.conftest import Site, assert_accessible, login, screenshot


def packages(page: Page) -> list[str]:
    return [cell.strip() for cell in page.locator("#revisions tbody tr td:first-child").all_inner_texts()]


def test_filter_sort_and_page_the_revisions_of_a_repository(site: Site) -> None:
    site.admin.register("shelf")
    for package in ("alpha", "bravo", "charlie", "delta", "echo"):
        site.admin.init("shelf", package, "ws1")
    site.admin.set_lifecycle("shelf.bravo.ws1", "Proposed")
    site.admin.publish("shelf.delta.ws1")
    context = site.context()
    page = context.new_page()
    login(page, site)
    page.get_by_role("link", name="shelf").click()
    # publishing delta also made its "main" revision (the package on the branch, as Porch shows it)
    expect(page.get_by_test_id("total")).to_have_text("6 revisions; page 1 of 1")
    assert packages(page) == ["alpha", "bravo", "charlie", "delta", "delta latest", "echo"]
    screenshot(page, "packages")
    assert_accessible(page)

    page.get_by_label("Draft", exact=True).check()
    expect(page.get_by_test_id("total")).to_have_text("3 revisions; page 1 of 1")
    assert packages(page) == ["alpha", "charlie", "echo"]
    assert "lifecycle=Draft" in page.url  # the filter is in the address: a reload or a link keeps it
    page.get_by_label("Proposed", exact=True).check()
    expect(page.get_by_test_id("total")).to_have_text("4 revisions; page 1 of 1")
    page.get_by_label("Sort by").select_option("-name")
    expect(page.locator("#revisions tbody tr").first).to_contain_text("echo")
    assert packages(page) == ["echo", "charlie", "bravo", "alpha"]
    page.get_by_label("Name contains").fill("ar")
    expect(page.get_by_test_id("total")).to_have_text("1 revision; page 1 of 1")
    assert packages(page) == ["charlie"]

    page.goto(f"{site.url}/ui/repositories/default/shelf/packages?sort=name&per_page=2")
    expect(page.get_by_test_id("total")).to_have_text("6 revisions; page 1 of 3")
    assert packages(page) == ["alpha", "bravo"]
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_test_id("total")).to_have_text("6 revisions; page 2 of 3")
    assert packages(page) == ["charlie", "delta"]
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_test_id("total")).to_have_text("6 revisions; page 3 of 3")
    assert packages(page) == ["delta latest", "echo"]
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="Previous page").click()
    expect(page.get_by_test_id("total")).to_have_text("6 revisions; page 2 of 3")
    context.close()
