"""What a PackageVariantSet reports when it cannot make progress, and how it recovers.

Stalled=True (and Ready=False) with Porch's reasons and messages for what only the
controller can find (the upstream, the target kind, what CEL gives, the downstream
Repository); one broken set never holds up another; a restart in the middle of a
fan-out finishes it without duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from porch_embedded.engine import Engine
from porch_embedded.kinds import PACKAGE_VARIANT, Kind
from tests.controllers.variant_sets import SETS, UPSTREAM, VariantSets, condition
from tests.engine.conftest import Porch
from tests.parts.git_server import GitServer
from tests.parts.server import start_server


@pytest.fixture
async def cluster(sets: VariantSets) -> VariantSets:
    """``sets`` with a downstream repository ``cluster-01`` labelled env=dev."""
    await sets.downstream("cluster-01", {"env": "dev"})
    return sets


def _one_target(template: dict[str, Any]) -> dict[str, Any]:
    return {"upstream": UPSTREAM, "targets": [{"repositories": [{"name": "cluster-01"}], "template": template}]}


async def _stalled(sets: VariantSets, name: str, spec: dict[str, Any], reason: str) -> str:
    await sets.create(name, spec)
    body = await sets.wait_stalled(name, reason)
    ready = condition(body, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason)
    assert ready["message"] == condition(body, "Stalled")["message"]
    assert await sets.variants(body) == {}
    return str(ready["message"])


async def test_a_missing_upstream_stalls_until_it_appears(cluster: VariantSets) -> None:
    message = await _stalled(cluster, "later", {"upstream": {**UPSTREAM, "package": "later"},
                                                "targets": [{"repositories": [{"name": "cluster-01"}]}]},
                             "UpstreamNotFound")
    assert message == "could not find upstream package revision 'later/1' in repo 'blueprints'"
    draft = await cluster.porch.init("blueprints", "later", "v1")
    await cluster.porch.publish(draft)
    body = await cluster.wait_ready("later")
    assert set(await cluster.variants(body)) == {"later-cluster-01-later"}


async def test_a_kind_the_server_does_not_serve_is_no_matching_targets(cluster: VariantSets) -> None:
    message = await _stalled(cluster, "teams", {"upstream": UPSTREAM, "targets": [{
        "objectSelector": {"apiVersion": "hr.bigco.com/v1", "kind": "Team", "matchLabels": {"org": "hr"}}}]},
        "NoMatchingTargets")
    assert message == 'no matches for kind "Team" in version "hr.bigco.com/v1"'


@pytest.mark.parametrize(("template", "expected"), [
    ({"downstream": {"packageExpr": "size(repoDefault) > 0"}},
     "template.downstream.packageExpr: type conversion error from Bool to 'string'"),
    ({"labelExprs": [{"key": "a", "valueExpr": "'x'"}, {"key": "b", "valueExpr": "repository.labels['missing']"}]},
     "template.labelExprs[1].valueExpr: no such key: missing"),
    ({"pipeline": {"mutators": [{"image": "x", "configMapExprs": [{"keyExpr": "1 + 2", "value": "v"}]}]}},
     "template.pipeline.mutators[0].configMapExprs[0].keyExpr: type conversion error from Int to 'string'"),
    ({"downstream": {"repo": "nowhere"}}, 'repository "nowhere" could not be loaded'),
])
async def test_a_target_that_cannot_render_stalls_its_set_only(cluster: VariantSets, template: dict[str, Any],
                                                               expected: str) -> None:
    good = await cluster.create("good", _one_target({"labels": {"fine": "yes"}}))
    message = await _stalled(cluster, "bad", _one_target(template), "UnexpectedError")
    assert message == expected
    await cluster.wait_ready("good")
    assert set(await cluster.variants(good)) == {"good-cluster-01-basens"}
    # Fixed, the set goes on: Stalled flips back to Valid and its variant appears.
    await cluster.patch_spec("bad", {"targets": [{"repositories": [{"name": "cluster-01"}],
                                               "template": {"labels": {"fixed": "yes"}}}]})
    body = await cluster.wait_ready("bad")
    assert condition(body, "Stalled")["reason"] == "Valid"
    assert (await cluster.variants(body))["bad-cluster-01-basens"]["spec"]["labels"] == {"fixed": "yes"}


async def test_a_restart_in_the_middle_of_a_fan_out_creates_no_duplicates(
        tmp_path: Path, git_server: GitServer, new_store_url: Callable[[], str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    store_url, data_dir = new_store_url(), tmp_path / "data"
    original = Engine.create
    created: list[str] = []

    async def crash_after_four(self: Engine, kind: Kind, body: dict[str, Any], **options: Any) -> dict[str, Any]:
        if kind is PACKAGE_VARIANT and len(created) >= 4:
            await trio.sleep_forever()  # the process dies here, before the fifth variant is written
        result = await original(self, kind, body, **options)
        if kind is PACKAGE_VARIANT:
            created.append(result["metadata"]["name"])
        return result

    monkeypatch.setattr(Engine, "create", crash_after_four)
    async with start_server(data_dir, store_url=store_url, function_runner="none", sync_interval_s=3600) as server:
        async with server.client() as http:
            sets = VariantSets(Porch(server, http, git_server))
            await sets.blueprint()
            for index in range(10):
                await sets.downstream(f"site-{index}", {"fleet": "eu"})
            fleet = await sets.create("fleet", {"upstream": UPSTREAM, "targets": [{
                "repositorySelector": {"matchLabels": {"fleet": "eu"}}}]})
            first = await sets.until(lambda: _when_four(sets, fleet))
    monkeypatch.setattr(Engine, "create", original)
    async with start_server(data_dir, store_url=store_url, function_runner="none", sync_interval_s=3600) as server:
        async with server.client() as http:
            sets = VariantSets(Porch(server, http, git_server))
            await sets.wait_ready("fleet")
            variants = await sets.variants(fleet)
    assert set(variants) == {f"fleet-site-{index}-basens" for index in range(10)}
    assert {name: variants[name]["metadata"]["uid"] for name in first} == first


async def _when_four(sets: VariantSets, fleet: dict[str, Any]) -> dict[str, str] | None:
    variants = await sets.variants(fleet)
    return {name: v["metadata"]["uid"] for name, v in variants.items()} if len(variants) == 4 else None


async def test_variants_of_a_set_deleted_while_no_controller_ran_are_deleted_at_start(
        tmp_path: Path, git_server: GitServer, new_store_url: Callable[[], str]) -> None:
    store_url, data_dir = new_store_url(), tmp_path / "data"
    options = {"store_url": store_url, "function_runner": "none", "sync_interval_s": 3600}
    async with start_server(data_dir, **options) as server, server.client() as http:
        sets = VariantSets(Porch(server, http, git_server))
        await sets.blueprint()
        await sets.downstream("cluster-01")
        owner = await sets.create("short-lived", _one_target({"labels": {"a": "b"}}))
        await sets.wait_ready("short-lived")
        assert set(await sets.variants(owner)) == {"short-lived-cluster-01-basens"}
    async with start_server(data_dir, controllers=False, **options) as server, server.client() as http:
        sets = VariantSets(Porch(server, http, git_server))
        await sets.porch.ok(await http.delete(f"{SETS}/short-lived"))
        assert set(await sets.live_variants(owner)) == {"short-lived-cluster-01-basens"}
    async with start_server(data_dir, **options) as server, server.client() as http:
        sets = VariantSets(Porch(server, http, git_server))
        assert await sets.until(lambda: _no_live_variants(sets, owner))


async def _no_live_variants(sets: VariantSets, owner: dict[str, Any]) -> bool:
    return not await sets.live_variants(owner)
