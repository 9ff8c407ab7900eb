"""Request bodies decode to plain JSON data, or are refused with 400 saying where.

JSON can carry lone UTF-16 surrogates and NaN, YAML binary, set and timestamp values,
and either can nest without bound; each used to end in a 500, and a stored lone
surrogate made every later list of the kind fail.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_bad_input import COLLECTION, assert_status
from tests.parts.server import RunningServer

JSON = {"content-type": "application/json"}
YAML = {"content-type": "application/yaml"}


def repository_json(name: str, extra: str) -> bytes:
    return (f'{{"metadata":{{"name":"{name}"}},"spec":{{"type":"git","git":{{"repo":"http://127.0.0.1:1/{name}"}}'
            f'{extra}}}}}').encode()


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


@pytest.mark.parametrize(("raw", "headers", "fragment"), [
    (repository_json("a", ',"description":"\\ud800"'), JSON, "not valid Unicode (a lone UTF-16 surrogate"),
    (repository_json("b", ',"description":NaN'), JSON, "NaN is not a JSON value"),
    (b"[" * 5000 + b"]" * 5000, JSON, "nests deeper than 100 levels"),
    (b"a: " + b"[" * 5000, YAML, "nests deeper than 100 levels"),
    (b"metadata: {name: c, managedFields: [{x: !!binary aGk=}]}\nspec: {type: git, git: {repo: 'http://h/c'}}",
     YAML, "bytes value at metadata.managedFields[0].x"),
    (b"metadata: {name: d, managedFields: [{x: !!set {a}}]}\nspec: {type: git, git: {repo: 'http://h/d'}}",
     YAML, "set value at metadata.managedFields[0].x"),
    (b"metadata: {name: e, managedFields: [{x: .inf}]}\nspec: {type: git, git: {repo: 'http://h/e'}}",
     YAML, "inf, which JSON cannot carry, at metadata.managedFields[0].x"),
])
async def test_bodies_that_are_not_json_data_are_bad_request(admin: httpx.AsyncClient, raw: bytes,
                                                            headers: dict[str, str], fragment: str) -> None:
    assert_status(await admin.post(COLLECTION, content=raw, headers=headers), 400, "BadRequest", fragment)
    listed = await admin.get(COLLECTION)
    assert listed.status_code == 200 and listed.json()["items"] == []


async def test_yaml_dates_and_number_keys_read_as_strings(admin: httpx.AsyncClient) -> None:
    raw = (b"metadata: {name: dated, labels: {since: 2020-01-01}}\n"
           b"spec: {type: git, description: 2020-01-01, git: {repo: 'http://127.0.0.1:1/dated'}}")
    created = await admin.post(COLLECTION, content=raw, headers=YAML)
    assert created.status_code == 201, created.text
    stored = (await admin.get(COLLECTION + "/dated")).json()
    assert stored["metadata"]["labels"] == {"since": "2020-01-01"} and stored["spec"]["description"] == "2020-01-01"
    variants = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/packagevariants"
    raw = (b"apiVersion: config.porch.kpt.dev/v1alpha1\nkind: PackageVariant\nmetadata: {name: keyed}\n"
           b"spec: {upstream: {repo: r, package: p, revision: 1}, downstream: {repo: r, package: q},\n"
           b"       pipeline: {mutators: [{image: set-labels, selectors: [{2: x, true: y, at: 2020-01-01}]}]}}")
    created = await admin.post(variants, content=raw, headers=YAML)
    assert created.status_code == 201, created.text
    pipeline = (await admin.get(variants + "/keyed")).json()["spec"]["pipeline"]
    assert pipeline["mutators"][0]["selectors"] == [{"2": "x", "true": "y", "at": "2020-01-01"}]
