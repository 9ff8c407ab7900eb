"""Warning headers quote what the client sent and stay legal HTTP whatever it was.

Found by the OpenAPI fuzzer: an unknown field whose name held a line break made the
Warning header illegal, so the write answered 500 and the connection broke.
"""

from __future__ import annotations

import httpx

from tests.api.test_bad_input import COLLECTION, repository
from tests.parts.server import RunningServer


async def test_unknown_field_with_control_characters_is_a_warning(server: RunningServer) -> None:
    body = repository()
    body["spec"]['odd\n"name"\r\x1f\u00e9'] = {"x": 1}
    async with server.client() as admin:
        response = await admin.post(COLLECTION, json=body)
        assert response.status_code == 201, response.text
        warning = response.headers["warning"]
        assert warning == '299 - "unknown field \\"spec.odd\\n\\"name\\"\\r\\u001f\\u00e9\\""'
        assert "spec" in response.json() and 'odd\n"name"\r\x1f\u00e9' not in response.json()["spec"]
        assert (await admin.get(COLLECTION + "/blueprints")).status_code == 200


async def test_plain_unknown_field_warning_reads_as_kubectl_shows_it(server: RunningServer) -> None:
    body = repository()
    body["spec"]["descriptionn"] = "typo"
    async with server.client() as admin:
        response: httpx.Response = await admin.post(COLLECTION, json=body)
    assert response.headers["warning"] == '299 - "unknown field \\"spec.descriptionn\\""'


async def test_hundreds_of_unknown_fields_stay_within_a_readable_response(server: RunningServer) -> None:
    body = repository()
    body["spec"].update({f"extra{index}": index for index in range(300)})
    async with server.client() as admin:
        response = await admin.post(COLLECTION, json=body)
    assert response.status_code == 201, response.text
    warnings = response.headers.get_list("warning")
    assert len(warnings) == 51
    assert warnings[0] == '299 - "unknown field \\"spec.extra0\\""'
    assert warnings[-1] == '299 - "250 more warnings left out"'


async def test_a_long_warning_is_cut(server: RunningServer) -> None:
    body = repository()
    body["spec"]["y" * 1000] = 1
    async with server.client() as admin:
        response = await admin.post(COLLECTION, json=body)
    text = 'unknown field \\"spec.' + "y" * (256 - len('unknown field "spec.')) + '..."'
    assert response.headers["warning"] == f'299 - "{text}'
