"""Watch (resume, 410, bookmarks, timeouts, selectors) and list (selectors, paging, Table) over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from tests.parts.server import RunningServer

COLLECTION = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"


def repository(name: str, tier: str = "blueprints") -> dict[str, Any]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
            "metadata": {"name": name, "labels": {"tier": tier}},
            "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/{name}.git"}}}


@pytest.fixture
async def admin(server: RunningServer) -> Any:
    async with server.client() as http:
        yield http


async def read_events(http: httpx.AsyncClient, params: dict[str, str], count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with trio.fail_after(15):
        async with http.stream("GET", COLLECTION, params={"watch": "true", **params}) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.strip():
                    events.append(json.loads(line))
                if len(events) >= count:
                    break
    return events


async def test_watch_resumes_after_a_resource_version(admin: httpx.AsyncClient) -> None:
    first = (await admin.post(COLLECTION, json=repository("one"))).json()
    await admin.post(COLLECTION, json=repository("two"))
    await admin.delete(f"{COLLECTION}/one")
    events = await read_events(admin, {"resourceVersion": first["metadata"]["resourceVersion"]}, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "two"), ("DELETED", "one")]


async def test_watch_without_resource_version_starts_with_what_exists(admin: httpx.AsyncClient) -> None:
    await admin.post(COLLECTION, json=repository("existing"))
    async with trio.open_nursery() as nursery:
        received: list[dict[str, Any]] = []

        async def watch() -> None:
            received.extend(await read_events(admin, {}, 2))

        nursery.start_soon(watch)
        await trio.sleep(0.3)
        await admin.post(COLLECTION, json=repository("later"))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in received] == [
        ("ADDED", "existing"), ("ADDED", "later")]


async def test_watch_filters_by_label_and_field_selector(admin: httpx.AsyncClient) -> None:
    start = (await admin.get(COLLECTION)).json()["metadata"]["resourceVersion"]
    await admin.post(COLLECTION, json=repository("blue", tier="blueprints"))
    await admin.post(COLLECTION, json=repository("deploy", tier="deployments"))
    await admin.post(COLLECTION, json=repository("blue2", tier="blueprints"))
    by_label = await read_events(admin, {"resourceVersion": start, "labelSelector": "tier=blueprints"}, 2)
    assert [e["object"]["metadata"]["name"] for e in by_label] == ["blue", "blue2"]
    by_field = await read_events(admin, {"resourceVersion": start, "fieldSelector": "metadata.name=deploy"}, 1)
    assert by_field[0]["object"]["metadata"]["name"] == "deploy"


async def test_watch_from_compacted_history_gets_410_expired(server: RunningServer, tmp_path: Any,
                                                             new_store_url: Callable[[], str]) -> None:
    from tests.parts.server import start_server

    async with start_server(tmp_path / "small", store_url=new_store_url(), event_retention=5,
                            controllers=False) as small, small.client() as http:
        first = (await http.post(COLLECTION, json=repository("r0"))).json()
        for index in range(1, 40):
            await http.post(COLLECTION, json=repository(f"r{index}"))
        events: list[dict[str, Any]] = []
        async with http.stream("GET", COLLECTION, params={
                "watch": "1", "resourceVersion": first["metadata"]["resourceVersion"]}) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    events.append(json.loads(line))
                    break
        assert events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410
        assert events[0]["object"]["reason"] == "Expired"


async def test_bookmarks_carry_the_current_resource_version(admin: httpx.AsyncClient) -> None:
    created = (await admin.post(COLLECTION, json=repository("marked"))).json()
    events = await read_events(admin, {"resourceVersion": created["metadata"]["resourceVersion"],
                                       "allowWatchBookmarks": "true"}, 1)
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["object"]["kind"] == "Repository"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])


async def test_watch_ends_by_itself_after_timeout_seconds_having_carried_its_events(
        admin: httpx.AsyncClient) -> None:
    start = (await admin.get(COLLECTION)).json()["metadata"]["resourceVersion"]
    await admin.post(COLLECTION, json=repository("first"))
    await admin.post(COLLECTION, json=repository("second"))
    events: list[dict[str, Any]] = []
    with trio.fail_after(15):  # only bounds a stream that never ends (the server ends it after 1 s)
        async with admin.stream("GET", COLLECTION, params={"watch": "true", "timeoutSeconds": "1",
                                                           "resourceVersion": start}) as response:
            assert response.status_code == 200
            events += [json.loads(line) async for line in response.aiter_lines() if line.strip()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "first"), ("ADDED", "second")]


async def test_label_selector_operators_on_list(admin: httpx.AsyncClient) -> None:
    for name, tier in (("a", "blueprints"), ("b", "deployments"), ("c", "catalog")):
        await admin.post(COLLECTION, json=repository(name, tier))

    async def names(selector: str) -> list[str]:
        body = (await admin.get(COLLECTION, params={"labelSelector": selector})).json()
        return [item["metadata"]["name"] for item in body["items"]]

    assert await names("tier=blueprints") == ["a"]
    assert await names("tier!=blueprints") == ["b", "c"]
    assert await names("tier in (catalog,deployments)") == ["b", "c"]
    assert await names("tier notin (catalog)") == ["a", "b"]
    assert await names("tier") == ["a", "b", "c"]
    assert await names("!tier") == []


async def test_field_selector_on_spec(admin: httpx.AsyncClient) -> None:
    await admin.post(COLLECTION, json=repository("x"))
    oci = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "images"},
           "spec": {"type": "oci", "oci": {"registry": "127.0.0.1:5000/pkgs"}}}
    assert (await admin.post(COLLECTION, json=oci)).status_code == 201
    body = (await admin.get(COLLECTION, params={"fieldSelector": "spec.type=oci"})).json()
    assert [item["metadata"]["name"] for item in body["items"]] == ["images"]


async def test_limit_and_continue_page_through_everything(admin: httpx.AsyncClient) -> None:
    for index in range(7):
        await admin.post(COLLECTION, json=repository(f"page-{index}"))
    seen: list[str] = []
    params = {"limit": "3"}
    while True:
        body = (await admin.get(COLLECTION, params=params)).json()
        seen += [item["metadata"]["name"] for item in body["items"]]
        token = body["metadata"].get("continue")
        if not token:
            break
        assert body["metadata"]["remainingItemCount"] == 7 - len(seen)
        params = {"limit": "3", "continue": token}
    assert seen == [f"page-{index}" for index in range(7)]


async def test_table_output_with_columns_and_partial_metadata(admin: httpx.AsyncClient) -> None:
    await admin.post(COLLECTION, json=repository("tabled"))
    response = await admin.get(COLLECTION, headers={
        "accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    table = response.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Type", "Content", "Sync schedule", "Deployment", "Ready", "Address", "Branch", "Age"]
    row = table["rows"][0]
    assert row["cells"][:3] == ["tabled", "git", "Package"]
    assert row["object"]["kind"] == "PartialObjectMetadata"


async def test_dry_run_changes_nothing(admin: httpx.AsyncClient) -> None:
    response = await admin.post(COLLECTION, json=repository("dry"), params={"dryRun": "All"})
    assert response.status_code == 201
    assert response.json()["metadata"]["name"] == "dry"
    assert (await admin.get(f"{COLLECTION}/dry")).status_code == 404
