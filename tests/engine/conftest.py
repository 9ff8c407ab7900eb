"""A server with its controllers, a real git server with auth, and helpers to drive them.

Every test runs twice, on each store (``store_kind``: sqlite, postgres; tests/parts/postgres.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server
from tests.parts.postgres import new_store_url, postgres_run_database, store_kind
from tests.parts.server import RunningServer, start_server

__all__ = ["Porch", "git_server", "new_store_url", "porch", "postgres_run_database", "store_kind"]

PORCH = "/apis/porch.kpt.dev/v1alpha1/namespaces/{ns}"
CONFIG = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/{ns}"


@dataclass
class Porch:
    """The API of one test server, spoken over HTTPS as the admin."""

    server: RunningServer
    http: httpx.AsyncClient
    git: GitServer
    namespace: str = "default"

    def revisions_url(self, name: str = "", sub: str = "") -> str:
        url = PORCH.format(ns=self.namespace) + "/packagerevisions"
        return url + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    def resources_url(self, name: str = "") -> str:
        return PORCH.format(ns=self.namespace) + "/packagerevisionresources" + (f"/{name}" if name else "")

    def repositories_url(self, name: str = "", sub: str = "") -> str:
        url = CONFIG.format(ns=self.namespace) + "/repositories"
        return url + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    async def ok(self, response: httpx.Response, code: int = 200) -> dict[str, Any]:
        assert response.status_code == code, response.text
        return dict(response.json())

    async def register(self, name: str, *, repo: str | None = None, directory: str = "", deployment: bool = False,
                       password: str = PASSWORD, wait: bool = True, create_branch: bool = False) -> dict[str, Any]:
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-auth"},
                  "type": "kubernetes.io/basic-auth", "stringData": {"username": USERNAME, "password": password}}
        response = await self.http.post(f"/api/v1/namespaces/{self.namespace}/secrets", json=secret)
        assert response.status_code in (201, 409), response.text
        body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
                "spec": {"type": "git", "deployment": deployment,
                         "git": {"repo": self.git.url(repo or name), "branch": "main", "directory": directory,
                                 "createBranch": create_branch, "secretRef": {"name": f"{name}-auth"}}}}
        created = await self.ok(await self.http.post(self.repositories_url(), json=body), 201)
        if wait:
            return await self.wait_ready(name)
        return created

    async def wait_ready(self, name: str, *, status: str = "True", after: str = "") -> dict[str, Any]:
        with trio.fail_after(30):
            while True:
                repository = await self.ok(await self.http.get(self.repositories_url(name)))
                conditions = (repository.get("status") or {}).get("conditions") or []
                ready = next((c for c in conditions if c["type"] == "Ready"), None)
                synced = (repository.get("status") or {}).get("lastFullSyncTime", "")
                if ready and ready["status"] == status and (not after or synced > after or status == "False"):
                    return repository
                await trio.sleep(0.05)

    async def sync_now(self, name: str) -> None:
        """Ask for a sync as ``porchctl repo sync`` does (spec.sync.runOnceAt), and wait for it."""
        before = await self.ok(await self.http.get(self.repositories_url(name)))
        stamp = (before.get("status") or {}).get("lastFullSyncTime", "")
        await trio.sleep(1.05)  # sync times have second precision
        import datetime as dt

        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await self.ok(await self.http.patch(self.repositories_url(name), json={"spec": {"sync": {"runOnceAt": now}}},
                                            headers={"content-type": "application/merge-patch+json"}))
        await self.wait_ready(name, after=stamp)

    async def list_revisions(self, **params: str) -> list[dict[str, Any]]:
        body = await self.ok(await self.http.get(self.revisions_url(), params=params))
        return list(body["items"])

    async def init(self, repository: str, package: str, workspace: str, **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                "metadata": {"namespace": self.namespace},
                "spec": {"repository": repository, "packageName": package, "workspaceName": workspace, **spec}}
        return await self.ok(await self.http.post(self.revisions_url(), json=body), 201)

    async def set_lifecycle(self, revision: dict[str, Any], lifecycle: str, *, via: str = "") -> dict[str, Any]:
        current = await self.ok(await self.http.get(self.revisions_url(revision["metadata"]["name"])))
        current["spec"]["lifecycle"] = lifecycle
        return await self.ok(await self.http.put(self.revisions_url(current["metadata"]["name"], via), json=current))

    async def publish(self, revision: dict[str, Any]) -> dict[str, Any]:
        proposed = await self.set_lifecycle(revision, "Proposed")
        return await self.set_lifecycle(proposed, "Published", via="approval")

    async def resources(self, name: str) -> dict[str, Any]:
        return await self.ok(await self.http.get(self.resources_url(name)))

    async def push_files(self, name: str, files: dict[str, str], *, code: int = 200) -> dict[str, Any]:
        current = await self.resources(name)
        current["spec"]["resources"] = files
        response = await self.http.put(self.resources_url(name), json=current)
        assert response.status_code == code, response.text
        return dict(response.json())


@pytest.fixture
async def porch(tmp_path: Path, git_server: GitServer, new_store_url: Callable[[], str]) -> AsyncIterator[Porch]:
    async with start_server(tmp_path / "data", store_url=new_store_url(), function_runner="none", sync_interval_s=3600,
                            health_interval_s=1) as server:
        async with server.client() as http:
            yield Porch(server, http, git_server)


def dump(body: Any) -> str:
    return json.dumps(body, indent=1)
