"""The variants page: PackageVariantSets, their PackageVariants, downstream drafts and conditions."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.dashboard.conftest import Site, login
from tests.parts.git_server import package_files


def test_variants_show_their_downstream_drafts_and_conditions(site: Site) -> None:
    admin = site.admin
    admin.git.create_repo("blueprints").commit(package_files("basens"), tags=["basens/v1"])
    admin.secret("blueprints-auth")
    admin.ok(admin.http.post(admin.repositories_url(), json={
        "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "blueprints"},
        "spec": {"type": "git", "git": {"repo": admin.git.url("blueprints"), "branch": "main",
                                        "secretRef": {"name": "blueprints-auth"}}}}), 201)
    admin.wait_ready("blueprints")
    admin.register("edge-01")
    admin.ok(admin.http.post("/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/packagevariants", json={
        "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "PackageVariant", "metadata": {"name": "single"},
        "spec": {"upstream": {"repo": "blueprints", "package": "basens", "revision": 1},
                 "downstream": {"repo": "edge-01", "package": "single-ns"}}}), 201)
    admin.ok(admin.http.post("/apis/config.porch.kpt.dev/v1alpha2/namespaces/default/packagevariantsets", json={
        "apiVersion": "config.porch.kpt.dev/v1alpha2", "kind": "PackageVariantSet", "metadata": {"name": "fleet"},
        "spec": {"upstream": {"repo": "blueprints", "package": "basens", "revision": 1},
                 "targets": [{"repositories": [{"name": "edge-01", "packageNames": ["fleet-ns"]}]}]}}), 201)

    context = site.context()
    page = context.new_page()
    login(page, site)
    page.get_by_role("link", name="Variants").click()
    single = page.locator("tr[data-variant=single]")
    expect(single).to_contain_text("blueprints/basens @ v1")
    expect(single).to_contain_text("edge-01/single-ns")
    expect(single.get_by_role("link")).to_have_text("packagevariant-1", timeout=15000)  # the draft, once made
    expect(single).to_contain_text("Draft")
    expect(single).to_contain_text("Ready=True")
    sets = page.locator("#variant-sets")
    expect(sets).to_contain_text("fleet")
    fleet_variant = page.locator("#package-variants tr", has_text="set fleet")
    expect(fleet_variant).to_contain_text("edge-01/fleet-ns", timeout=15000)
    expect(sets.locator("tr", has_text="fleet")).to_contain_text(fleet_variant.locator("td").nth(1).inner_text()
                                                                 .replace(" set fleet", ""))
    single.get_by_role("link").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("Draft")
    expect(page.get_by_test_id("upstream-lock")).to_contain_text("basens/v1")
    context.close()
