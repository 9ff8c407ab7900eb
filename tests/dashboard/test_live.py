"""Live updates: a change made through the API shows in an open page without a reload."""

from __future__ import annotations

import re
import ssl
from functools import partial
from pathlib import Path

import httpx
import trio
from playwright.sync_api import expect

from porch_embedded.server import Settings, run
from tests.dashboard.conftest import Site, login


def test_a_revision_made_through_the_api_appears_in_the_open_page(site: Site) -> None:
    site.admin.register("live")
    site.admin.init("live", "first", "ws1")
    context = site.context()
    page = context.new_page()
    login(page, site)
    page.goto(f"{site.url}/ui/repositories/default/live/packages")
    expect(page.get_by_test_id("total")).to_have_text("1 revision; page 1 of 1")
    page.evaluate("window.stamp = 'not reloaded'")
    site.admin.init("live", "second", "ws1")
    expect(page.get_by_test_id("total")).to_have_text("2 revisions; page 1 of 1")
    expect(page.get_by_role("link", name="second")).to_be_visible()
    site.admin.set_lifecycle("live.second.ws1", "Proposed")
    page.goto(f"{site.url}/ui/revisions/default/live.second.ws1")
    page.evaluate("window.stamp = 'not reloaded'")
    site.admin.publish_proposed("live.second.ws1")
    expect(page.get_by_test_id("lifecycle")).to_have_text("Published")
    assert page.evaluate("window.stamp") == "not reloaded"
    context.close()


def test_the_stream_resumes_from_last_event_id(site: Site) -> None:
    """What a reconnecting browser gets: the changes after the id it last saw, and no others."""
    context = site.context()
    page = context.new_page()
    login(page, site)
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    context.close()
    site.admin.register("resumed")
    first = site.admin.init("resumed", "one", "ws1")
    site.admin.init("resumed", "two", "ws1")
    seen = int(first["metadata"]["resourceVersion"])
    with httpx.Client(base_url=site.url, verify=False, cookies=cookies, timeout=10) as client:
        with client.stream("GET", "/ui/events?topics=packagerevisions&since=1",
                           headers={"Last-Event-ID": str(seen)}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            text = ""
            for chunk in response.iter_text():
                text += chunk
                if "resumed.two.ws1" in text:
                    break
    assert "resumed.one.ws1" not in text
    assert "event: packagerevisions" in text


def test_the_stream_needs_a_session(site: Site) -> None:
    with httpx.Client(base_url=site.url, verify=False, timeout=10) as client:
        assert client.get("/ui/events?topics=packagerevisions").status_code == 401


async def test_the_stream_ends_cleanly_when_the_server_drains(tmp_path: Path) -> None:
    """On SIGTERM the drain ends every event stream with its final chunk, so the browser reconnects
    (elsewhere) with its Last-Event-ID instead of holding the server's drain to its grace period."""
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        settings = Settings(data_dir=tmp_path / "data", port=0, controllers=False, shutdown_grace_period_s=20)
        url = await nursery.start(partial(run, settings, shutdown=shutdown))
        context = ssl.create_default_context(cafile=str(tmp_path / "data" / "pki" / "ca.crt"))
        async with httpx.AsyncClient(base_url=url, verify=context, timeout=30) as browser:
            form = await browser.get("/ui/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf is not None
            token = (tmp_path / "data" / "admin-token").read_text().strip()
            assert (await browser.post("/ui/login", data={"token": token, "csrf_token": csrf.group(1)})).status_code == 302
            async with browser.stream("GET", "/ui/events?topics=repositories") as stream:
                assert stream.status_code == 200
                chunks = stream.aiter_text()
                assert (await chunks.__anext__()).startswith("retry:")
                with trio.fail_after(15):  # a bound for a hung drain, not a timing claim
                    shutdown.set()
                    rest = [chunk async for chunk in chunks]
        assert not "".join(rest).strip()  # ended, cleanly: no error, nothing half-sent
