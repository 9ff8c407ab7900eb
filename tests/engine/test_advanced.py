"""Porch's "advanced" e2e scenarios: large packages, uid uniqueness, rollback, metadata across syncs."""

from __future__ import annotations

import yaml

from tests.engine.conftest import Porch
from tests.parts.git_server import package_files

SET_LABELS_KPTFILE = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: big
pipeline:
  mutators:
    - image: set-labels:v0.2.0
      configMap:
        size: large
"""


async def test_a_large_package_goes_through_render(porch: Porch) -> None:
    porch.git.create_repo("large").commit({"README.md": "x\n"})
    await porch.register("large")
    await porch.init("large", "big", "ws")
    blob = "x" * (2 * 1024 * 1024)
    configmap = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: {blob}\n"
    updated = await porch.push_files("large.big.ws", {"Kptfile": SET_LABELS_KPTFILE, "big.yaml": configmap})
    rendered = yaml.safe_load(updated["spec"]["resources"]["big.yaml"])
    assert rendered["metadata"]["labels"] == {"size": "large"}
    assert len(rendered["data"]["blob"]) == len(blob)
    assert len(porch.git.git("large", "show", "drafts/big/ws:big/big.yaml")) > len(blob)


async def test_uids_are_unique_and_stable(porch: Porch) -> None:
    seeder = porch.git.create_repo("uids")
    seeder.commit({**package_files("a"), **package_files("b")}, tags=["a/v1", "b/v1", "a/v2"])
    await porch.register("uids")
    first = {r["metadata"]["name"]: r["metadata"]["uid"] for r in await porch.list_revisions()}
    assert len(set(first.values())) == len(first) == 5
    await porch.sync_now("uids")
    again = {r["metadata"]["name"]: r["metadata"]["uid"] for r in await porch.list_revisions()}
    assert again == first


async def test_a_failing_task_leaves_no_draft_behind(porch: Porch) -> None:
    seeder = porch.git.create_repo("rollback")
    broken = {"bad/Kptfile": SET_LABELS_KPTFILE.replace("set-labels:v0.2.0", "example.com/missing:v1"),
              "bad/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"}
    seeder.commit(broken, tags=["bad/v1"])
    await porch.register("rollback")
    failed = await porch.http.post(porch.revisions_url(), json={"spec": {
        "repository": "rollback", "packageName": "copy-of-bad", "workspaceName": "ws",
        "tasks": [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "rollback.bad.v1"}}}}]}})
    assert failed.status_code == 422 and "Package NOT pushed to remote" in failed.json()["message"]
    assert (await porch.http.get(porch.revisions_url("rollback.copy-of-bad.ws"))).status_code == 404
    assert not any("copy-of-bad" in ref for ref in porch.git.refs("rollback"))


async def test_metadata_survives_approval_and_background_sync(porch: Porch) -> None:
    porch.git.create_repo("kept").commit({"README.md": "x\n"})
    await porch.register("kept")
    draft = await porch.init("kept", "app", "ws")
    draft["metadata"]["labels"] = {"stage": "one"}
    draft["metadata"]["annotations"] = {"reviewed-by": "carol"}
    draft = await porch.ok(await porch.http.put(porch.revisions_url("kept.app.ws"), json=draft))
    published = await porch.publish(draft)
    await porch.sync_now("kept")
    after = await porch.ok(await porch.http.get(porch.revisions_url("kept.app.ws")))
    assert after["metadata"]["labels"] == {"stage": "one", "kpt.dev/latest-revision": "true"}
    assert after["metadata"]["annotations"] == {"reviewed-by": "carol"}
    assert after["metadata"]["uid"] == published["metadata"]["uid"]
