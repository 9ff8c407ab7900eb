"""A restart in the middle of the controller's work: no duplicate drafts, no writes to what was done."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.controllers.variants import (
    create_variant,
    eventually,
    files_of,
    load,
    package_revisions,
    patch_variant,
    settled,
)
from tests.engine.conftest import Porch
from tests.parts.git_server import GitServer, package_files
from tests.parts.server import start_server

DONE = ("a1", "a2")
MIDWAY = ("b1", "b2", "b3", "b4")


async def test_a_restart_mid_way_makes_no_duplicates_and_rewrites_nothing(
        tmp_path: Path, git_server: GitServer, new_store_url: Callable[[], str]) -> None:
    store_url = new_store_url()
    git_server.create_repo("blueprints").commit(package_files("basens"), tags=["basens/v1"])
    git_server.create_repo("deploy").commit({"README.md": "deployments\n"})
    settings = {"store_url": store_url, "function_runner": "none", "sync_interval_s": 3600, "health_interval_s": 1}

    async with start_server(tmp_path / "data", **settings) as server, server.client() as http:
        porch = Porch(server, http, git_server)
        await porch.register("blueprints")
        await porch.register("deploy", deployment=True)
        for name in DONE:
            await create_variant(porch, name, packageContext={"data": {"site": name}})
        for name in DONE:
            await settled(porch, name)
        before = {name: await package_revisions(porch, "deploy", name) for name in DONE}
        for name in MIDWAY:
            await create_variant(porch, name, packageContext={"data": {"site": name}})

        async def some_draft() -> bool:
            return any([await package_revisions(porch, "deploy", name) for name in MIDWAY])
        await eventually(some_draft)
    # Stopped while the variants of MIDWAY were being worked on.

    async with start_server(tmp_path / "data", **settings) as server, server.client() as http:
        porch = Porch(server, http, git_server)
        for name in (*DONE, *MIDWAY):
            # A spec change after the restart: its outcome comes after every earlier run of the variant.
            await patch_variant(porch, name, {"deletionPolicy": "orphan"})
        for name in (*DONE, *MIDWAY):
            await settled(porch, name)
        for name in DONE:
            assert await package_revisions(porch, "deploy", name) == before[name]
        for name in MIDWAY:
            [draft] = await package_revisions(porch, "deploy", name)
            assert draft["spec"]["workspaceName"] == "packagevariant-1"
            context = load((await files_of(porch, draft["metadata"]["name"]))["package-context.yaml"])
            assert context["data"]["site"] == name
        drafts = [ref for ref in git_server.refs("deploy") if ref.startswith("refs/heads/drafts/")]
        assert sorted(drafts) == sorted(f"refs/heads/drafts/{name}/packagevariant-1" for name in (*DONE, *MIDWAY))
