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


def _read_until(client: httpx.Client, url: str, wanted: str, last_event_id: str = "") -> str:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = ""
        for chunk in response.iter_text():
            text += chunk
            if wanted in text and text.endswith("\n\n"):
                return text
    raise AssertionError(f"the stream ended before {wanted!r}: {text}")


def test_the_stream_resumes_from_last_event_id(site: Site) -> None:
    """What a reconnecting browser gets: the changes after the id it last saw, and no others."""
    context = site.context()
    page = context.new_page()
    login(page, site)
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    context.close()
    site.admin.register("resumed")
    start = site.admin.get_repository("resumed")["metadata"]["resourceVersion"]
    first = site.admin.init("resumed", "one", "ws1")
    url = f"/ui/events?topics=packagerevisions,repositories&since={start}"
    with httpx.Client(base_url=site.url, verify=False, cookies=cookies, timeout=10) as client:
        seen = _read_until(client, url, "resumed.one.ws1")
        last_id = [line[4:] for line in seen.splitlines() if line.startswith("id: ")][-1]
        assert "packagerevisions@=" in last_id and "repositories@=" in last_id  # one position per watch
        site.admin.init("resumed", "two", "ws1")
        resumed = _read_until(client, url, "resumed.two.ws1", last_event_id=last_id)
        assert "resumed.one.ws1" not in resumed
        assert "event: packagerevisions" in resumed
        # a plain resourceVersion (what a client of the first format would send) resumes every watch there
        newest = max(int(position) for position in re.findall(r"=(\d+)", last_id))
        assert newest >= int(first["metadata"]["resourceVersion"])
        plain = _read_until(client, url, "resumed.two.ws1", last_event_id=str(newest))
        assert "resumed.one.ws1" not in plain


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
            signed_in = await browser.post("/ui/login", data={"token": token, "csrf_token": csrf.group(1)})
            assert signed_in.status_code == 302
            async with browser.stream("GET", "/ui/events?topics=repositories") as stream:
                assert stream.status_code == 200
                chunks = stream.aiter_text()
                assert (await chunks.__anext__()).startswith("retry:")
                with trio.fail_after(15):  # a bound for a hung drain, not a timing claim
                    shutdown.set()
                    rest = [chunk async for chunk in chunks]
        assert not "".join(rest).strip()  # ended, cleanly: no error, nothing half-sent
