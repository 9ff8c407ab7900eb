"""Strategic merge patch on a PackageRevision, as kubectl patch sends it by default.

Porch's types declare no merge keys, so a list of the spec (``readinessGates``) is
replaced whole, while ObjectMeta's ``finalizers`` merge as a set, as in any
kube-apiserver: adding one never drops a hold another controller set.
"""

from __future__ import annotations

import json

import yaml

from tests.engine.conftest import Porch
from tests.parts.server import kubectl

STRATEGIC = {"content-type": "application/strategic-merge-patch+json"}


async def test_strategic_merge_patch_of_a_draft(porch: Porch) -> None:
    porch.git.create_repo("smp").commit({"README.md": "x\n"})
    await porch.register("smp")
    draft = await porch.init("smp", "app", "ws", readinessGates=[{"conditionType": "Tested"}])
    draft["metadata"]["labels"] = {"owner": "alice"}
    draft["metadata"]["finalizers"] = ["example.com/hold"]
    await porch.ok(await porch.http.put(porch.revisions_url("smp.app.ws"), json=draft))

    patch = {"metadata": {"labels": {"team": "blue"}, "finalizers": ["example.com/audit"]},
             "spec": {"readinessGates": [{"conditionType": "Reviewed"}]}}
    await kubectl(porch.server, "patch", "packagerevision", "smp.app.ws", "-p", json.dumps(patch))
    patched = await porch.ok(await porch.http.get(porch.revisions_url("smp.app.ws")))
    assert patched["metadata"]["labels"] == {"owner": "alice", "team": "blue"}
    assert patched["metadata"]["finalizers"] == ["example.com/hold", "example.com/audit"]
    assert patched["spec"]["readinessGates"] == [{"conditionType": "Reviewed"}]
    kptfile = yaml.safe_load((await porch.resources("smp.app.ws"))["spec"]["resources"]["Kptfile"])
    assert kptfile["info"]["readinessGates"] == [{"conditionType": "Reviewed"}]

    released = await porch.http.patch(porch.revisions_url("smp.app.ws"), headers=STRATEGIC, json={
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/hold", "example.com/audit"],
                     "labels": {"owner": None}}})
    body = await porch.ok(released)
    assert "finalizers" not in body["metadata"] or body["metadata"]["finalizers"] == []
    assert body["metadata"]["labels"] == {"team": "blue"}
    await porch.ok(await porch.http.delete(porch.revisions_url("smp.app.ws")))
    assert (await porch.http.get(porch.revisions_url("smp.app.ws"))).status_code == 404
    assert "refs/heads/drafts/app/ws" not in porch.git.refs("smp")
