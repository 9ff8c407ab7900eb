"""Diffs between stored revisions and previews that write nothing (engine.previews).

The revisions are made through the API as a user makes them, by a server that then
stops; the previews are read through an Engine on the store it left and the same git
server, as the dashboard in a server's process reads them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from porch_embedded.engine import Engine
from porch_embedded.errors import BadRequest, Invalid, NotFound
from porch_embedded.kinds import ALL_KINDS, PACKAGE_REVISION
from porch_embedded.runners import RunnerSettings, build_function_runner
from porch_embedded.store import ListQuery, open_store
from porch_embedded.vcs import GitCache, GitStorage, OciStorage
from tests.engine.conftest import Porch
from tests.parts.git_server import GitServer
from tests.parts.server import start_server
from tests.engine.test_upgrade import published_downstream, upgrade_task

SET_LABELS = """\
pipeline:
  mutators:
    - image: ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0
      configMap:
        tier: edge
"""


@pytest.fixture
def store_kind() -> str:
    """SQLite only: previews read through the Store protocol alone (its contract suite covers both stores),
    and seeding a server here costs seconds per store."""
    return "sqlite"


@dataclass
class Seeded:
    """An Engine on the store a server left (stopped, so that SQLite's one-process lock is free), and its git."""

    engine: Engine
    git: GitServer

    async def names(self) -> set[str]:
        page = await self.engine.store.list(ListQuery(PACKAGE_REVISION.resource, "default"))
        return {item["metadata"]["name"] for item in page.items}

    async def files(self, name: str) -> dict[str, str]:
        return await self.engine.previews.files(await self.engine.store.get(PACKAGE_REVISION.resource, "default", name))


@pytest.fixture
async def seeded(tmp_path: Path, git_server: GitServer, new_store_url: Callable[[], str]) -> AsyncIterator[Seeded]:
    """published_downstream, and deploy.my-ns.v2: a copy of v1 that moves app-config to another file and
    changes it; then the server stops and an Engine opens its store."""
    data, store_url = tmp_path / "data", new_store_url()
    async with start_server(data, store_url=store_url, function_runner="none", sync_interval_s=3600,
                            health_interval_s=1) as server, server.client() as http:
        porch = Porch(server, http, git_server)
        await published_downstream(porch, local_pipeline=False)
        await porch.init("deploy", "my-ns", "v2", tasks=[{"type": "edit", "edit": {
            "sourceRef": {"name": "deploy.my-ns.v1"}}}])
        files = (await porch.resources("deploy.my-ns.v2"))["spec"]["resources"]
        files["config/app.yaml"] = files.pop("app-config.yaml").replace("size: large", "size: huge")
        await porch.push_files("deploy.my-ns.v2", files)
        resolved = server.store_url
    sealed = {kind.resource: kind.sealed_fields for kind in ALL_KINDS if kind.sealed_fields}
    async with open_store(resolved, encryption_key=(data / "store.key").read_bytes(), sealed_fields=sealed) as store:
        git = GitStorage(GitCache(data / "cache"))
        oci = OciStorage()
        engine = Engine(store, {git.type: git, oci.type: oci}, build_function_runner(RunnerSettings(kind="none")))
        try:
            yield Seeded(engine, git_server)
        finally:
            await engine.aclose()


def changed_lines(diff: object) -> list[tuple[str, str]]:
    return [(line.kind, line.text) for hunk in diff.hunks for line in hunk.lines  # type: ignore[attr-defined]
            if line.kind != "context"]


async def test_a_draft_against_its_origin_its_newest_upstream_and_any_revision(seeded: Seeded) -> None:
    previews = seeded.engine.previews
    choices = await previews.comparisons("default", "deploy.my-ns.v2")
    assert choices.origin is not None and choices.origin["metadata"]["name"] == "deploy.my-ns.v1"
    # The clone named basens v1; the newest published revision of that package is v2.
    assert choices.upstream is not None and choices.upstream["metadata"]["name"] == "blueprints.basens.v2"
    # Others: the revisions of its own package and of the upstream package, newest first.
    assert [r["metadata"]["name"] for r in choices.others] == [
        "blueprints.basens.v2", "blueprints.basens.v1", "deploy.my-ns.v1"]

    origin = await previews.diff("default", "deploy.my-ns.v2", "origin")
    assert (origin.old_label, origin.new_label) == ("deploy.my-ns.v1 (Published v1)", "deploy.my-ns.v2 (Draft)")
    (moved,) = [r for r in origin.diff.resources if r.key.name == "app-config"]
    assert (moved.status, moved.old_path, moved.new_path) == ("moved", "app-config.yaml", "config/app.yaml")
    assert changed_lines(moved.diff) == [("removed", "  size: large"), ("added", "  size: huge")]
    assert {(f.path, f.status) for f in origin.diff.files} == {
        ("app-config.yaml", "removed"), ("config/app.yaml", "added")}

    upstream = await previews.diff("default", "deploy.my-ns.v2", "upstream")
    assert upstream.old is not None and upstream.old["metadata"]["name"] == "blueprints.basens.v2"
    statuses = {r.key.name: r.status for r in upstream.diff.resources}
    assert statuses["local-only"] == "added" and statuses["added-in-v2"] == "removed"

    picked = await previews.diff("default", "deploy.my-ns.v2", "blueprints.basens.v1")
    assert picked.old is not None and picked.old["metadata"]["name"] == "blueprints.basens.v1"
    with pytest.raises(NotFound):
        await previews.diff("default", "deploy.my-ns.v2", "no.such.revision")
    # A clone's first revision came from no revision of its own package.
    with pytest.raises(BadRequest, match="has no published revision it came from"):
        await previews.diff("default", "deploy.my-ns.v1", "origin")
    # A blueprint follows no upstream.
    with pytest.raises(BadRequest, match="follows no upstream package"):
        await previews.diff("default", "blueprints.basens.v1", "upstream")


def request(package: str, workspace: str, task: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision", "metadata": {"namespace": "default"},
            "spec": {"repository": "deploy", "packageName": package, "workspaceName": workspace, "tasks": [task]}}


async def test_clone_and_upgrade_previews_write_nothing_and_match_what_is_then_made(seeded: Seeded) -> None:
    previews = seeded.engine.previews
    refs, before = seeded.git.refs("deploy"), await seeded.names()
    upgrade = request("my-ns", "up", upgrade_task("blueprints.basens.v1", "blueprints.basens.v2", "deploy.my-ns.v1"))
    merged = await previews.preview_creation(upgrade)
    assert merged.diff.old is not None and merged.diff.old["metadata"]["name"] == "deploy.my-ns.v1"
    (config,) = [r for r in merged.diff.diff.resources if r.key.name == "app-config"]
    assert changed_lines(config.diff) == [("removed", "  color: blue"), ("added", "  color: green")]
    assert {r.key.name: r.status for r in merged.diff.diff.resources}["added-in-v2"] == "added"
    clone = request("other-ns", "v1", {"type": "clone", "clone": {
        "upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v2"}}}})
    cloned = await previews.preview_creation(clone)
    assert cloned.diff.old is not None and cloned.diff.old["metadata"]["name"] == "blueprints.basens.v2"
    assert yaml.safe_load(cloned.files["Kptfile"])["metadata"]["name"] == "other-ns"
    # The previews' refusals are the create's.
    with pytest.raises(Invalid, match="placeholder|published"):
        await previews.preview_creation(request("my-ns", "bad", upgrade_task(
            "blueprints.basens.v1", "deploy.my-ns.v2", "deploy.my-ns.v1")))

    # Nothing was written: no revision, no branch; what is then made is what the previews showed.
    assert await seeded.names() == before and seeded.git.refs("deploy") == refs
    await seeded.engine.create(PACKAGE_REVISION, upgrade)
    await seeded.engine.create(PACKAGE_REVISION, clone)
    assert await seeded.files("deploy.my-ns.up") == merged.files
    assert await seeded.files("deploy.other-ns.v1") == cloned.files


