"""kill -9 during a stream of approvals, then restart: git, the API and the cache agree, on either store."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server
from tests.parts.server import ServerProcess, start_server_process
from tests.server.conftest import store_args, store_contents

__all__ = ["git_server"]

REVISIONS = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions"
REPOSITORY = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories/crash"
PACKAGES = 12


def client(server: ServerProcess) -> httpx.Client:
    token = (server.data_dir / "admin-token").read_text().strip()
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                        verify=ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt")))


def wait_synced(http: httpx.Client, after: str = "") -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = http.get(REPOSITORY).json().get("status") or {}
        ready = next((c for c in status.get("conditions") or () if c["type"] == "Ready"), None)
        if ready and ready["status"] == "True" and status.get("lastFullSyncTime", "") > after:
            return status
        time.sleep(0.1)
    raise AssertionError("the repository did not sync within 60 s")


def approvals_cut_by_kill_9(server: ServerProcess, args: list[str], credentials: dict[str, str],
                            spec: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Register Repository ``crash`` (``spec``, Secret ``crash-auth`` with ``credentials``), propose
    PACKAGES packages, kill -9 the server while they are approved one by one, restart it and wait
    for a sync; return the revisions whose approval was acknowledged and every revision listed after."""
    with client(server) as http:
        secret = {"metadata": {"name": "crash-auth"}, "type": "kubernetes.io/basic-auth", "stringData": credentials}
        assert http.post("/api/v1/namespaces/default/secrets", json=secret).status_code == 201
        repository = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                      "metadata": {"name": "crash"}, "spec": spec}
        assert http.post(REPOSITORY.rsplit("/", 1)[0], json=repository).status_code == 201
        wait_synced(http)
        for index in range(PACKAGES):
            created = http.post(REVISIONS, json={"spec": {
                "repository": "crash", "packageName": f"pkg{index}", "workspaceName": "ws"}})
            assert created.status_code == 201, created.text
            body = created.json()
            body["spec"]["lifecycle"] = "Proposed"
            assert http.put(f"{REVISIONS}/{body['metadata']['name']}", json=body).status_code == 200

    approved: list[str] = []

    def approve_all() -> None:
        with client(server) as http:
            for index in range(PACKAGES):
                name = f"crash.pkg{index}.ws"
                try:
                    body = http.get(f"{REVISIONS}/{name}").json()
                    body["spec"]["lifecycle"] = "Published"
                    response = http.put(f"{REVISIONS}/{name}/approval", json=body)
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    approved.append(name)

    writer = threading.Thread(target=approve_all)
    writer.start()
    deadline = time.monotonic() + 60
    while len(approved) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill9()
    writer.join(timeout=60)
    assert 4 <= len(approved) < PACKAGES

    before_restart = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Sync times have whole seconds: restart in the next second, so that a sync after a quick
    # restart is told apart from one before the kill.
    while dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == before_restart:
        time.sleep(0.01)
    server.start(args)
    with client(server) as http:
        wait_synced(http, after=before_restart)
        items = {i["metadata"]["name"]: i for i in http.get(REVISIONS).json()["items"]}
    return approved, items


def test_kill_9_during_approvals_loses_nothing(
        tmp_path: Path, git_server: GitServer, new_store_url: Callable[[], str]) -> None:
    git_server.create_repo("crash").commit({"README.md": "x\n"})
    store_url = new_store_url()
    args = ["--function-runner", "none", "--sync-interval", "3600", *store_args(store_url)]
    server = start_server_process(tmp_path / "data", args)
    try:
        approved, items = approvals_cut_by_kill_9(
            server, args, {"username": USERNAME, "password": PASSWORD},
            {"type": "git", "git": {"repo": git_server.url("crash"), "branch": "main",
                                    "secretRef": {"name": "crash-auth"}}})
        refs = git_server.refs("crash")
        for index in range(PACKAGES):
            name = f"crash.pkg{index}.ws"
            assert name in items, f"{name} was lost"
            lifecycle = items[name]["spec"]["lifecycle"]
            tagged = f"refs/tags/pkg{index}/v1" in refs
            if name in approved:
                assert tagged and lifecycle == "Published", name
            if tagged:
                assert lifecycle == "Published" and items[name]["spec"]["revision"] == 1, name
            else:
                assert lifecycle == "Proposed" and f"refs/heads/proposed/pkg{index}/ws" in refs, name
        assert b"crash.pkg0.ws" in store_contents(store_url, server.data_dir)  # the store under test held them
    finally:
        server.stop()
