"""A delete's DeleteOptions body: read field by field, a malformed one refused with 400.

Found by the OpenAPI fuzzer: a body that was not an object, or preconditions that were
not an object, made the server answer 500.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_bad_input import COLLECTION, assert_status, repository
from tests.parts.server import RunningServer

OBJECT = COLLECTION + "/blueprints"


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        assert (await http.post(COLLECTION, json=repository())).status_code == 201
        yield http


async def delete(admin: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await admin.request("DELETE", OBJECT, json=body)


@pytest.mark.parametrize(("body", "fragment"), [
    ([{"preconditions": {}}], "must be a DeleteOptions object, not list"),
    ("Orphan", "must be a DeleteOptions object, not str"),
    ({"preconditions": True}, "preconditions must be an object"),
    ({"preconditions": [{"uid": "x"}]}, "preconditions must be an object"),
    ({"preconditions": {"resourceVersion": 7}}, "preconditions.resourceVersion must be a string"),
    ({"preconditions": {"uid": {"value": "x"}}}, "preconditions.uid must be a string"),
    ({"dryRun": "All"}, 'dryRun must be a list whose only value is "All"'),
    ({"dryRun": ["Some"]}, 'dryRun must be a list whose only value is "All"'),
])
async def test_malformed_delete_options_are_bad_request(admin: httpx.AsyncClient, body: Any, fragment: str) -> None:
    assert_status(await delete(admin, body), 400, "BadRequest", fragment)
    assert (await admin.get(OBJECT)).status_code == 200


async def test_well_formed_delete_options_still_apply(admin: httpx.AsyncClient) -> None:
    current = (await admin.get(OBJECT)).json()["metadata"]
    assert (await delete(admin, {"dryRun": ["All"]})).status_code == 200
    assert (await admin.get(OBJECT)).status_code == 200
    stale = await delete(admin, {"preconditions": {"uid": "not-" + current["uid"]}})
    assert stale.status_code == 409, stale.text
    done = await delete(admin, {"preconditions": {"uid": current["uid"], "resourceVersion": current["resourceVersion"]}})
    assert done.status_code == 200, done.text
    assert (await admin.get(OBJECT)).status_code == 404
