"""Bad input of every kind gets a Status with the right code and a message saying what to fix.

After each refusal the server keeps serving and the stored objects are unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.parts.server import RunningServer

COLLECTION = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"


def repository(name: str = "blueprints") -> dict[str, Any]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": name}, "spec": {"type": "git", "git": {"repo": "http://127.0.0.1:1/b.git"}}}


def assert_status(response: httpx.Response, code: int, reason: str, *fragments: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


async def test_malformed_json_is_bad_request(admin: httpx.AsyncClient) -> None:
    response = await admin.post(COLLECTION, content=b'{"apiVersion": "config', headers={"content-type": "application/json"})
    assert_status(response, 400, "BadRequest", "not valid JSON")


async def test_malformed_yaml_is_bad_request(admin: httpx.AsyncClient) -> None:
    response = await admin.post(COLLECTION, content=b"metadata: [unclosed", headers={"content-type": "application/yaml"})
    assert_status(response, 400, "BadRequest", "not valid YAML")


async def test_yaml_bodies_are_accepted(admin: httpx.AsyncClient) -> None:
    body = "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata: {name: from-yaml}\n" \
           "spec: {type: git, git: {repo: 'http://127.0.0.1:1/y.git'}}\n"
    response = await admin.post(COLLECTION, content=body.encode(), headers={"content-type": "application/yaml"})
    assert response.status_code == 201, response.text


async def test_unknown_fields_strict_is_bad_request_and_default_warns(admin: httpx.AsyncClient) -> None:
    body = repository()
    body["spec"]["git"]["branchh"] = "main"
    strict = await admin.post(COLLECTION, json=body, params={"fieldValidation": "Strict"})
    assert_status(strict, 400, "BadRequest", 'strict decoding error: unknown field "spec.git.branchh"')
    lenient = await admin.post(COLLECTION, json=body)
    assert lenient.status_code == 201
    assert 'unknown field \\"spec.git.branchh\\"' in lenient.headers["warning"]
    assert "branchh" not in lenient.json()["spec"]["git"]


async def test_invalid_names_and_values_are_unprocessable(admin: httpx.AsyncClient) -> None:
    body = repository("Not_A_Name")
    body["spec"]["type"] = "svn"
    response = await admin.post(COLLECTION, json=body)
    status = assert_status(response, 422, "Invalid", 'Repository.config.porch.kpt.dev "Not_A_Name" is invalid')
    fields = {cause["field"] for cause in status["details"]["causes"]}
    assert {"metadata.name", "spec.type"} <= fields
    wrong_type = repository()
    wrong_type["spec"]["git"]["repo"] = 42
    assert_status(await admin.post(COLLECTION, json=wrong_type), 422, "Invalid", "spec.git.repo in body must be of type string")


async def test_missing_git_section_and_wrong_kind(admin: httpx.AsyncClient) -> None:
    body = repository()
    del body["spec"]["git"]
    assert_status(await admin.post(COLLECTION, json=body), 422, "Invalid", "spec.git")
    wrong = repository()
    wrong["kind"] = "PackageVariant"
    assert_status(await admin.post(COLLECTION, json=wrong), 400, "BadRequest", "does not match the expected kind")


async def test_duplicate_create_is_already_exists(admin: httpx.AsyncClient) -> None:
    assert (await admin.post(COLLECTION, json=repository())).status_code == 201
    assert_status(await admin.post(COLLECTION, json=repository()), 409, "AlreadyExists",
                  'repositories.config.porch.kpt.dev "blueprints" already exists')


async def test_stale_resource_version_is_conflict_not_500(admin: httpx.AsyncClient) -> None:
    created = (await admin.post(COLLECTION, json=repository())).json()
    created["spec"]["description"] = "one"
    assert (await admin.put(f"{COLLECTION}/blueprints", json=created)).status_code == 200
    created["spec"]["description"] = "two"
    assert_status(await admin.put(f"{COLLECTION}/blueprints", json=created), 409, "Conflict",
                  "the object has been modified; please apply your changes to the latest version")
    stored = (await admin.get(f"{COLLECTION}/blueprints")).json()
    assert stored["spec"]["description"] == "one"


async def test_missing_credentials_are_unauthorized(server: RunningServer) -> None:
    async with server.client(token=None) as anonymous:
        assert_status(await anonymous.get(COLLECTION), 401, "Unauthorized", "send a bearer token")
    async with server.client(token="not-a-token") as stranger:
        assert_status(await stranger.get(COLLECTION), 401, "Unauthorized", "not known")


async def test_oversized_body_is_request_entity_too_large(admin: httpx.AsyncClient) -> None:
    body = repository()
    body["spec"]["description"] = "x" * (7 * 1024 * 1024)
    assert_status(await admin.post(COLLECTION, json=body), 413, "RequestEntityTooLarge", "--max-request-body-bytes")
    assert (await admin.get(COLLECTION)).json()["items"] == []


async def test_unknown_resource_and_wrong_method(admin: httpx.AsyncClient) -> None:
    assert_status(await admin.get("/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/widgets"), 404, "NotFound")
    packages = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packages"
    created = assert_status(await admin.post(packages, json={"metadata": {"name": "x"}}), 405, "MethodNotAllowed")
    assert created["message"] == (
        "create or clone a PackageRevision resource to create a package as direct package creation is not "
        'supported on resources of kind "packages.porch.kpt.dev"')
    assert created["details"]["group"] == "porch.kpt.dev" and created["details"]["kind"] == "packages"
    updated = assert_status(await admin.put(f"{packages}/x", json={"metadata": {"name": "x"}}), 405, "MethodNotAllowed")
    assert updated["message"] == ("update a PackageRevision resource to update a package as direct package update is "
                                  'not supported on resources of kind "packages.porch.kpt.dev"')
    deleted = assert_status(await admin.delete(f"{packages}/x"), 405, "MethodNotAllowed")
    assert deleted["message"].startswith("delete all PackageRevisions resources of a package to delete a package as "
                                         "direct package deletion is not supported")
    assert_status(await admin.post("/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources",
                                   json={"metadata": {"name": "x"}}), 405, "MethodNotAllowed", "create the PackageRevision")


async def test_bad_selectors_and_params_are_bad_request(admin: httpx.AsyncClient) -> None:
    assert_status(await admin.get(COLLECTION, params={"labelSelector": "tier in blueprints"}), 400, "BadRequest",
                  "expected '('")
    assert_status(await admin.get(COLLECTION, params={"fieldSelector": "spec.nothing=x"}), 400, "BadRequest",
                  "field label not supported")
    assert_status(await admin.get(COLLECTION, params={"limit": "lots"}), 400, "BadRequest", "limit")
    assert_status(await admin.get(COLLECTION, params={"limit": "1", "continue": "garbage!"}), 400, "BadRequest")


async def test_unsupported_patch_type_is_415(admin: httpx.AsyncClient) -> None:
    await admin.post(COLLECTION, json=repository())
    response = await admin.patch(f"{COLLECTION}/blueprints", content=b"{}", headers={"content-type": "text/plain"})
    assert_status(response, 415, "UnsupportedMediaType", "application/merge-patch+json")


async def test_server_keeps_serving_after_every_refusal(admin: httpx.AsyncClient) -> None:
    for payload in (b"", b"[]", b"null", b"{", json.dumps({"metadata": "x"}).encode(), b"\xff\xfe"):
        response = await admin.post(COLLECTION, content=payload, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (payload, response.text)
        assert response.json()["kind"] == "Status"
    assert (await admin.post(COLLECTION, json=repository())).status_code == 201


@pytest.mark.parametrize("schedule", ["bogus", "61 * * * *", "* * * * * *", "@every 1h"])
async def test_a_sync_schedule_that_is_not_cron_is_invalid_and_nothing_changes(
    admin: httpx.AsyncClient, schedule: str,
) -> None:
    body = repository("scheduled")
    body["spec"]["sync"] = {"schedule": schedule}
    refused = assert_status(await admin.post(COLLECTION, json=body), 422, "Invalid", "5-field cron expression")
    assert [cause["field"] for cause in refused["details"]["causes"]] == ["spec.sync.schedule"]
    assert (await admin.get(f"{COLLECTION}/scheduled")).status_code == 404

    body["spec"]["sync"] = {"schedule": "*/10 * * * *"}
    created = await admin.post(COLLECTION, json=body)
    assert created.status_code == 201, created.text
    changed = created.json()
    changed["spec"]["sync"]["schedule"] = schedule
    assert_status(await admin.put(f"{COLLECTION}/scheduled", json=changed), 422, "Invalid", f'"{schedule}"')
    kept = (await admin.get(f"{COLLECTION}/scheduled")).json()
    assert kept["spec"]["sync"]["schedule"] == "*/10 * * * *"
    assert kept["metadata"]["resourceVersion"] == created.json()["metadata"]["resourceVersion"]
