"""One real server and one real git server per test module, one real browser per test session.

The server runs in a trio loop of its own in a worker thread (``ServerThread``), so
that module-scoped fixtures can share it and the tests drive Debian's chromium through
playwright's sync API from the main thread; the API is spoken to with a plain httpx
client as the admin (``Admin``) to set the scene and to make changes behind the
browser's back. Nothing here downloads a browser: chromium is the system's.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import re
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from porch_embedded.server import issue_client_certificate_files
from tests.parts.git_server import PASSWORD, USERNAME, GitServer, serve_git
from tests.parts.server import RunningServer, start_server

__all__ = ["Admin", "ServerThread", "assert_accessible", "browser", "login", "screenshot", "site"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWER_TOKEN = "viewer-token-3c1f0e9a7b"
APPROVER_TOKEN = "approver-token-8d2b6f4a1c"
TEAM_A_TOKEN = "team-a-token-5e7c9d1b3f"

POLICY = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: porch-viewer}
rules:
- apiGroups: [porch.kpt.dev, config.porch.kpt.dev]
  resources: ["*"]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: porch-viewers}
roleRef: {kind: ClusterRole, name: porch-viewer}
subjects: [{kind: Group, name: porch-viewers}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: porch-approver}
rules:
- apiGroups: [porch.kpt.dev, config.porch.kpt.dev]
  resources: ["*"]
  verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: porch-approvers}
roleRef: {kind: ClusterRole, name: porch-approver}
subjects: [{kind: Group, name: porch-approvers}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: team-a-viewers, namespace: team-a}
roleRef: {kind: ClusterRole, name: porch-viewer}
subjects: [{kind: Group, name: team-a}]
"""


