"""A bad PackageVariantSet is refused at admission: 422 with one cause per problem, Porch's words.

The cases are Porch's validate_test.go (which Porch finds only in its controller, as a
Stalled condition), plus what Porch finds only while rendering: CEL that does not
compile, and names that can never be Repository or package names.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

from tests.api.conftest import new_store_url, postgres_run_database, server, store_kind
from tests.parts.server import RunningServer

__all__ = ["new_store_url", "postgres_run_database", "server", "store_kind"]

SETS = "/apis/config.porch.kpt.dev/v1alpha2/namespaces/default/packagevariantsets"
UPSTREAM = "  upstream: {repo: blueprints, package: basens, revision: 1}\n"


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


async def _refused(admin: httpx.AsyncClient, spec_yaml: str) -> list[tuple[str, str]]:
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha2", "kind": "PackageVariantSet",
            "metadata": {"name": "my-pvs"}, "spec": (yaml.safe_load(spec_yaml) or {}).get("spec")}
    if body["spec"] is None:
        del body["spec"]
    response = await admin.post(SETS, json=body)
    assert response.status_code == 422, response.text
    status = response.json()
    assert status["reason"] == "Invalid"
    assert status["message"].startswith('PackageVariantSet.config.porch.kpt.dev "my-pvs" is invalid: ')
    assert (await admin.get(f"{SETS}/my-pvs")).status_code == 404
    return [(c["field"], c["message"]) for c in status["details"]["causes"]]


PORCH_CASES: dict[str, tuple[str, list[str]]] = {
    "empty spec": ("", ["spec.upstream is a required field", "must specify at least one item in spec.targets"]),
    "missing upstream package": ("spec:\n  upstream: {repo: foo, revision: 1}\n",
                                 ["spec.upstream.package is a required field",
                                  "must specify at least one item in spec.targets"]),
    "missing upstream repo": ("spec:\n  upstream: {package: foopkg, revision: 3}\n",
                              ["spec.upstream.repo is a required field",
                               "must specify at least one item in spec.targets"]),
    "missing upstream revision": ("spec:\n  upstream: {repo: foo, package: foopkg}\n",
                                  ["either spec.upstream.revision or spec.upstream.workspaceName must be specified",
                                   "must specify at least one item in spec.targets"]),
    "invalid targets": ("""spec:
  targets:
  - repositories:
    - name: ""
  - repositories:
    - name: bar
    repositorySelector:
      matchLabels: {foo: bar}
  - repositories:
    - name: bar
      packageNames: ["", foo]
""", ["spec.upstream is a required field",
      "spec.targets[0].repositories[0].name cannot be empty",
      "spec.targets[1] must specify one of `repositories`, `repositorySelector`, or `objectSelector`",
      "spec.targets[2].repositories[0].packageNames[0] cannot be empty"]),
    "invalid adoption and deletion policies": ("""spec:
  targets:
  - template: {adoptionPolicy: invalid, deletionPolicy: invalid}
""", ["spec.upstream is a required field",
      "spec.targets[0] must specify one of `repositories`, `repositorySelector`, or `objectSelector`",
      'spec.targets[0].template.adoptionPolicy can only be "adoptNone" or "adoptExisting"',
      'spec.targets[0].template.deletionPolicy can only be "orphan" or "delete"']),
    "downstream values and expressions do not mix": ("""spec:
  targets:
  - template:
      downstream: {repo: foo, repoExpr: "'bar'", package: p, packageExpr: "'p'"}
""", ["spec.upstream is a required field",
      "spec.targets[0] must specify one of `repositories`, `repositorySelector`, or `objectSelector`",
      "spec.targets[0].template may specify only one of `downstream.repo` and `downstream.repoExpr`",
      "spec.targets[0].template may specify only one of `downstream.package` and `downstream.packageExpr`"]),
    "MapExprs do not allow both expr and non-expr for the same field": ("""spec:
  targets:
  - template:
      labelExprs:
      - {key: foo, keyExpr: "'bar'", value: bar}
      - {key: foo, value: bar, valueExpr: "'bar'"}
      annotationExprs:
      - {key: foo, keyExpr: "'bar'", value: bar}
      - {key: foo, value: bar, valueExpr: "'bar'"}
      packageContext:
        dataExprs:
        - {key: foo, keyExpr: "'bar'", value: bar}
        - {key: foo, value: bar, valueExpr: "'bar'"}
""", ["spec.upstream is a required field",
      "spec.targets[0] must specify one of `repositories`, `repositorySelector`, or `objectSelector`",
      "spec.targets[0].template.labelExprs[0] may specify only one of `key` and `keyExpr`",
      "spec.targets[0].template.labelExprs[1] may specify only one of `value` and `valueExpr`",
      "spec.targets[0].template.annotationExprs[0] may specify only one of `key` and `keyExpr`",
      "spec.targets[0].template.annotationExprs[1] may specify only one of `value` and `valueExpr`",
      "spec.targets[0].template.packageContext.dataExprs[0] may specify only one of `key` and `keyExpr`",
      "spec.targets[0].template.packageContext.dataExprs[1] may specify only one of `value` and `valueExpr`"]),
    "injectors must specify exactly one of name or nameExpr": ("""spec:
  targets:
  - repositories: [{name: bar}]
    template:
      injectors:
      - {name: foo, nameExpr: "'bar'"}
      - {group: foo}
