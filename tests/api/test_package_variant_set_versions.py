"""PackageVariantSet is served at v1alpha2 (stored) and v1alpha1 (converted at the API edge)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio
import yaml

from tests.api.conftest import new_store_url, postgres_run_database, server, store_kind
from tests.parts.server import RunningServer, kubectl

__all__ = ["new_store_url", "postgres_run_database", "server", "store_kind"]

V1 = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/packagevariantsets"
V2 = "/apis/config.porch.kpt.dev/v1alpha2/namespaces/default/packagevariantsets"
SPEC_ANNOTATION = "config.porch.kpt.dev/v1alpha2-spec"
MERGE = {"content-type": "application/merge-patch+json"}

OLD_SHAPE = {
    "upstream": {"package": {"repo": "blueprints", "name": "foo"}, "ref": "foo/v3"},
    "targets": [
        {"package": {"repo": "blueprints", "name": "alpha"}},
        {"repositories": {"matchLabels": {"abc": "def"}}, "packageName": {"baseName": {"value": "beta"}}},
        {"objects": {"selectors": [{"apiVersion": "v1", "kind": "Secret", "name": "my-secret"}],
                     "repoName": {"value": "blueprints"}},
         "packageName": {"namePrefix": {"value": "team-"}, "baseName": {"fromField": "metadata.labels.team"}}},
    ],
    "labels": {"tier": "edge"},
}


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


def _object(api_version: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "PackageVariantSet", "metadata": {"name": name}, "spec": spec}


async def test_discovery_and_openapi_list_both_versions_v1alpha2_preferred(admin: httpx.AsyncClient) -> None:
    group = (await admin.get("/apis/config.porch.kpt.dev")).json()
    assert [v["version"] for v in group["versions"]] == ["v1alpha2", "v1alpha1"]
    assert group["preferredVersion"] == {"groupVersion": "config.porch.kpt.dev/v1alpha2", "version": "v1alpha2"}
    v2 = (await admin.get("/apis/config.porch.kpt.dev/v1alpha2")).json()
    assert [r["name"] for r in v2["resources"]] == ["packagevariantsets", "packagevariantsets/status"]
    v1 = (await admin.get("/apis/config.porch.kpt.dev/v1alpha1")).json()
    assert {"repositories", "packagevariants", "packagevariantsets"} <= {r["name"] for r in v1["resources"]}
    aggregated = (await admin.get("/apis", headers={
        "accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})).json()
    config = next(i for i in aggregated["items"] if i["metadata"]["name"] == "config.porch.kpt.dev")
    assert [v["version"] for v in config["versions"]] == ["v1alpha2", "v1alpha1"]
    root = (await admin.get("/openapi/v3")).json()["paths"]
    schemas = (await admin.get(root["apis/config.porch.kpt.dev/v1alpha2"]["serverRelativeURL"])).json()
    spec = schemas["components"]["schemas"]["dev.kpt.porch.config.v1alpha2.PackageVariantSet"]["properties"]["spec"]
    template = spec["properties"]["targets"]["items"]["properties"]["template"]["properties"]
    assert {"downstream", "labelExprs", "annotationExprs", "packageContext", "pipeline", "injectors"} <= set(template)
    old = (await admin.get(root["apis/config.porch.kpt.dev/v1alpha1"]["serverRelativeURL"])).json()
    assert "dev.kpt.porch.config.v1alpha1.PackageVariantSet" in old["components"]["schemas"]
    definitions = (await admin.get("/openapi/v2")).json()["definitions"]
    assert {"dev.kpt.porch.config.v1alpha1.PackageVariantSet",
            "dev.kpt.porch.config.v1alpha2.PackageVariantSet"} <= set(definitions)


async def test_a_v1alpha1_set_is_stored_and_reconciled_as_v1alpha2(admin: httpx.AsyncClient) -> None:
    created = await admin.post(V1, json=_object("config.porch.kpt.dev/v1alpha1", "old", OLD_SHAPE))
    assert created.status_code == 201, created.text
    assert created.json()["apiVersion"] == "config.porch.kpt.dev/v1alpha1"
    stored = (await admin.get(f"{V2}/old")).json()
    assert stored["apiVersion"] == "config.porch.kpt.dev/v1alpha2"
    assert stored["spec"] == {
        "upstream": {"repo": "blueprints", "package": "foo", "revision": 3},
        "targets": [
            {"repositories": [{"name": "blueprints", "packageNames": ["alpha"]}],
             "template": {"labels": {"tier": "edge"}}},
            {"repositorySelector": {"matchLabels": {"abc": "def"}},
             "template": {"labels": {"tier": "edge"}, "downstream": {"package": "beta"}}},
            {"objectSelector": {"apiVersion": "v1", "kind": "Secret", "name": "my-secret"},
             "template": {"labels": {"tier": "edge"},
                          "downstream": {"packageExpr": "\"team-\" + target.labels[\"team\"]", "repo": "blueprints"}}},
        ]}
    assert stored["metadata"]["uid"] == created.json()["metadata"]["uid"]
    listed = (await admin.get(V1)).json()
    assert listed["apiVersion"] == "config.porch.kpt.dev/v1alpha1"
    assert [item["apiVersion"] for item in listed["items"]] == ["config.porch.kpt.dev/v1alpha1"]


async def test_a_v1alpha2_set_round_trips_through_v1alpha1_unchanged(admin: httpx.AsyncClient) -> None:
    spec = {"upstream": {"repo": "blueprints", "package": "foo", "revision": 2},
            "targets": [{"repositorySelector": {"matchLabels": {"env": "prod"}},
                         "template": {"downstream": {"packageExpr": "target.name + '-' + repository.labels['env']"},
                                      "labelExprs": [{"key": "org", "valueExpr": "target.labels['org']"}]}}]}
    created = await admin.post(V2, json=_object("config.porch.kpt.dev/v1alpha2", "cel", spec))
    assert created.status_code == 201, created.text
    old = (await admin.get(f"{V1}/cel")).json()
    assert old["spec"] == {"upstream": {"package": {"repo": "blueprints", "name": "foo"}, "revision": 2},
                           "targets": [{"repositories": {"matchLabels": {"env": "prod"}}}]}
    assert json.loads(old["metadata"]["annotations"][SPEC_ANNOTATION]) == spec
    # kubectl edit at v1alpha1 touching only metadata: the CEL templates survive, and the
    # round-trip annotation is never stored.
    old["metadata"].setdefault("labels", {})["edited"] = "yes"
    replaced = await admin.put(f"{V1}/cel", json=old)
    assert replaced.status_code == 200, replaced.text
    stored = (await admin.get(f"{V2}/cel")).json()
    assert stored["spec"] == spec and stored["metadata"]["labels"] == {"edited": "yes"}
    assert SPEC_ANNOTATION not in (stored["metadata"].get("annotations") or {})
    assert stored["metadata"]["generation"] == 1
    # A changed v1alpha1 spec is converted as written.
    patched = await admin.patch(f"{V1}/cel", json={"spec": {"upstream": {"revision": 3}}}, headers=MERGE)
    assert patched.status_code == 200, patched.text
    stored = (await admin.get(f"{V2}/cel")).json()
    assert stored["spec"] == {"upstream": {"repo": "blueprints", "package": "foo", "revision": 3},
                              "targets": [{"repositorySelector": {"matchLabels": {"env": "prod"}}}]}
    assert stored["metadata"]["generation"] == 2


async def test_what_v1alpha2_cannot_say_is_refused_and_validation_applies(admin: httpx.AsyncClient) -> None:
    elsewhere = {**OLD_SHAPE, "targets": [{"objects": {"selectors": [
        {"apiVersion": "v1", "kind": "Secret", "namespace": "other"}]}}]}
    response = await admin.post(V1, json=_object("config.porch.kpt.dev/v1alpha1", "bad", elsewhere))
    assert response.status_code == 400, response.text
    assert "namespace 'other' cannot be converted to config.porch.kpt.dev/v1alpha2" in response.json()["message"]
    no_upstream = {"targets": [{"package": {"repo": "blueprints", "name": "a"}}]}
    response = await admin.post(V1, json=_object("config.porch.kpt.dev/v1alpha1", "bad", no_upstream))
    assert response.status_code == 422, response.text
    assert response.json()["details"]["causes"][0]["message"] == "spec.upstream is a required field"
    wrong = await admin.post(V1, json=_object("config.porch.kpt.dev/v1alpha2", "bad", OLD_SHAPE))
    assert wrong.status_code == 400


async def test_a_v1alpha1_watch_sees_v1alpha1_objects(admin: httpx.AsyncClient) -> None:
    spec = {"upstream": {"repo": "blueprints", "package": "foo", "revision": 1},
            "targets": [{"repositories": [{"name": "r1"}]}]}
    events: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            async with admin.stream("GET", V1, params={"watch": "true", "timeoutSeconds": "10"}) as stream:
                async for line in stream.aiter_lines():
                    if line.strip():
                        events.append(json.loads(line))
                        nursery.cancel_scope.cancel()

        nursery.start_soon(watch)
        await trio.sleep(0.3)
        assert (await admin.post(V2, json=_object("config.porch.kpt.dev/v1alpha2", "w", spec))).status_code == 201
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["apiVersion"] == "config.porch.kpt.dev/v1alpha1"
    assert events[0]["object"]["spec"]["targets"] == [{"package": {"repo": "r1"}}]


async def test_kubectl_reads_the_preferred_version_and_either_explicitly(server: RunningServer,
                                                                         admin: httpx.AsyncClient) -> None:
    spec = {"upstream": {"repo": "blueprints", "package": "foo", "revision": 1},
            "targets": [{"repositories": [{"name": "r1"}]}]}
    assert (await admin.post(V2, json=_object("config.porch.kpt.dev/v1alpha2", "k", spec))).status_code == 201
    preferred = yaml.safe_load((await kubectl(server, "get", "packagevariantsets", "k", "-o", "yaml")).stdout)
    assert preferred["apiVersion"] == "config.porch.kpt.dev/v1alpha2"
    old = yaml.safe_load((await kubectl(server, "get", "packagevariantsets.v1alpha1.config.porch.kpt.dev", "k",
                                        "-o", "yaml")).stdout)
    assert old["apiVersion"] == "config.porch.kpt.dev/v1alpha1"
    assert old["spec"]["upstream"] == {"package": {"repo": "blueprints", "name": "foo"}, "revision": 1}
