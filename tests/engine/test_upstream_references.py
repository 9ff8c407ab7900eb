"""Deleting a revision that others follow as upstream: refused while any does, allowed after.

The dependents come from the store's reference rows (kept with every revision write and
rebuilt by a sync from git), so the answers must be exactly those of reading every
revision: a clone's upstreamRef and an upgrade's newUpstreamRef count, branch
placeholders do not, and a dependent that is deleted stops counting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.engine.conftest import Porch
from tests.parts.git_server import GitServer, package_files
from tests.parts.server import start_server

CLONE = {"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}


async def test_delete_is_refused_while_a_revision_follows_it_and_allowed_after(
    porch: Porch, tmp_path: Path, git_server: GitServer, new_store_url: Callable[[], str]
) -> None:
    porch.git.create_repo("blueprints").commit(package_files("basens"), tags=["basens/v1"])
    porch.git.create_repo("deploy").commit({"README.md": "x\n"})
    await porch.register("blueprints")
    await porch.register("deploy", deployment=True)
    clone = await porch.publish(await porch.init("deploy", "basens-clone", "clone-1", tasks=[CLONE]))
    names = {r["metadata"]["name"] for r in await porch.list_revisions()}
    assert {"deploy.basens-clone.clone-1", "deploy.basens-clone.main"} <= names  # the placeholder repeats the clone

    upstream = await porch.set_lifecycle(
        await porch.ok(await porch.http.get(porch.revisions_url("blueprints.basens.v1"))), "DeletionProposed")
    refused = await porch.http.delete(porch.revisions_url("blueprints.basens.v1"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"] == ('packagerevisions.porch.kpt.dev "blueprints.basens.v1" is forbidden: cannot '
                                         "delete package revision, it is referenced as upstream by: "
                                         "deploy.basens-clone.clone-1")

    # A server that only discovers these revisions in git (a fresh store, its first sync)
    # refuses the same way: the sync wrote the reference rows with the revisions.
    async with start_server(tmp_path / "other", store_url=new_store_url(), function_runner="none",
                            sync_interval_s=3600, health_interval_s=1) as other_server:
        async with other_server.client() as http:
            other = Porch(other_server, http, git_server)
            await other.register("blueprints")
            await other.register("deploy", deployment=True)
            await other.set_lifecycle(
                await other.ok(await other.http.get(other.revisions_url("blueprints.basens.v1"))), "DeletionProposed")
            refused_there = await other.http.delete(other.revisions_url("blueprints.basens.v1"))
            assert refused_there.status_code == 403, refused_there.text
            assert refused_there.json()["message"] == refused.json()["message"]

    # Once the follower is gone (proposed for deletion, then deleted), the upstream may go.
    doomed = await porch.set_lifecycle(clone, "DeletionProposed")
    await porch.ok(await porch.http.delete(porch.revisions_url(doomed["metadata"]["name"])))
    allowed = await porch.http.delete(porch.revisions_url(upstream["metadata"]["name"]))
    assert allowed.status_code == 200, allowed.text
    assert "refs/tags/basens/v1" not in porch.git.refs("blueprints")
