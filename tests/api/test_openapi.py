"""The OpenAPI documents: valid for OpenAPI tooling, complete, and true to what the server does.

Validity is checked with openapi-spec-validator on every document the server serves;
truth by a property-based run of schemathesis that drives every operation of every
group-version from those documents against a real server process and requires that
none answers 5xx or drops the connection.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator
from schemathesis.generation.modes import GenerationMode

from tests.parts.git_server import PASSWORD, USERNAME, GitServer, git_server
from tests.parts.server import RunningServer, ServerProcess, start_server_process

GROUP_VERSIONS = {"api/v1", "apis/porch.kpt.dev/v1alpha1", "apis/config.porch.kpt.dev/v1alpha1",
                  "apis/config.porch.kpt.dev/v1alpha2"}
REPOSITORIES = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/{namespace}/repositories"
REPOSITORY = REPOSITORIES + "/{name}"

__all__ = ["git_server"]  # the fixture, for the property-based run


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


# ---- property-based run ------------------------------------------------------------------

FUZZ_EXAMPLES = int(os.environ.get("PORCH_FUZZ_EXAMPLES", "3"))
"""Examples per operation, generation mode and target: about 900 requests, a minute on a loaded
2-core machine. Set PORCH_FUZZ_EXAMPLES higher for a longer hunt, PORCH_FUZZ_SEED to replay a run."""

TARGETED = "default"
"""The namespace where the targeted half of the run finds real objects of every kind."""


def _paths_to(server: ServerProcess, group: str) -> str:
    return f"{server.url}/apis/{group}/v1alpha1/namespaces/{TARGETED}" if group else \
        f"{server.url}/api/v1/namespaces/{TARGETED}"


class _Fuzzer:
    """Sends schemathesis cases to a server process and records every 5xx and dropped connection.

    Each operation runs twice per generation mode: with path parameters as generated
    (mostly objects that do not exist) and aimed at a real object of its kind in
    ``default`` (a git-backed Repository, a draft PackageRevision, its package and
    resources, a PackageVariant and Set, a Secret, a Namespace), re-made whenever a
    case deleted it, so that updates, patches and deletes reach the engine.
    """

    def __init__(self, server: ServerProcess, git: GitServer) -> None:
        self.server = server
        self.git = git
        self.ca = str(server.data_dir / "pki" / "ca.crt")
        token = (server.data_dir / "admin-token").read_text().strip()
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace our CA
        self.session.verify = self.ca
        # Set when the request is prepared, after the case's own headers: schemathesis's
        # negative mode leaves out credentials, which only tests the door (401).
        self.session.auth = lambda request: _with_header(request, "Authorization", f"Bearer {token}")
        self.failures: list[str] = []
        self.codes: dict[int, int] = {}
        self.workspaces = 0

    def documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        root = self.session.get(self.server.url + "/openapi/v3", timeout=30).json()
        assert set(root["paths"]) == GROUP_VERSIONS
        for key, entry in root["paths"].items():
            yield key, self.session.get(self.server.url + entry["serverRelativeURL"], timeout=30).json()

    def _ensure(self, collection: str, body: dict[str, Any]) -> str:
        name = str(body["metadata"]["name"])
        if self.session.get(f"{collection}/{name}", timeout=30).status_code == 404:
            created = self.session.post(collection, json=body, timeout=30)
            assert created.status_code == 201, created.text
        return name

    def target(self, plural: str) -> str:
        """The name of a real object of ``plural`` in ``default``, made if a case deleted it."""
        core, porch, config = (_paths_to(self.server, g) for g in ("", "porch.kpt.dev", "config.porch.kpt.dev"))
        if plural == "namespaces":
            return self._ensure(f"{self.server.url}/api/v1/namespaces", {"metadata": {"name": "fuzz-target"}})
        if plural == "secrets":
            return self._ensure(f"{core}/secrets", {"metadata": {"name": "fuzz-target"}, "stringData": {"a": "b"}})
        if plural == "configmaps":
            return self._ensure(f"{core}/configmaps", {"metadata": {"name": "fuzz-target"}, "data": {"a": "b"}})
        if plural == "repositories":
            self._ensure(f"{core}/secrets", {"metadata": {"name": "git-auth"}, "type": "kubernetes.io/basic-auth",
                                             "stringData": {"username": USERNAME, "password": PASSWORD}})
            return self._ensure(f"{config}/repositories", {
                "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "blueprints"},
                "spec": {"type": "git", "git": {"repo": self.git.url("blueprints"), "branch": "main",
                                                "secretRef": {"name": "git-auth"}}}})
        if plural in ("packagerevisions", "packagerevisionresources", "packages"):
            self.target("repositories")
            revisions = self.session.get(f"{porch}/packagerevisions", timeout=30).json()["items"]
            if not revisions:
                self.workspaces += 1
                created = self.session.post(f"{porch}/packagerevisions", timeout=60, json={
                    "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision", "metadata": {},
                    "spec": {"repository": "blueprints", "packageName": "fuzzed",
                             "workspaceName": f"w{self.workspaces}", "tasks": [{"type": "init", "init": {}}]}})
                assert created.status_code == 201, created.text
                revisions = [created.json()]
            if plural == "packages":
                return str(self.session.get(f"{porch}/packages", timeout=30).json()["items"][0]["metadata"]["name"])
            return str(revisions[0]["metadata"]["name"])
        variant = {"upstream": {"repo": "blueprints", "package": "fuzzed", "revision": 1}}
        if plural == "packagevariants":
            return self._ensure(f"{config}/packagevariants", {
                "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "PackageVariant",
                "metadata": {"name": "fuzz-target"},
                "spec": {**variant, "downstream": {"repo": "blueprints", "package": "copy"}}})
        assert plural == "packagevariantsets", plural
        return self._ensure(f"{config}/packagevariantsets", {  # the older shape, served by conversion
            "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "PackageVariantSet",
            "metadata": {"name": "fuzz-target"},
            "spec": {"upstream": {"package": {"repo": "blueprints", "name": "fuzzed"}, "revision": 1},
                     "targets": [{"package": {"repo": "blueprints", "name": "copy"}}]}})

    def aimed(self, path: str) -> dict[str, str] | None:
        """Path parameters that point ``path`` at a real object (or collection), or None."""
        parts = path.split("/")
        parameters = {"namespace": TARGETED} if "{namespace}" in parts else {}
        if "{name}" in parts:
            parameters["name"] = self.target(parts[parts.index("{name}") - 1])
        return parameters or None

    def send(self, case: schemathesis.Case) -> None:
        if case.query and str(case.query.get("watch", "")).lower() in ("1", "true"):
            # A watch streams until its timeout (30 minutes by default); a short one still
            # exercises the stream from start to end.
            case.query["timeoutSeconds"] = 1
        try:
            response = case.call(base_url=self.server.url, session=self.session, timeout=30, verify=self.ca)
        except requests.RequestException as error:
            self.failures.append(f"{case.operation.label}: {type(error).__name__}: {error}\n  "
                                 f"{case.as_curl_command(base_url=self.server.url)}")
            return
        self.codes[response.status_code] = self.codes.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            self.failures.append(f"{case.operation.label}: {response.status_code} {response.text[:300]}\n  "
                                 f"{case.as_curl_command(base_url=self.server.url)}")

    def run(self, operation: Any, mode: GenerationMode, seed: int, path_parameters: dict[str, str] | None) -> None:
        @hypothesis.seed(seed)
        @hypothesis.settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                             suppress_health_check=list(HealthCheck))
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
        def examples(case: schemathesis.Case) -> None:
            self.send(case)

        examples()


def _with_header(request: Any, name: str, value: str) -> Any:
    request.headers[name] = value
    return request


@pytest.mark.slow
def test_fuzzing_every_operation_finds_no_server_error(tmp_path: Path, git_server: GitServer) -> None:
    git_server.create_repo("blueprints")
    server = start_server_process(tmp_path / "data", ["--disable-controllers", "--function-runner", "none"])
    seed = int(os.environ.get("PORCH_FUZZ_SEED") or random.randrange(2**32))  # a failure names its seed
    fuzzer = _Fuzzer(server, git_server)
    fuzzed = set()
    try:
        for key, document in fuzzer.documents():
            for result in schemathesis.openapi.from_dict(document).get_all_operations():
                operation = result.ok()
                fuzzed.add(key)
                for aimed in (False, True):
                    path_parameters = fuzzer.aimed(operation.path) if aimed else None
                    if aimed and path_parameters is None:
                        continue
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                        fuzzer.run(operation, mode, seed, path_parameters)
                        assert server.process is not None and server.process.poll() is None, \
                            f"the server exited (seed {seed}):\n{(server.data_dir / 'server.log').read_text()[-3000:]}"
    finally:
        server.stop()
    assert fuzzed == GROUP_VERSIONS
    # The cases got past authentication and reached real objects as well as missing ones.
    assert fuzzer.codes.get(200) and fuzzer.codes.get(404) and fuzzer.codes.get(400) and not fuzzer.codes.get(401)
    assert fuzzer.failures == [], f"seed {seed}; " + f"{len(fuzzer.failures)} failures:\n" + \
        "\n".join(fuzzer.failures[:20]) + f"\nserver log:\n{(server.data_dir / 'server.log').read_text()[-3000:]}"