async def test_render_preview_lists_problems_or_each_function_and_what_it_changes(seeded: Seeded) -> None:
    previews = seeded.engine.previews
    edited = await seeded.files("deploy.my-ns.v2")
    broken = {**edited, "Kptfile": edited["Kptfile"] + "pipeline:\n  mutator: []\n", "bad.yaml": "a: [\n"}
    checked = await previews.preview_render(broken)
    assert not checked.ran and [(p.path, p.field) for p in checked.problems] == [
        ("Kptfile", "pipeline.mutator"), ("bad.yaml", "")]
    labelled = {**edited, "Kptfile": edited["Kptfile"] + SET_LABELS}
    rendered = await previews.preview_render(labelled)
    assert rendered.ok and [f.name for f in rendered.functions] == [
        "ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0"]
    (local,) = [r for r in rendered.diff.resources if r.key.name == "local-only"]
    assert ("added", "    tier: edge") in changed_lines(local.diff)
    failing = {**edited, "Kptfile": edited["Kptfile"] + SET_LABELS.replace("set-labels:v0.2.0", "no-such:v1")}
    failed = await previews.preview_render(failing)
    assert failed.ran and failed.error and not failed.ok and failed.functions[-1].exit_code != 0
    assert await seeded.files("deploy.my-ns.v2") == edited
