"""Porch's errors read as Porch words them, whichever path raises them."""

from __future__ import annotations

from tests.engine.conftest import Porch
from tests.engine.test_lifecycle import CONFIGMAP, PIPELINE_KPTFILE

BROKEN = PIPELINE_KPTFILE.replace("gcr.io/kpt-fn/set-labels:v0.2.0", "example.com/no-such-function:v1")


async def test_a_failed_uid_precondition_is_a_kubernetes_conflict(porch: Porch) -> None:
    porch.git.create_repo("uids").commit({"README.md": "x\n"})
    await porch.register("uids")
    draft = await porch.init("uids", "app", "ws")
    refused = await porch.http.request("DELETE", porch.revisions_url("uids.app.ws"), json={
        "apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "not-the-uid"}})
    assert refused.status_code == 409, refused.text
    assert refused.json()["message"] == (
        'Operation cannot be fulfilled on packagerevisions.porch.kpt.dev "uids.app.ws": Precondition failed: '
        f'UID in precondition: not-the-uid, UID in object meta: {draft["metadata"]["uid"]}')
    assert refused.json()["details"] == {"name": "uids.app.ws", "group": "porch.kpt.dev", "kind": "packagerevisions"}


async def test_every_refused_render_gives_the_same_advice(porch: Porch) -> None:
    porch.git.create_repo("advice").commit({"README.md": "x\n"})
    await porch.register("advice")
    await porch.init("advice", "app", "ws")
    revision = await porch.ok(await porch.http.get(porch.revisions_url("advice.app.ws")))
    revision["metadata"]["annotations"] = {"porch.kpt.dev/push-on-render-failure": "true"}
    await porch.ok(await porch.http.put(porch.revisions_url("advice.app.ws"), json=revision))
    saved = await porch.push_files("advice.app.ws", {"Kptfile": BROKEN, "cm.yaml": CONFIGMAP}, code=422)
    assert saved["message"].startswith("error rendering package in kpt function pipeline. Package pushed to remote "
                                       "despite render failure. Details: ")
    revision = await porch.ok(await porch.http.get(porch.revisions_url("advice.app.ws")))
    revision["spec"]["packageMetadata"] = {"labels": {"team": "red"}}
    refused = await porch.http.put(porch.revisions_url("advice.app.ws"), json=revision)
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"].startswith(
        "error rendering package in kpt function pipeline. Package NOT pushed to remote. Fix locally (until "
        "'kpt fn render' succeeds) and retry. Details: ")
    assert "no-such-function" in refused.json()["message"]
