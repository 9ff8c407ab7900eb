"""The official Kubernetes Python client against the server: typed, custom-objects, dynamic, watch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

from tests.parts.server import RunningServer, in_thread

GROUP, VERSION = "config.porch.kpt.dev", "v1alpha1"


def api_client(server: RunningServer) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(server.kubeconfig))


def repository(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Repository",
        "metadata": {"name": name, "labels": {"tier": "blueprints"}},
        "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/{name}.git"}, **spec},
    }


@pytest.fixture
def custom(server: RunningServer) -> Iterator[client.CustomObjectsApi]:
    with api_client(server) as api:
        yield client.CustomObjectsApi(api)


async def test_custom_objects_crud(custom: client.CustomObjectsApi) -> None:
    created = await in_thread(custom.create_namespaced_custom_object, GROUP, VERSION, "default", "repositories",
                              repository("catalog"))
    assert created["spec"]["git"]["branch"] == "main"
    fetched = await in_thread(custom.get_namespaced_custom_object, GROUP, VERSION, "default", "repositories",
                              "catalog")
    assert fetched["metadata"]["uid"] == created["metadata"]["uid"]
    fetched["spec"]["description"] = "updated"
    replaced = await in_thread(custom.replace_namespaced_custom_object, GROUP, VERSION, "default",
                               "repositories", "catalog", fetched)
    assert int(replaced["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    patched = await in_thread(custom.patch_namespaced_custom_object, GROUP, VERSION, "default", "repositories",
                              "catalog", {"spec": {"deployment": True}})
    assert patched["spec"]["deployment"] is True and patched["spec"]["description"] == "updated"
    listed = await in_thread(lambda: custom.list_namespaced_custom_object(
        GROUP, VERSION, "default", "repositories", label_selector="tier=blueprints"))
    assert [item["metadata"]["name"] for item in listed["items"]] == ["catalog"]
    await in_thread(custom.delete_namespaced_custom_object, GROUP, VERSION, "default", "repositories", "catalog")
    with pytest.raises(ApiException) as missing:
        await in_thread(custom.get_namespaced_custom_object, GROUP, VERSION, "default", "repositories", "catalog")
    assert missing.value.status == 404


async def test_replace_with_a_stale_resource_version_is_conflict(custom: client.CustomObjectsApi) -> None:
    created = await in_thread(custom.create_namespaced_custom_object, GROUP, VERSION, "default", "repositories",
                              repository("stale"))
    created["spec"]["description"] = "first"
    await in_thread(custom.replace_namespaced_custom_object, GROUP, VERSION, "default", "repositories", "stale",
                    created)
    created["spec"]["description"] = "second, from an old read"
    with pytest.raises(ApiException) as conflict:
        await in_thread(custom.replace_namespaced_custom_object, GROUP, VERSION, "default", "repositories",
                        "stale", created)
    assert conflict.value.status == 409
    assert "the object has been modified" in conflict.value.body


async def test_dynamic_client_discovers_and_lists(server: RunningServer) -> None:
    def run() -> list[str]:
        with api_client(server) as api:
            dyn = dynamic.DynamicClient(api)
            repositories = dyn.resources.get(api_version=f"{GROUP}/{VERSION}", kind="Repository")
            repositories.create(body=repository("dynamic"), namespace="default")
            revisions = dyn.resources.get(api_version="porch.kpt.dev/v1alpha1", kind="PackageRevision")
            assert revisions.namespaced
            assert revisions.get(namespace="default").items == []
            return [item.metadata.name for item in repositories.get(namespace="default").items]

    assert await in_thread(run) == ["dynamic"]


async def test_core_secrets_through_the_typed_client(server: RunningServer) -> None:
    def run() -> dict[str, str]:
        with api_client(server) as api:
            core = client.CoreV1Api(api)
            core.create_namespaced_secret("default", client.V1Secret(
                metadata=client.V1ObjectMeta(name="repo-auth"), type="kubernetes.io/basic-auth",
                string_data={"username": "git", "password": "hunter2"}))
            secret = core.read_namespaced_secret("repo-auth", "default")
            core.delete_namespaced_secret("repo-auth", "default")
            return dict(secret.data)

    assert await in_thread(run) == {"username": "Z2l0", "password": "aHVudGVyMg=="}


async def test_watch_stream_sees_added_modified_deleted(server: RunningServer,
                                                        custom: client.CustomObjectsApi) -> None:
    initial = await in_thread(custom.list_namespaced_custom_object, GROUP, VERSION, "default", "repositories")
    events: list[tuple[str, str]] = []
    opened = threading.Event()

    def follow() -> None:
        stream = watch.Watch()
        opened.set()
        for event in stream.stream(custom.list_namespaced_custom_object, GROUP, VERSION, "default",
                                   "repositories", resource_version=initial["metadata"]["resourceVersion"],
                                   timeout_seconds=20):
            events.append((event["type"], event["object"]["metadata"]["name"]))
            if event["type"] == "DELETED":
                stream.stop()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(in_thread, follow)
        await in_thread(opened.wait)
        await in_thread(custom.create_namespaced_custom_object, GROUP, VERSION, "default", "repositories",
                        repository("watched"))
        await in_thread(custom.patch_namespaced_custom_object, GROUP, VERSION, "default", "repositories",
                        "watched", {"spec": {"description": "changed"}})
        await in_thread(custom.delete_namespaced_custom_object, GROUP, VERSION, "default", "repositories",
                        "watched")
    assert events == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]