class ServerThread:
    """A porch-embedded server in a trio loop of its own, in a worker thread; ``stop`` ends it."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self._ready: queue.Queue[RunningServer | BaseException] = queue.Queue()
        self._stop: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread = threading.Thread(target=self._main, args=(data_dir, overrides), name="porch-server",
                                        daemon=True)
        self._thread.start()
        started = self._ready.get(timeout=60)
        if isinstance(started, BaseException):
            raise started
        self.server = started

    def _main(self, data_dir: Path, overrides: dict[str, Any]) -> None:
        async def serve() -> None:
            self._stop = trio.Event()
            self._token = trio.lowlevel.current_trio_token()
            async with start_server(data_dir, **overrides) as running:
                self._ready.put(running)
                await self._stop.wait()

        try:
            trio.run(serve)
        except BaseException as error:  # reported to the test thread, which raises it
            self._ready.put(error)

    def stop(self) -> None:
        if self._stop is not None and self._token is not None:
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout=30)


@dataclass
class Admin:
    """The API as the admin, over HTTPS: sets the scene and changes things behind the browser's back."""

    server: RunningServer
    http: httpx.Client
    git: GitServer
    namespace: str = "default"

    def ok(self, response: httpx.Response, code: int = 200) -> dict[str, Any]:
        assert response.status_code == code, response.text
        return dict(response.json())

    def revisions_url(self, name: str = "", sub: str = "", namespace: str = "") -> str:
        url = f"/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace or self.namespace}/packagerevisions"
        return url + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    def repositories_url(self, name: str = "", namespace: str = "") -> str:
        url = f"/apis/config.porch.kpt.dev/v1alpha1/namespaces/{namespace or self.namespace}/repositories"
        return url + (f"/{name}" if name else "")

    def secret(self, name: str, namespace: str = "") -> None:
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                  "type": "kubernetes.io/basic-auth", "stringData": {"username": USERNAME, "password": PASSWORD}}
        response = self.http.post(f"/api/v1/namespaces/{namespace or self.namespace}/secrets", json=secret)
        assert response.status_code in (201, 409), response.text

    def register(self, name: str, *, namespace: str = "", wait: bool = True) -> dict[str, Any]:
        self.git.create_repo(name)
        self.secret(f"{name}-auth", namespace)
        body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
                "spec": {"type": "git", "git": {"repo": self.git.url(name), "branch": "main",
                                                "createBranch": True, "secretRef": {"name": f"{name}-auth"}}}}
        created = self.ok(self.http.post(self.repositories_url(namespace=namespace), json=body), 201)
        return self.wait_ready(name, namespace) if wait else created

    def wait_ready(self, name: str, namespace: str = "") -> dict[str, Any]:
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while dt.datetime.now() < deadline:
            repository = self.ok(self.http.get(self.repositories_url(name, namespace)))
            conditions = (repository.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return repository
            threading.Event().wait(0.05)
        raise AssertionError(f"repository {name} did not become ready")

    def init(self, repository: str, package: str, workspace: str = "v1", namespace: str = "",
             **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                "metadata": {"namespace": namespace or self.namespace},
                "spec": {"repository": repository, "packageName": package, "workspaceName": workspace, **spec}}
        return self.ok(self.http.post(self.revisions_url(namespace=namespace), json=body), 201)

    def get_repository(self, name: str, namespace: str = "") -> dict[str, Any]:
        return self.ok(self.http.get(self.repositories_url(name, namespace)))

    def get(self, name: str, namespace: str = "") -> dict[str, Any]:
        return self.ok(self.http.get(self.revisions_url(name, namespace=namespace)))

    def set_lifecycle(self, name: str, lifecycle: str, *, via: str = "", namespace: str = "") -> dict[str, Any]:
        current = self.get(name, namespace)
        current["spec"]["lifecycle"] = lifecycle
        return self.ok(self.http.put(self.revisions_url(name, via, namespace), json=current))

    def publish(self, name: str, namespace: str = "") -> dict[str, Any]:
        self.set_lifecycle(name, "Proposed", namespace=namespace)
        return self.publish_proposed(name, namespace)

    def publish_proposed(self, name: str, namespace: str = "") -> dict[str, Any]:
        return self.set_lifecycle(name, "Published", via="approval", namespace=namespace)


@dataclass
class Site:
    """What a test module shares: the server, the admin, the browser."""

    server: RunningServer
    admin: Admin
    browser: Browser
    data_dir: Path
    sessions: dict[str, list[Any]] = field(default_factory=dict)
    """The session cookie of each token signed in through the form once (``login`` reuses it)."""

    @property
    def url(self) -> str:
        return self.server.url

    def context(self, **options: Any) -> BrowserContext:
        return self.browser.new_context(ignore_https_errors=True, **options)

    def certificate(self, user: str, groups: tuple[str, ...]) -> tuple[Path, Path]:
        out = self.data_dir.parent / "certs" / user
        out.parent.mkdir(parents=True, exist_ok=True)
        return issue_client_certificate_files(self.data_dir, user, groups, out)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One chromium for every module a worker runs (starting it takes seconds on a loaded machine);
    each test opens contexts of its own, so nothing leaks from one test to the next."""
    with sync_playwright() as playwright:
        launched = _launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("dashboard")
    tokens = root / "tokens.csv"
    tokens.write_text(f'{VIEWER_TOKEN},viewer,viewer-uid,"porch-viewers"\n'
                      f'{APPROVER_TOKEN},approver,approver-uid,"porch-approvers"\n'
                      f'{TEAM_A_TOKEN},teamer,teamer-uid,"team-a"\n')
    policy = root / "policy.yaml"
    policy.write_text(POLICY)
    with serve_git(root / "git") as git:
        running = ServerThread(root / "data", token_auth_file=tokens, authorization_policy_file=policy,
                               function_runner="none", sync_interval_s=3600, health_interval_s=3600)
        try:
            server = running.server
            verify = ssl.create_default_context(cafile=str(server.ca_file))
            with httpx.Client(base_url=server.url, verify=verify, timeout=30,
                              headers={"Authorization": f"Bearer {server.token}"}) as http:
                yield Site(server, Admin(server, http, git), browser, root / "data")
        finally:
            running.stop()


def login(page: Page, site: Site, token: str | None = None) -> None:
    """Sign in with a bearer token (the admin's unless told) and land on the repositories page.

    The first time for a token of the module's server it is the login form; after that the
    session cookie the form gave is put in the page's context (a sign-in is two page loads
    and a POST per test otherwise; the form itself is tested in test_session).
    """
    token = token or site.server.token
    cookies = site.sessions.get(token)
    if cookies:
        page.context.add_cookies(cookies)
        page.goto(f"{site.url}/ui/")
        expect(page.get_by_test_id("user")).to_be_visible()
        return
    page.goto(f"{site.url}/ui/login")
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("user")).to_be_visible()
    site.sessions[token] = [cookie for cookie in page.context.cookies() if cookie["name"] == "porch_ui_session"]


def screenshot(page: Page, name: str) -> None:
    """Take a picture of a main page; with UPDATE_SCREENSHOTS=1 it replaces the README's.

    Without the variable the picture goes to a temporary folder, so a test run leaves the
    checkout as it found it; the page is rendered and captured either way.
    """
    wanted = os.environ.get("UPDATE_SCREENSHOTS") == "1"
    folder = SCREENSHOTS if wanted else Path(tempfile.gettempdir()) / "porch-embedded-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def csrf_of(page: Page) -> str:
    """The CSRF token the page carries (its hx-headers)."""
    headers = page.locator("body").get_attribute("hx-headers") or ""
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', headers)
    assert found, headers
    return found.group(1)


AUDIT = """() => {
  const rgba = (text) => {
    const parts = (text.match(/rgba?\\(([^)]+)\\)/) || [null, "0, 0, 0, 0"])[1].split(/[ ,\\/]+/).filter(Boolean);
    const [r, g, b, a] = parts.map(parseFloat);
    return [r, g, b, a === undefined ? 1 : a];
  };
  const luminance = ([r, g, b]) => {
    const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const background = (element) => {
    for (let at = element; at; at = at.parentElement) {
      const colour = rgba(getComputedStyle(at).backgroundColor);
      if (colour[3] > 0) return colour;
    }
    return [255, 255, 255, 1];
  };
  const describe = (element) => `<${element.tagName.toLowerCase()} class="${element.className}"> ` +
    JSON.stringify((element.textContent || element.outerHTML).trim().slice(0, 40));
  const problems = [];
  for (const element of document.querySelectorAll("body *")) {
    const style = getComputedStyle(element);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const hasText = [...element.childNodes].some((node) => node.nodeType === 3 && node.textContent.trim());
    if (hasText && element.getClientRects().length) {
      const one = luminance(rgba(style.color)), two = luminance(background(element));
      const ratio = (Math.max(one, two) + 0.05) / (Math.min(one, two) + 0.05);
      if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}:1 of ${describe(element)}`);
    }
    if (element.matches("input:not([type=hidden]), select, textarea, button")) {
      const named = (element.labels && element.labels.length) || element.getAttribute("aria-label") ||
        element.getAttribute("aria-labelledby") || element.getAttribute("title") ||
        (element.tagName === "BUTTON" && element.textContent.trim());
      if (!named) problems.push(`no label: ${describe(element)}`);
    }
  }
  return problems;
}"""
"""Every text's contrast with the background it is drawn on (WCAG's formula) and every form control's label."""


def assert_accessible(page: Page) -> None:
    """Every visible text on the page has a contrast of at least 4.5:1, every form control a label."""
    problems = page.evaluate(AUDIT)
    assert problems == [], "\n".join(problems)
