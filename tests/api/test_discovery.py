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


def wire_fields(data: bytes) -> list[tuple[int, Any]]:
    """A protobuf message's (field, value) pairs: varints as int, length-delimited as bytes."""
    def varint(position: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[position]
            value, shift, position = value | (byte & 0x7F) << shift, shift + 7, position + 1
            if not byte & 0x80:
                return value, position
    fields: list[tuple[int, Any]] = []
    position = 0
    while position < len(data):
        key, position = varint(position)
        assert key & 7 in (0, 2), f"unexpected wire type {key & 7}"
        value, position = varint(position)
        if key & 7 == 2:
            value, position = data[position:position + value], position + value
        fields.append((key >> 3, value))
    return fields


def names_of(named_map: bytes) -> list[str]:
    """The names of a gnostic Named* list (repeated field 1, each with its name in field 1)."""
    return [dict(wire_fields(entry))[1].decode() for number, entry in wire_fields(named_map) if number == 1]


async def test_openapi_v2_as_gnostic_protobuf_for_kubectls_accept(admin: httpx.AsyncClient) -> None:
    document = (await admin.get("/openapi/v2")).json()
    for accept in ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                   "application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json"):
        response = await admin.get("/openapi/v2", headers={"accept": accept})
        assert response.headers["content-type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        top = wire_fields(response.content)
        fields = dict(top)
        assert fields[1] == b"2.0"
        assert dict(wire_fields(fields[2]))[1] == document["info"]["title"].encode()
        assert names_of(fields[9]) == list(document["definitions"])
        paths = [dict(wire_fields(entry))[1].decode() for number, entry in wire_fields(fields[8]) if number == 2]
        assert paths == list(document["paths"])
        again = await admin.get("/openapi/v2", headers={"accept": accept,
                                                        "if-none-match": response.headers["etag"]})
        assert again.status_code == 304
    assert (await admin.get("/openapi/v2", headers={"accept": "application/json"})).json() == document


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
