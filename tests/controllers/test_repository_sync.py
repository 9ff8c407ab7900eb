"""The sync controller keeps going when syncing one repository hits a bug, and budgets each sync."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from porch_embedded import server as server_module
from porch_embedded.controllers import SyncSettings
from porch_embedded.engine import Engine
from tests.engine.conftest import Porch
from tests.parts.git_server import GitServer, git_server, package_files
from tests.parts.server import start_server

__all__ = ["git_server"]


async def test_a_bug_syncing_one_repository_marks_it_failed_and_spares_the_others(
        tmp_path: Path, git_server: GitServer, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Engine.sync_repository

    async def flaky(self: Engine, namespace: str, name: str) -> Any:
        if name == "broken":
            raise KeyError("a bug in the sync code")
        return await original(self, namespace, name)

    monkeypatch.setattr(Engine, "sync_repository", flaky)
    async with start_server(tmp_path / "data", function_runner="none", sync_interval_s=3600) as server:
        async with server.client() as http:
            porch = Porch(server, http, git_server)
            git_server.create_repo("broken").commit(package_files("pkg"), tags=["pkg/v1"])
            git_server.create_repo("fine").commit(package_files("pkg"), tags=["pkg/v1"])
            failed = await porch.register("broken", wait=False)
            assert failed["metadata"]["name"] == "broken"
            status = await porch.wait_ready("broken", status="False")
            assert "internal error while syncing (KeyError)" in status["status"]["conditions"][0]["message"]
            await porch.register("fine")
            with trio.fail_after(10):
                assert {r["metadata"]["name"] for r in await porch.list_revisions()} == {"fine.pkg.main", "fine.pkg.v1"}


async def test_a_first_sync_runs_under_its_own_budget_and_later_syncs_under_theirs(
        tmp_path: Path, git_server: GitServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Later syncs get no time at all: only the first sync's own budget lets the repository become Ready.
    monkeypatch.setattr(server_module, "SyncSettings", partial(SyncSettings, sync_timeout_s=0.0))
    git_server.create_repo("large").commit(package_files("pkg"), tags=["pkg/v1"])
    async with start_server(tmp_path / "data", function_runner="none", sync_interval_s=3600,
                            health_interval_s=3600) as server, server.client() as http:
        porch = Porch(server, http, git_server)
        ready = await porch.register("large")
        assert ready["status"]["conditions"][0]["status"] == "True"
        assert {r["metadata"]["name"] for r in await porch.list_revisions()} == {"large.pkg.main", "large.pkg.v1"}
        stamp = ready["status"]["lastFullSyncTime"]
        await trio.sleep(1.05)  # runOnceAt has second precision
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await porch.ok(await http.patch(porch.repositories_url("large"), json={"spec": {"sync": {"runOnceAt": now}}},
                                        headers={"content-type": "application/merge-patch+json"}))
        with trio.fail_after(30):
            while True:
                status = (await porch.ok(await http.get(porch.repositories_url("large")))).get("status") or {}
                if status.get("observedRunOnceAt") == now:
                    break
                await trio.sleep(0.05)
        assert status["conditions"][0]["status"] == "False"
        assert status["conditions"][0]["message"] == "sync did not finish within 0 s"
        assert status["lastFullSyncTime"] == stamp
