"""The sync controller keeps going when syncing one repository hits a bug."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

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
