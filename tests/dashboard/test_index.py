"""The revision index costs nothing until a dashboard page needs it, and is kept from then on."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tests.parts.server import server_binary, start_server

BUILT = "revision index built on first use"


def _built(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if BUILT in record.getMessage()]


@pytest.mark.skipif(server_binary() is not None, reason="reads the server's log records in this process")
async def test_api_requests_never_build_the_index_and_the_first_page_does(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="porch_embedded.dashboard")
    async with start_server(tmp_path / "data", function_runner="none", controllers=False) as server:
        async with server.client() as api:
            revisions = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions"
            assert (await api.get(revisions)).status_code == 200
            assert (await api.get("/apis/config.porch.kpt.dev/v1alpha1/repositories")).status_code == 200
            assert (await api.get("/api/v1/namespaces")).status_code == 200
        async with server.client(token=None) as browser:
            form = await browser.get("/ui/login")  # the sign-in page needs no index either
            assert form.status_code == 200
            assert _built(caplog) == []
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf is not None
            signed_in = await browser.post("/ui/login", data={"token": server.token, "csrf_token": csrf.group(1)})
            assert signed_in.status_code == 302
            assert (await browser.get("/ui/")).status_code == 200
            assert len(_built(caplog)) == 1
            assert (await browser.get("/ui/queue")).status_code == 200
            assert len(_built(caplog)) == 1  # kept, not built again
