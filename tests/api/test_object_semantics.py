"""Generic object semantics: finalizers, status subresource, generation, namespaces, secrets at rest."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest

from tests.parts.postgres import raw_store_contents
from tests.parts.server import RunningServer

GROUP_PATH = "/apis/config.porch.kpt.dev/v1alpha1"
COLLECTION = f"{GROUP_PATH}/namespaces/default/repositories"


def repository(name: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": name, **metadata},
            "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/{name}.git"}}}


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


async def test_finalizers_hold_deletion_until_cleared(admin: httpx.AsyncClient) -> None:
    await admin.post(COLLECTION, json=repository("held", finalizers=["example.com/cleanup"]))
    pending = await admin.delete(f"{COLLECTION}/held")
    assert pending.status_code == 200
    assert pending.json()["metadata"]["deletionTimestamp"]
    still_there = (await admin.get(f"{COLLECTION}/held")).json()
    assert still_there["metadata"]["finalizers"] == ["example.com/cleanup"]
    refused = await admin.patch(f"{COLLECTION}/held", json={"metadata": {"finalizers": ["example.com/cleanup", "x/y"]}},
                                headers={"content-type": "application/merge-patch+json"})
    assert refused.status_code == 422
    released = await admin.patch(f"{COLLECTION}/held", json={"metadata": {"finalizers": None}},
                                 headers={"content-type": "application/merge-patch+json"})
    assert released.status_code == 200
    assert (await admin.get(f"{COLLECTION}/held")).status_code == 404


async def test_status_subresource_splits_spec_and_status(admin: httpx.AsyncClient) -> None:
    created = (await admin.post(COLLECTION, json={**repository("split"), "status": {"packageCount": 9}})).json()
    assert "status" not in created
    created["status"] = {"packageCount": 3}
    created["spec"]["description"] = "ignored by the status write"
    status_write = (await admin.put(f"{COLLECTION}/split/status", json=created)).json()
    assert status_write["status"] == {"packageCount": 3}
    assert "description" not in status_write["spec"]
    assert status_write["metadata"]["generation"] == 1
    status_write["status"] = {"packageCount": 100}
    status_write["spec"]["description"] = "a spec change"
    main_write = (await admin.put(f"{COLLECTION}/split", json=status_write)).json()
    assert main_write["status"] == {"packageCount": 3}
    assert main_write["metadata"]["generation"] == 2


async def test_metadata_only_changes_keep_generation(admin: httpx.AsyncClient) -> None:
    await admin.post(COLLECTION, json=repository("labelled"))
    patched = (await admin.patch(f"{COLLECTION}/labelled", json={"metadata": {"labels": {"a": "b"}}},
                                 headers={"content-type": "application/merge-patch+json"})).json()
    assert patched["metadata"]["labels"] == {"a": "b"}
    assert patched["metadata"]["generation"] == 1


async def test_deleting_a_namespace_deletes_what_it_holds(admin: httpx.AsyncClient) -> None:
    assert (await admin.post("/api/v1/namespaces", json={"metadata": {"name": "team-b"}})).status_code == 201
    inside = f"{GROUP_PATH}/namespaces/team-b/repositories"
    assert (await admin.post(inside, json=repository("doomed"))).status_code == 201
    assert (await admin.delete("/api/v1/namespaces/team-b")).status_code == 200
    assert (await admin.get(f"{inside}/doomed")).status_code == 404
    assert (await admin.get("/api/v1/namespaces/team-b")).status_code == 404


async def test_secret_data_is_encrypted_at_rest(server: RunningServer, admin: httpx.AsyncClient) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "repo-auth"},
              "type": "kubernetes.io/basic-auth", "stringData": {"username": "git", "password": "plaintext-needle"}}
    created = await admin.post("/api/v1/namespaces/default/secrets", json=secret)
    assert created.status_code == 201
    assert created.json()["data"]["password"] == "cGxhaW50ZXh0LW5lZWRsZQ=="
    if server.store_url.startswith("postgresql://"):
        at_rest = raw_store_contents(server.store_url)
    else:
        connection = sqlite3.connect(server.data_dir / "store.db")
        try:
            connection.execute("PRAGMA wal_checkpoint(FULL)")
        finally:
            connection.close()
        at_rest = b""
    # Every file the server keeps (the SQLite store, its WAL, logs, caches) as well.
    at_rest += b"".join(path.read_bytes() for path in server.data_dir.rglob("*") if path.is_file())
    assert b"repo-auth" in at_rest and b"kubernetes.io/basic-auth" in at_rest  # the Secret's row was read
    for plaintext in (b"plaintext-needle", b"cGxhaW50ZXh0LW5lZWRsZQ"):
        assert plaintext not in at_rest


async def test_generate_name_and_resource_version_on_create(admin: httpx.AsyncClient) -> None:
    body = repository("")
    body["metadata"] = {"generateName": "gen-"}
    created = (await admin.post(COLLECTION, json=body)).json()
    assert created["metadata"]["name"].startswith("gen-") and len(created["metadata"]["name"]) == 9
    body = repository("with-rv", resourceVersion="12")
    refused = await admin.post(COLLECTION, json=body)
    assert refused.status_code == 400
    assert "resourceVersion should not be set" in refused.json()["message"]
