"""A push refused by a failed render keeps its result visible and leaves the retry possible.

Porch changes nothing on a refused push, so a client retries with the resourceVersion it
read before; this server records the render result on the PackageRevisionResources (a
change with its own resourceVersion, as any change) and accepts, for the next update,
the resourceVersion the files were stored at.
"""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import Porch
from tests.engine.test_lifecycle import CONFIGMAP, PIPELINE_KPTFILE

BROKEN = PIPELINE_KPTFILE.replace("gcr.io/kpt-fn/set-labels:v0.2.0", "example.com/no-such-function:v1")


async def put_resources(porch: Porch, pulled: dict[str, Any], files: dict[str, str], *,
                        dry_run: bool = False) -> Any:
    """PUT ``files`` with the resourceVersion of ``pulled`` (what a pulled directory holds)."""
    body = {**pulled, "spec": {**pulled["spec"], "resources": files}}
    return await porch.http.put(porch.resources_url(pulled["metadata"]["name"]), json=body,
                                params={"dryRun": "All"} if dry_run else None)


async def test_a_retry_carries_the_resource_version_read_before_the_refused_push(porch: Porch) -> None:
    porch.git.create_repo("retry").commit({"README.md": "x\n"})
    await porch.register("retry")
    await porch.init("retry", "app", "ws")
    pulled = await porch.resources("retry.app.ws")
    dry = await put_resources(porch, pulled, {"Kptfile": BROKEN, "cm.yaml": CONFIGMAP}, dry_run=True)
    assert dry.status_code == 422, dry.text
    assert (await porch.resources("retry.app.ws"))["metadata"] == pulled["metadata"]
    for _ in range(2):
        refused = await put_resources(porch, pulled, {"Kptfile": BROKEN, "cm.yaml": CONFIGMAP})
        assert refused.status_code == 422 and "Package NOT pushed" in refused.json()["message"]
    failed = await porch.resources("retry.app.ws")
    assert int(failed["metadata"]["resourceVersion"]) > int(pulled["metadata"]["resourceVersion"])
    assert "no-such-function" in failed["status"]["renderStatus"]["error"]
    assert failed["status"]["retryResourceVersion"] == pulled["metadata"]["resourceVersion"]
    assert failed["spec"]["resources"] == pulled["spec"]["resources"]
    listed = await porch.ok(await porch.http.get(porch.resources_url()))
    assert [item["status"] for item in listed["items"]] == [failed["status"]]

    retried = await put_resources(porch, pulled, {"Kptfile": PIPELINE_KPTFILE, "cm.yaml": CONFIGMAP})
    assert retried.status_code == 200, retried.text
    assert "team: blue" in retried.json()["spec"]["resources"]["cm.yaml"]
    assert "retryResourceVersion" not in retried.json()["status"]
    again = await put_resources(porch, pulled, {"Kptfile": PIPELINE_KPTFILE, "cm.yaml": CONFIGMAP})
    assert again.status_code == 409 and "the object has been modified" in again.json()["message"]


async def test_a_change_after_the_refused_push_makes_the_old_resource_version_stale(porch: Porch) -> None:
    porch.git.create_repo("raced").commit({"README.md": "x\n"})
    await porch.register("raced")
    await porch.init("raced", "app", "ws")
    pulled = await porch.resources("raced.app.ws")
    refused = await put_resources(porch, pulled, {"Kptfile": BROKEN, "cm.yaml": CONFIGMAP})
    assert refused.status_code == 422
    other = await porch.resources("raced.app.ws")
    landed = await put_resources(porch, other, {**other["spec"]["resources"], "other.yaml": CONFIGMAP})
    assert landed.status_code == 200, landed.text
    stale = await put_resources(porch, pulled, {"Kptfile": PIPELINE_KPTFILE, "cm.yaml": CONFIGMAP})
    assert stale.status_code == 409 and "the object has been modified" in stale.json()["message"]
    assert "other.yaml" in (await porch.resources("raced.app.ws"))["spec"]["resources"]
