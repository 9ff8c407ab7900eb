"""A Repository with ``spec.sync.schedule`` is fully synced when its cron expression fires.

The server's other reasons to sync are pushed out of reach (default interval and
health checks an hour away), so a package pushed to git directly can only arrive
through the scheduled sync. Nothing here measures time: the proof is that the status
announces the cron's next fire time (computed by croniter from lastFullSyncTime), that
the sync which brings the package is stamped no earlier than that announcement, and
that it announces the following fire time the same way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import trio
from croniter import croniter

from tests.engine.conftest import Porch
from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server, package_files
from tests.parts.server import start_server

__all__ = ["git_server"]

EVERY_MINUTE = "* * * * *"
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def next_fire(after: str) -> str:
    moment = dt.datetime.strptime(after, STAMP).replace(tzinfo=dt.UTC)
    fire: dt.datetime = croniter(EVERY_MINUTE, moment).get_next(dt.datetime)
    return fire.strftime(STAMP)


async def register_scheduled(porch: Porch, name: str) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-auth"},
              "type": "kubernetes.io/basic-auth", "stringData": {"username": USERNAME, "password": PASSWORD}}
    await porch.ok(await porch.http.post("/api/v1/namespaces/default/secrets", json=secret), 201)
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
            "spec": {"type": "git", "sync": {"schedule": EVERY_MINUTE},
                     "git": {"repo": porch.git.url(name), "branch": "main", "secretRef": {"name": f"{name}-auth"}}}}
    await porch.ok(await porch.http.post(porch.repositories_url(), json=body), 201)


async def next_sync_after(porch: Porch, name: str, stamp: str) -> dict[str, Any]:
    """The Repository once its lastFullSyncTime moves past ``stamp`` (a cron minute at most away)."""
    with trio.fail_after(90):
        while True:
            repository = await porch.ok(await porch.http.get(porch.repositories_url(name)))
            if repository["status"]["lastFullSyncTime"] != stamp:
                return repository
            await trio.sleep(0.05)


async def test_a_scheduled_repository_is_synced_when_its_cron_fires(tmp_path: Path, git_server: GitServer) -> None:
    seeder = git_server.create_repo("scheduled")
    seeder.commit(package_files("first"), tags=["first/v1"])
    async with start_server(tmp_path / "data", function_runner="none", sync_interval_s=3600,
                            health_interval_s=3600) as server, server.client() as http:
        porch = Porch(server, http, git_server)
        await register_scheduled(porch, "scheduled")
        first = (await porch.wait_ready("scheduled"))["status"]
        assert first["nextFullSyncTime"] == next_fire(first["lastFullSyncTime"])
        assert {r["spec"]["packageName"] for r in await porch.list_revisions()} == {"first"}

        seeder.commit(package_files("second"), tags=["second/v1"])
        second = (await next_sync_after(porch, "scheduled", first["lastFullSyncTime"]))["status"]
        assert second["lastFullSyncTime"] >= first["nextFullSyncTime"], "no sync ran before the cron fired"
        assert second["nextFullSyncTime"] == next_fire(second["lastFullSyncTime"])
        assert second["packageCount"] == 2
        revisions = {r["metadata"]["name"] for r in await porch.list_revisions(labelSelector="kpt.dev/latest-revision=true")}
        assert revisions == {"scheduled.first.v1", "scheduled.second.v1"}
