"""Signing in (bearer token, client certificate), signing out, the cookie, CSRF on writes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.dashboard.conftest import Site, login
from tests.parts.server import start_server


def test_sign_in_with_a_token_then_out(site: Site) -> None:
    context = site.context()
    page = context.new_page()
    page.goto(f"{site.url}/ui/")
    expect(page).to_have_url(f"{site.url}/ui/login?next=/ui/")
    login(page, site)
    expect(page.get_by_test_id("user")).to_have_text("admin")
    expect(page.get_by_role("heading", name="Repositories")).to_be_visible()
    headers = page.request.get(f"{site.url}/ui/").headers
    assert headers["x-frame-options"] == "DENY"  # no approve button clickable through another site's frame
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    cookie = next(c for c in context.cookies() if c["name"] == "porch_ui_session")
    assert (cookie["path"], cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == ("/ui", True, True, "Strict")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Bearer token")).to_be_visible()
    page.goto(f"{site.url}/ui/")
    expect(page.get_by_label("Bearer token")).to_be_visible()
    context.close()


def test_a_wrong_token_is_refused(site: Site) -> None:
    context = site.context()
    page = context.new_page()
    page.goto(f"{site.url}/ui/login")
    page.get_by_label("Bearer token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("bearer token is not known")
    context.close()


def test_sign_in_with_a_client_certificate(site: Site) -> None:
    cert, key = site.certificate("alice", ("porch-viewers",))
    context = site.context(client_certificates=[{"origin": site.url, "certPath": str(cert), "keyPath": str(key)}])
    page = context.new_page()
    page.goto(f"{site.url}/ui/")
    page.get_by_role("button", name="Continue as alice").click()
    expect(page.get_by_test_id("user")).to_have_text("alice")
    context.close()


def test_a_write_without_the_csrf_token_is_refused(site: Site) -> None:
    context = site.context()
    page = context.new_page()
    login(page, site)
    response = context.request.post(f"{site.url}/ui/logout", form={})
    assert response.status == 403
    assert "CSRF token" in response.text()
    page.reload()
    expect(page.get_by_test_id("user")).to_have_text("admin")  # still signed in: the write was refused
    context.close()


async def test_replicas_sharing_a_store_key_accept_each_others_sessions(tmp_path: Path) -> None:
    """Behind a load balancer the next request may reach another replica: the session must hold there."""
    key = tmp_path / "shared-store.key"
    async with start_server(tmp_path / "a", store_key_file=key, controllers=False) as first, \
            start_server(tmp_path / "b", store_key_file=key, controllers=False) as second, \
            start_server(tmp_path / "c", controllers=False) as stranger:
        async with first.client(token=None) as browser:
            form = await browser.get("/ui/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf is not None
            signed_in = await browser.post("/ui/login", data={"token": first.token, "csrf_token": csrf.group(1)})
            assert signed_in.status_code == 302
            cookie = browser.cookies["porch_ui_session"]
        for replica, accepted in ((second, True), (stranger, False)):
            async with replica.client(token=None) as other:
                other.cookies.set("porch_ui_session", cookie, domain=httpx.URL(replica.url).host, path="/ui")
                page = await other.get("/ui/")
                assert (page.status_code == 200 and "Signed in as" in page.text) is accepted, page.status_code


def test_tab_walks_the_page_in_reading_order_with_a_visible_ring(site: Site) -> None:
    context = site.context()
    page = context.new_page()
    login(page, site)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    seen: list[str] = []
    for _ in range(5):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.textContent.trim()"))  # header, then the page's main
        ring = page.evaluate("""() => { const style = getComputedStyle(document.activeElement);
                                        return [style.outlineStyle, style.outlineWidth, style.boxShadow]; }""")
        assert ring[0] == "solid" and ring[1] == "3px" and ring[2] != "none", (seen[-1], ring)
    assert seen == ["Repositories", "Approval queue", "Variants", "Sign out", "Register a repository"], seen
    context.close()