""", ["spec.upstream is a required field",
      "spec.targets[0].template.injectors[0] may specify only one of `name` and `nameExpr`",
      "spec.targets[0].template.injectors[1] must specify either `name` or `nameExpr`"]),
    "pipeline function must be valid": ("""spec:
  targets:
  - repositories: [{name: bar}]
    template:
      pipeline:
        validators:
        - {name: foo}
        - {image: foo, name: bar}
        mutators:
        - {name: foo.bar, image: bar}
""", ["spec.upstream is a required field",
      "spec.targets[0].template.pipeline.validators[0].image must not be empty",
      "spec.targets[0].template.pipeline.mutators[0].name must not contain '.'"]),
}


@pytest.mark.parametrize("case", sorted(PORCH_CASES))
async def test_porch_validation_cases_are_422_with_porch_messages(admin: httpx.AsyncClient, case: str) -> None:
    spec_yaml, messages = PORCH_CASES[case]
    assert [message for _, message in await _refused(admin, spec_yaml)] == messages


async def test_cel_that_does_not_compile_names_the_field_and_the_reason(admin: httpx.AsyncClient) -> None:
    causes = await _refused(admin, "spec:\n" + UPSTREAM + """  targets:
  - repositorySelector: {matchLabels: {env: prod}}
    template:
      downstream: {packageExpr: "target.name + '-' + badvar"}
      labelExprs: [{key: a, valueExpr: "/"}]
      packageContext: {removeKeyExprs: ["repository.labels["]}
      injectors: [{nameExpr: "nope.name"}]
      pipeline: {mutators: [{image: x, configMapExprs: [{keyExpr: "tagret.name", value: v}]}]}
""")
    fields = [field for field, _ in causes]
    assert fields == ["spec.targets[0].template.downstream.packageExpr",
                      "spec.targets[0].template.labelExprs[0].valueExpr",
                      "spec.targets[0].template.packageContext.removeKeyExprs[0]",
                      "spec.targets[0].template.injectors[0].nameExpr",
                      "spec.targets[0].template.pipeline.mutators[0].configMapExprs[0].keyExpr"]
    assert causes[0][1] == (
        "Invalid value: \"target.name + '-' + badvar\": spec.targets[0].template.downstream.packageExpr is not a "
        "valid CEL expression: ERROR: <input>:1:21: undeclared reference to 'badvar' (in container '')\n"
        " | target.name + '-' + badvar\n | ....................^")
    assert "Syntax error" in causes[1][1]
    assert "undeclared reference to 'tagret'" in causes[4][1]


async def test_macros_and_declared_variables_compile(admin: httpx.AsyncClient) -> None:
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha2", "kind": "PackageVariantSet", "metadata": {"name": "ok"},
            "spec": yaml.safe_load("spec:\n" + UPSTREAM + """  targets:
  - repositorySelector: {matchLabels: {env: prod}}
    template:
      downstream: {packageExpr: "repository.labels.exists(k, k == 'env') ? packageDefault : repoDefault"}
      labelExprs: [{key: a, valueExpr: "upstream.name + target.name"}]
""")["spec"]}
    response = await admin.post(SETS, json=body)
    assert response.status_code == 201, response.text


async def test_names_that_cannot_be_repositories_or_packages_are_refused(admin: httpx.AsyncClient) -> None:
    causes = await _refused(admin, "spec:\n" + UPSTREAM + """  targets:
  - repositories: [{name: Cluster_01, packageNames: [ok, "Bad Name", "nested/pkg"]}]
    template: {downstream: {repo: "-x"}}
  - objectSelector: {apiVersion: v1, kind: Secret, matchExpressions: [{key: a, operator: Near}]}
""")
    assert [field for field, _ in causes] == [
        "spec.targets[0].repositories[0].name", "spec.targets[0].repositories[0].packageNames[1]",
        "spec.targets[0].template.downstream.repo", "spec.targets[1].objectSelector"]
    assert causes[0][1].startswith('Invalid value: "Cluster_01": spec.targets[0].repositories[0].name must be a '
                                   "Repository name, a DNS label")


async def test_an_update_is_validated_too(admin: httpx.AsyncClient) -> None:
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha2", "kind": "PackageVariantSet", "metadata": {"name": "ok"},
            "spec": yaml.safe_load("spec:\n" + UPSTREAM + "  targets: [{repositories: [{name: r1}]}]\n")["spec"]}
    assert (await admin.post(SETS, json=body)).status_code == 201
    response = await admin.patch(f"{SETS}/ok", json={"spec": {"targets": [{"repositories": [{"name": "r1"}],
                                                                           "repositorySelector": {}}]}},
                                 headers={"content-type": "application/merge-patch+json"})
    assert response.status_code == 422, response.text
    assert response.json()["details"]["causes"][0]["message"] == \
        "spec.targets[0] must specify one of `repositories`, `repositorySelector`, or `objectSelector`"
    assert (await admin.get(f"{SETS}/ok")).json()["spec"]["targets"] == [{"repositories": [{"name": "r1"}]}]
