"""deletecollection with a label selector: only the matching objects go, each with a DELETED event."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio
from kubernetes import client, config

from tests.parts.server import RunningServer, in_thread

GROUP, VERSION = "config.porch.kpt.dev", "v1alpha1"
COLLECTION = f"/apis/{GROUP}/{VERSION}/namespaces/default/repositories"


def repository(name: str, team: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Repository",
            "metadata": {"name": name, "labels": {"team": team}},
            "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/{name}.git"}}}


async def watch_events(http: httpx.AsyncClient, since: str, until: list[int],
                       events: list[tuple[str, str]], task_status: trio.TaskStatus[None]) -> None:
    """Collect (type, name) of every event after ``since`` up to a bookmark at or past ``until[0]``.

    A bookmark carries the resourceVersion the watch has reached, so every event up to
    the deletecollection's answer has been delivered when one at or past it arrives.
    """
    params = {"watch": "true", "resourceVersion": since, "allowWatchBookmarks": "true", "timeoutSeconds": "30"}
    async with http.stream("GET", COLLECTION, params=params) as response:
        assert response.status_code == 200
        task_status.started()
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            if event["type"] == "BOOKMARK":
                if until and int(event["object"]["metadata"]["resourceVersion"]) >= until[0]:
                    return
                continue
            events.append((event["type"], event["object"]["metadata"]["name"]))


async def test_delete_collection_removes_only_the_selected_objects(server: RunningServer) -> None:
    async with server.client() as http:
        for name, team in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b")):
            assert (await http.post(COLLECTION, json=repository(name, team))).status_code == 201
        since = (await http.get(COLLECTION)).json()["metadata"]["resourceVersion"]

        deleted_at: list[int] = []
        events: list[tuple[str, str]] = []
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(watch_events, http, since, deleted_at, events)

                def delete_team_a() -> Any:
                    with config.new_client_from_config(config_file=str(server.kubeconfig)) as api:
                        return client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
                            GROUP, VERSION, "default", "repositories", label_selector="team=a")

                answer = await in_thread(delete_team_a)
                deleted_at.append(int(answer["metadata"]["resourceVersion"]))

        assert answer["kind"] == "RepositoryList"
        assert sorted(item["metadata"]["name"] for item in answer["items"]) == ["a1", "a2", "a3"]
        remaining = (await http.get(COLLECTION)).json()["items"]
        assert sorted(item["metadata"]["name"] for item in remaining) == ["b1", "b2"]
        assert sorted(events) == [("DELETED", "a1"), ("DELETED", "a2"), ("DELETED", "a3")]


async def test_delete_collection_with_a_selector_matching_nothing_deletes_nothing(server: RunningServer) -> None:
    async with server.client() as http:
        assert (await http.post(COLLECTION, json=repository("kept", "a"))).status_code == 201
        answer = await http.delete(COLLECTION, params={"labelSelector": "team=nobody"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == []
        assert [item["metadata"]["name"] for item in (await http.get(COLLECTION)).json()["items"]] == ["kept"]
