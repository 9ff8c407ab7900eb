"""Every ObjectMeta field is type-checked before anything reads it.

Found by the OpenAPI fuzzer: finalizers holding a list, a number for generateName or
for name answered 500 (or were stored, and failed whatever read them later).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_bad_input import COLLECTION, assert_status, repository
from tests.parts.server import RunningServer


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        assert (await http.post(COLLECTION, json=repository("base"))).status_code == 201
        yield http


BAD_METADATA = [
    ("name", 5, "metadata.name in body must be of type string"),
    ("finalizers", [["x"]], "metadata.finalizers[0] in body must be of type string"),
    ("finalizers", "x", "metadata.finalizers in body must be of type array"),
    ("ownerReferences", "x", "metadata.ownerReferences in body must be of type array"),
    ("ownerReferences", [{"kind": 1}], "metadata.ownerReferences[0].kind in body must be of type string"),
    ("uid", 5, "metadata.uid in body must be of type string"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), [
    *BAD_METADATA, ("generateName", 5, "metadata.generateName in body must be of type string")])
async def test_create_with_mistyped_metadata_is_invalid(admin: httpx.AsyncClient, field: str, value: Any,
                                                         fragment: str) -> None:
    body = repository("typed")
    body["spec"]["git"]["repo"] = "http://127.0.0.1:1/typed.git"
    if field == "generateName":
        del body["metadata"]["name"]
    body["metadata"][field] = value
    assert_status(await admin.post(COLLECTION, json=body), 422, "Invalid", fragment)
    assert [i["metadata"]["name"] for i in (await admin.get(COLLECTION)).json()["items"]] == ["base"]


@pytest.mark.parametrize(("field", "value", "fragment"), [f for f in BAD_METADATA if f[0] not in ("name", "uid")])
async def test_update_with_mistyped_metadata_is_invalid(admin: httpx.AsyncClient, field: str, value: Any,
                                                         fragment: str) -> None:
    current = (await admin.get(COLLECTION + "/base")).json()
    current["metadata"][field] = value
    assert_status(await admin.put(COLLECTION + "/base", json=current), 422, "Invalid", fragment)
    assert field not in (await admin.get(COLLECTION + "/base")).json()["metadata"]


async def test_null_metadata_fields_read_as_absent(admin: httpx.AsyncClient) -> None:
    body = repository("nulls")
    body["spec"]["git"]["repo"] = "http://127.0.0.1:1/nulls.git"
    body["metadata"].update({"finalizers": None, "ownerReferences": None, "labels": None})
    created = await admin.post(COLLECTION, json=body)
    assert created.status_code == 201, created.text
