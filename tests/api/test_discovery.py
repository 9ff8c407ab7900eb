"""Discovery, aggregated discovery v2, OpenAPI v2/v3, version, health and metrics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.parts.server import RunningServer

V2_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
             "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


async def test_legacy_group_documents(admin: httpx.AsyncClient) -> None:
    groups = (await admin.get("/apis")).json()
    assert {g["name"] for g in groups["groups"]} == {"porch.kpt.dev", "config.porch.kpt.dev"}
    porch = (await admin.get("/apis/porch.kpt.dev/v1alpha1")).json()
    names = {r["name"]: r for r in porch["resources"]}
    assert names["packages"]["kind"] == "PorchPackage"
    assert names["packagerevisions/approval"]["verbs"] == ["get", "patch", "update"]
    assert (await admin.get("/api")).json()["versions"] == ["v1"]


async def test_aggregated_discovery_v2_with_etag(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/apis", headers={"accept": V2_ACCEPT})
    assert response.headers["content-type"] == \
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    body = response.json()
    assert body["kind"] == "APIGroupDiscoveryList"
    config = next(i for i in body["items"] if i["metadata"]["name"] == "config.porch.kpt.dev")
    v1alpha1 = next(v for v in config["versions"] if v["version"] == "v1alpha1")
    repositories = next(r for r in v1alpha1["resources"] if r["resource"] == "repositories")
    assert repositories["shortNames"] == ["repo"] and repositories["scope"] == "Namespaced"
    assert repositories["subresources"][0]["subresource"] == "status"
    again = await admin.get("/apis", headers={"accept": V2_ACCEPT, "if-none-match": response.headers["etag"]})
    assert again.status_code == 304


async def test_openapi_v3_root_and_group_documents(admin: httpx.AsyncClient) -> None:
    root = (await admin.get("/openapi/v3")).json()
    url = root["paths"]["apis/config.porch.kpt.dev/v1alpha1"]["serverRelativeURL"]
    document = (await admin.get(url)).json()
    schema = document["components"]["schemas"]["dev.kpt.porch.config.v1alpha1.Repository"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "config.porch.kpt.dev", "kind": "Repository", "version": "v1alpha1"}]
    assert schema["properties"]["spec"]["properties"]["type"]["enum"] == ["git", "oci"]
    revision = (await admin.get("/openapi/v3/apis/porch.kpt.dev/v1alpha1")).json()
    spec = revision["components"]["schemas"]["dev.kpt.porch.v1alpha1.PackageRevision"]["properties"]["spec"]
    assert {"packageName", "repository", "workspaceName", "revision", "lifecycle", "tasks"} <= set(spec["properties"])


async def test_openapi_v2_has_definitions(admin: httpx.AsyncClient) -> None:
    body = (await admin.get("/openapi/v2")).json()
    assert body["swagger"] == "2.0"
    assert "dev.kpt.porch.v1alpha1.PackageRevisionResources" in body["definitions"]


async def test_version_health_and_metrics(server: RunningServer, admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/version")).json()["major"] == "1"
    async with server.client(token=None) as anonymous:
        assert (await anonymous.get("/readyz")).text == "ok"
        assert (await anonymous.get("/livez")).text == "ok"
        verbose = (await anonymous.get("/readyz", params={"verbose": ""})).text
        assert "[+]store ok" in verbose
        assert (await anonymous.get("/apis")).status_code == 401
    await admin.get("/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories")
    metrics = (await admin.get("/metrics")).text
    assert 'apiserver_request_total{code="200",group="config.porch.kpt.dev",resource="repositories",verb="list"}' \
        in metrics
