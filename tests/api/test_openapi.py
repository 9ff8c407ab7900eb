"""The OpenAPI documents: valid for OpenAPI tooling and complete.

Validity is checked with openapi-spec-validator on every document the server serves.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator

from tests.parts.server import RunningServer

GROUP_VERSIONS = {"api/v1", "apis/porch.kpt.dev/v1alpha1", "apis/config.porch.kpt.dev/v1alpha1"}
REPOSITORIES = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/{namespace}/repositories"
REPOSITORY = REPOSITORIES + "/{name}"


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


async def served_documents(admin: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Every OpenAPI document the server lists, by URL path: each v3 group-version and v2."""
    root = (await admin.get("/openapi/v3")).json()
    assert set(root["paths"]) == GROUP_VERSIONS
    documents = {}
    for entry in root["paths"].values():
        response = await admin.get(entry["serverRelativeURL"])
        assert response.status_code == 200, response.text
        documents[entry["serverRelativeURL"].split("?")[0]] = response.json()
    documents["/openapi/v2"] = (await admin.get("/openapi/v2")).json()
    return documents


async def test_every_served_document_passes_the_spec_validator(admin: httpx.AsyncClient) -> None:
    documents = await served_documents(admin)
    assert len(documents) == len(GROUP_VERSIONS) + 1
    for url, document in documents.items():
        validator = OpenAPIV2SpecValidator if url == "/openapi/v2" else OpenAPIV30SpecValidator
        errors = [error.message for error in validator(document).iter_errors()]
        assert errors == [], f"{url}: {errors[:5]}"


async def test_paths_declare_their_parameters_per_verb(admin: httpx.AsyncClient) -> None:
    document = (await admin.get("/openapi/v3/apis/config.porch.kpt.dev/v1alpha1")).json()
    collection, item = document["paths"][REPOSITORIES], document["paths"][REPOSITORY]
    assert names(collection["parameters"], "path") == ["namespace"]
    assert names(item["parameters"], "path") == ["namespace", "name"]
    assert all(p["required"] for p in item["parameters"] if p["in"] == "path")
    assert "pretty" in names(item["parameters"], "query")
    assert {"labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion", "resourceVersionMatch",
            "timeoutSeconds", "allowWatchBookmarks", "sendInitialEvents"} == set(names(collection["get"]["parameters"]))
    assert set(names(collection["post"]["parameters"])) == {"dryRun", "fieldManager", "fieldValidation"}
    assert set(names(item["put"]["parameters"])) == {"dryRun", "fieldManager", "fieldValidation"}
    assert set(names(item["patch"]["parameters"])) == {"dryRun", "fieldManager", "fieldValidation", "force"}
    assert {"gracePeriodSeconds", "propagationPolicy", "orphanDependents", "dryRun"} == \
        set(names(item["delete"]["parameters"]))
    assert {"labelSelector", "fieldSelector", "propagationPolicy"} <= set(names(collection["delete"]["parameters"]))
    limit = next(p for p in collection["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["type"] == "integer"
    # A kind that cannot be watched declares no watch parameters.
    porch = (await admin.get("/openapi/v3/apis/porch.kpt.dev/v1alpha1")).json()
    resources = porch["paths"]["/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packagerevisionresources"]
    assert "watch" not in names(resources["get"]["parameters"]) and "post" not in resources


async def test_operations_declare_bodies_responses_and_kubernetes_extensions(admin: httpx.AsyncClient) -> None:
    document = (await admin.get("/openapi/v3/apis/config.porch.kpt.dev/v1alpha1")).json()
    schemas = document["components"]["schemas"]
    item = document["paths"][REPOSITORY]
    repository = "#/components/schemas/dev.kpt.porch.config.v1alpha1.Repository"
    status = "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"
    assert set(item["patch"]["requestBody"]["content"]) == {
        "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
        "application/apply-patch+yaml"}
    assert item["put"]["requestBody"]["content"]["application/json"]["schema"] == {"$ref": repository}
    assert item["put"]["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": repository}
    assert set(item["put"]["responses"]) == {"200", "201", "401"}
    assert item["put"]["responses"]["401"]["content"]["application/json"]["schema"] == {"$ref": status}
    post = document["paths"][REPOSITORIES]["post"]
    assert set(post["responses"]) == {"200", "201", "202", "401"}
    listed = document["paths"][REPOSITORIES]["get"]["responses"]["200"]["content"]
    assert listed["application/json"]["schema"] == {"$ref": repository + "List"}
    assert "application/json;stream=watch" in listed
    assert {op["x-kubernetes-action"] for op in (*item.values(), *document["paths"][REPOSITORIES].values())
            if isinstance(op, dict)} == {"get", "put", "patch", "delete", "list", "post", "deletecollection"}
    assert item["get"]["x-kubernetes-group-version-kind"] == {
        "group": "config.porch.kpt.dev", "version": "v1alpha1", "kind": "Repository"}
    assert item["delete"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(".DeleteOptions")
    assert schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Status"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Status", "version": "v1"}]
    status_path = document["paths"][REPOSITORY + "/status"]
    assert set(status_path) == {"get", "put", "patch", "parameters"}
    core = (await admin.get("/openapi/v3/api/v1")).json()
    secret = core["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]
    assert secret["delete"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
    assert secret["get"]["operationId"] == "readCoreV1NamespacedSecret"
    assert "/api/v1/secrets" in core["paths"]


async def test_openapi_v2_declares_the_same_operations(admin: httpx.AsyncClient) -> None:
    documents = await served_documents(admin)
    v2 = documents.pop("/openapi/v2")
    v3_operations = {(path, method) for document in documents.values() for path, item in document["paths"].items()
                     for method in item if method != "parameters"}
    v2_operations = {(path, method) for path, item in v2["paths"].items() for method in item if method != "parameters"}
    assert v2_operations == v3_operations
    patch = v2["paths"][REPOSITORY]["patch"]
    assert "application/apply-patch+yaml" in patch["consumes"]
    assert patch["parameters"][-1] == {"name": "body", "in": "body", "required": True,
                                       "schema": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
    assert patch["responses"]["200"]["schema"] == {"$ref": "#/definitions/dev.kpt.porch.config.v1alpha1.Repository"}
    assert names(v2["paths"][REPOSITORY]["parameters"], "path") == ["namespace", "name"]


def names(parameters: list[dict[str, Any]], location: str = "query") -> list[str]:
    return [p["name"] for p in parameters if p["in"] == location]

