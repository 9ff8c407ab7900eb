"""Server-side apply and strategic merge patch, through httpx and the real kubectl.

Server-side apply is simplified (README, "differs on purpose"): absent objects are
created, present ones get the applied fields merged in, and since field ownership is
not tracked a later apply never removes a field. Strategic merge patch merges maps,
honours ``$patch: replace|delete`` and ``$retainKeys``, replaces lists of Porch's
kinds whole (its types declare no merge keys), and merges ObjectMeta's finalizers (as
a set) and ownerReferences (by uid) as a kube-apiserver does.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio
import yaml

from tests.parts.server import RunningServer, kubectl

COLLECTION = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"
APPLY = {"content-type": "application/apply-patch+yaml"}
STRATEGIC = {"content-type": "application/strategic-merge-patch+json"}


def manifest(name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
                            "metadata": {"name": name}, "spec": {"type": "git", **spec}}
    if labels is not None:
        body["metadata"]["labels"] = labels
    return body


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


async def apply(http: httpx.AsyncClient, body: dict[str, Any], manager: str = "tests") -> httpx.Response:
    return await http.patch(f"{COLLECTION}/{body['metadata']['name']}", content=yaml.safe_dump(body).encode(),
                            params={"fieldManager": manager}, headers=APPLY)


async def test_apply_creates_an_absent_object_then_merges_the_applied_fields(admin: httpx.AsyncClient) -> None:
    first = manifest("applied", labels={"team": "a"}, description="first",
                     git={"repo": "http://127.0.0.1:1/applied.git", "directory": "blueprints"})
    created = await apply(admin, first)
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["labels"] == {"team": "a"}
    assert created.json()["metadata"]["generation"] == 1

    second = manifest("applied", labels={"tier": "gold"}, description="second",
                      git={"repo": "http://127.0.0.1:1/applied.git"})
    merged = await apply(admin, second)
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["metadata"]["uid"] == created.json()["metadata"]["uid"]
    assert body["metadata"]["labels"] == {"team": "a", "tier": "gold"}
    assert body["spec"]["description"] == "second"
    assert body["spec"]["git"]["directory"] == "blueprints", "a field the second apply left out is kept"
    assert body["metadata"]["generation"] == 2
    stored = (await admin.get(f"{COLLECTION}/applied")).json()
    assert stored["spec"] == body["spec"] and stored["metadata"]["labels"] == body["metadata"]["labels"]


async def test_apply_without_a_field_manager_is_bad_request_and_creates_nothing(admin: httpx.AsyncClient) -> None:
    body = manifest("unmanaged", git={"repo": "http://127.0.0.1:1/unmanaged.git"})
    refused = await admin.patch(f"{COLLECTION}/unmanaged", content=yaml.safe_dump(body).encode(), headers=APPLY)
    assert refused.status_code == 400
    assert refused.json()["reason"] == "BadRequest"
    assert "fieldManager" in refused.json()["message"]
    assert (await admin.get(f"{COLLECTION}/unmanaged")).status_code == 404


async def test_kubectl_apply_server_side_creates_then_merges(server: RunningServer) -> None:
    first = manifest("ssa", labels={"owner": "kubectl"}, description="one",
                     git={"repo": "http://127.0.0.1:1/ssa.git", "author": "Ann"})
    done = await kubectl(server, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(first).encode())
    assert done.stdout.decode().strip() == "repository.config.porch.kpt.dev/ssa serverside-applied"

    second = manifest("ssa", description="two", git={"repo": "http://127.0.0.1:1/ssa.git", "author": "Bob"})
    done = await kubectl(server, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(second).encode())
    assert done.stdout.decode().strip() == "repository.config.porch.kpt.dev/ssa serverside-applied"
    body = json.loads((await kubectl(server, "get", "repo", "ssa", "-o", "json")).stdout)
    assert body["spec"]["description"] == "two"
    assert body["spec"]["git"]["author"] == "Bob"
    assert body["metadata"]["labels"] == {"owner": "kubectl"}, "simplified apply never removes a field"


async def test_strategic_merge_patch_merges_maps_and_honours_directives(admin: httpx.AsyncClient) -> None:
    body = manifest("smp", labels={"keep": "1", "drop": "2"}, description="before",
                    git={"repo": "http://127.0.0.1:1/smp.git", "author": "Ann", "email": "ann@example.com"},
                    sync={"schedule": "*/5 * * * *"})
    body["metadata"]["annotations"] = {"old-a": "x", "old-b": "y"}
    assert (await admin.post(COLLECTION, json=body)).status_code == 201
    patch = {
        "metadata": {"labels": {"drop": None, "added": "3"},
                     "annotations": {"$patch": "replace", "only": "this"}},
        "spec": {"description": "after", "sync": {"$patch": "delete"},
                 "git": {"$retainKeys": ["repo", "branch", "directory", "author"], "author": "Bob"}},
    }
    patched = await admin.patch(f"{COLLECTION}/smp", json=patch, headers=STRATEGIC)
    assert patched.status_code == 200, patched.text
    result = patched.json()
    assert result["metadata"]["labels"] == {"keep": "1", "added": "3"}
    assert result["metadata"]["annotations"] == {"only": "this"}
    assert result["spec"]["description"] == "after"
    assert "sync" not in result["spec"]
    assert result["spec"]["git"]["author"] == "Bob"
    assert "email" not in result["spec"]["git"], "$retainKeys drops the keys it does not name"
    assert (await admin.get(f"{COLLECTION}/smp")).json()["spec"] == result["spec"]


async def test_kubectl_patch_defaults_to_strategic_merge(server: RunningServer) -> None:
    body = manifest("kpatch", labels={"a": "1"}, git={"repo": "http://127.0.0.1:1/kpatch.git"})
    await kubectl(server, "create", "-f", "-", stdin=yaml.safe_dump(body).encode())
    await kubectl(server, "patch", "repository", "kpatch", "-p",
                  json.dumps({"metadata": {"labels": {"b": "2"}}, "spec": {"description": "patched"}}))
    result = json.loads((await kubectl(server, "get", "repo", "kpatch", "-o", "json")).stdout)
    assert result["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert result["spec"]["description"] == "patched"


async def test_strategic_merge_patch_merges_finalizers_and_owner_references(admin: httpx.AsyncClient) -> None:
    body = manifest("owned", git={"repo": "http://127.0.0.1:1/owned.git"})
    body["metadata"]["finalizers"] = ["example.com/a"]
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "one", "uid": "uid-1"},
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "two", "uid": "uid-2"}]
    assert (await admin.post(COLLECTION, json=body)).status_code == 201
    patch = {"metadata": {"finalizers": ["example.com/b", "example.com/a"],
                          "ownerReferences": [{"uid": "uid-1", "$patch": "delete"},
                                              {"uid": "uid-2", "controller": True},
                                              {"apiVersion": "v1", "kind": "Secret", "name": "three", "uid": "uid-3"}]}}
    merged = (await admin.patch(f"{COLLECTION}/owned", json=patch, headers=STRATEGIC)).json()
    assert merged["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    assert merged["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "two", "uid": "uid-2", "controller": True},
        {"apiVersion": "v1", "kind": "Secret", "name": "three", "uid": "uid-3"}]
    removed = await admin.patch(f"{COLLECTION}/owned", headers=STRATEGIC,
                                json={"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}})
    assert removed.json()["metadata"]["finalizers"] == ["example.com/b"]
    bad = await admin.patch(f"{COLLECTION}/owned", headers=STRATEGIC,
                            json={"metadata": {"ownerReferences": [{"name": "no-uid"}]}})
    assert bad.status_code == 400 and "'uid'" in bad.json()["message"]


MERGE = {"content-type": "application/merge-patch+json"}


async def test_concurrent_patches_without_a_resource_version_all_land(admin: httpx.AsyncClient) -> None:
    """A patch that names no resourceVersion applies to the object as it is when written, as a
    kube-apiserver applies it: concurrent patches (a user's and a controller's) never get 409."""
    created = await admin.post(COLLECTION, json=manifest("busy", git={"repo": "http://127.0.0.1:1/busy.git"}))
    assert created.status_code == 201, created.text
    codes: list[int] = []

    async def label(index: int) -> None:
        response = await admin.patch(f"{COLLECTION}/busy", json={"metadata": {"labels": {f"l{index}": "x"}}},
                                     headers=MERGE)
        codes.append(response.status_code)

    async def apply(index: int) -> None:
        response = await admin.patch(f"{COLLECTION}/busy", params={"fieldManager": f"m{index}"}, headers=APPLY,
                                     content=json.dumps({"apiVersion": "config.porch.kpt.dev/v1alpha1",
                                                         "kind": "Repository", "metadata": {
                                                             "name": "busy", "annotations": {f"a{index}": "y"}}}))
        codes.append(response.status_code)

    async with trio.open_nursery() as nursery:
        for index in range(12):
            nursery.start_soon(label, index)
            nursery.start_soon(apply, index)
    assert codes == [200] * 24
    final = (await admin.get(f"{COLLECTION}/busy")).json()["metadata"]
    assert {f"l{index}" for index in range(12)} <= set(final["labels"])
    assert {f"a{index}" for index in range(12)} <= set(final["annotations"])


async def test_a_patch_naming_a_stale_resource_version_is_still_a_conflict(admin: httpx.AsyncClient) -> None:
    created = (await admin.post(COLLECTION, json=manifest("pinned", git={"repo": "http://127.0.0.1:1/p.git"}))).json()
    changed = await admin.patch(f"{COLLECTION}/pinned", json={"metadata": {"labels": {"a": "1"}}}, headers=MERGE)
    assert changed.status_code == 200, changed.text
    stale = await admin.patch(f"{COLLECTION}/pinned", headers=MERGE, json={"metadata": {
        "labels": {"b": "2"}, "resourceVersion": created["metadata"]["resourceVersion"]}})
    assert stale.status_code == 409, stale.text
    assert "b" not in (await admin.get(f"{COLLECTION}/pinned")).json()["metadata"]["labels"]
