"""A Repository whose Secret is ``Opaque`` with a ``bearerToken`` syncs from a git server that wants it.

The test git server accepts exactly one bearer token (tests/parts/git_server.py); a
Secret with another token leaves the Repository Ready=False with a message that names
the Secret and what to check, and never the token.
"""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import Porch
from tests.parts.git_server import TOKEN, package_files

WRONG_TOKEN = "tok-wrong-0c55e4-never-printed"


async def register_with_token(porch: Porch, name: str, token: str) -> dict[str, Any]:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-token"},
              "type": "Opaque", "stringData": {"bearerToken": token}}
    await porch.ok(await porch.http.post(f"/api/v1/namespaces/{porch.namespace}/secrets", json=secret), 201)
    body = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": name},
            "spec": {"type": "git", "git": {"repo": porch.git.url(name), "branch": "main",
                                            "secretRef": {"name": f"{name}-token"}}}}
    return await porch.ok(await porch.http.post(porch.repositories_url(), json=body), 201)


async def test_an_opaque_secret_with_a_bearer_token_syncs_the_repository(porch: Porch) -> None:
    porch.git.create_repo("tokens").commit(package_files("basens"), tags=["basens/v1"])
    await register_with_token(porch, "tokens", TOKEN)
    ready = await porch.wait_ready("tokens")
    assert ready["status"]["packageCount"] == 1
    names = {r["metadata"]["name"] for r in await porch.list_revisions()}
    assert names == {"tokens.basens.main", "tokens.basens.v1"}

    draft = await porch.init("tokens", "written", "ws1")
    await porch.publish(draft)
    assert "refs/tags/written/v1" in porch.git.refs("tokens"), "writes go to git with the token too"


async def test_a_wrong_bearer_token_leaves_the_repository_not_ready_with_a_clear_message(porch: Porch) -> None:
    porch.git.create_repo("locked").commit(package_files("basens"), tags=["basens/v1"])
    await register_with_token(porch, "locked", WRONG_TOKEN)
    failed = await porch.wait_ready("locked", status="False")
    ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Error"
    assert ready["message"] == (
        f"{porch.git.url('locked')}: the git server refused the credentials of Secret 'locked-token' while "
        "fetching; check the username and password (or bearerToken) it holds")
    assert WRONG_TOKEN not in str(failed)
    assert await porch.list_revisions() == []
