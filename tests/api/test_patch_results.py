"""A patch whose result is not a well-formed object is refused; the stored object stays as it was."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.test_bad_input import assert_status
from tests.api.test_delete_options import OBJECT, admin

__all__ = ["admin"]  # the fixture: an admin client, with one Repository stored at OBJECT


@pytest.mark.parametrize(("content_type", "patch"), [
    ("application/merge-patch+json", {"metadata": 5}),
    ("application/merge-patch+json", {"metadata": ["x"]}),
    ("application/json-patch+json", [{"op": "replace", "path": "/metadata", "value": "x"}]),
    ("application/strategic-merge-patch+json", {"metadata": 5}),
])
async def test_patch_that_makes_metadata_a_non_object_is_bad_request(admin: httpx.AsyncClient, content_type: str,
                                                                    patch: Any) -> None:
    before = (await admin.get(OBJECT)).json()
    response = await admin.patch(OBJECT, content=json.dumps(patch), headers={"content-type": content_type})
    assert_status(response, 400, "BadRequest", "metadata must be an object")
    assert (await admin.get(OBJECT)).json() == before
