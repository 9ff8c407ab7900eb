"""Signing in (bearer token, client certificate), signing out, the cookie, CSRF on writes."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.dashboard.conftest import Site, login


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
