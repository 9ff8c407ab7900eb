"""What injectors read: ConfigMaps served in standalone mode, and the InjectionSource seam."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from porch_embedded.controllers import InjectionSource, StoreInjectionSource
from porch_embedded.engine import ObjectService
from porch_embedded.kinds import CONFIG_MAP, NAMESPACE, REPOSITORY
from porch_embedded.store import Store, open_store
from tests.controllers.variants import CONFIG_MAPS
from tests.engine.conftest import Porch


@pytest.fixture
async def objects(tmp_path: Path) -> AsyncIterator[tuple[Store, ObjectService]]:
    async with open_store(f"sqlite:///{tmp_path / 'store.db'}", encryption_key=Fernet.generate_key()) as store:
        service = ObjectService(store)
        for namespace in ("default", "other"):
            await service.create(NAMESPACE, {"metadata": {"name": namespace}})
        yield store, service


SOURCES: list[Callable[[Store], InjectionSource]] = [StoreInjectionSource]


@pytest.mark.parametrize("make_source", SOURCES)
async def test_a_source_lists_the_objects_of_one_kind_in_one_namespace(
        objects: tuple[Store, ObjectService], make_source: Callable[[Store], InjectionSource]) -> None:
    store, service = objects
    for namespace, name in (("default", "a"), ("default", "b"), ("other", "c")):
        await service.create(CONFIG_MAP, {"metadata": {"name": name, "namespace": namespace}, "data": {"k": name}})
    await service.create(REPOSITORY, {"metadata": {"name": "r", "namespace": "default"},
                                      "spec": {"type": "git", "git": {"repo": "https://example.com/r.git"}}})
    source = make_source(store)
    listed = await source.objects("default", "v1", "ConfigMap")
    assert sorted((o["metadata"]["name"], o["data"]["k"]) for o in listed) == [("a", "a"), ("b", "b")]
    assert [o["metadata"]["name"] for o in await source.objects("default", "config.porch.kpt.dev/v1alpha1",
                                                                "Repository")] == ["r"]
    assert await source.objects("default", "v2", "ConfigMap") == []  # a version not served
    assert await source.objects("default", "example.com/v1", "Widget") == []
    assert await source.objects("default", "v1", "Namespace") == []  # not namespaced: never injected


async def test_config_maps_are_served_and_checked(porch: Porch) -> None:
    url = CONFIG_MAPS.format(ns="default")
    created = await porch.ok(await porch.http.post(url, json={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "east"}, "data": {"region": "us-east"},
        "binaryData": {"blob": base64.b64encode(b"\x00\x01").decode()}, "immutable": True}), 201)
    assert created["data"] == {"region": "us-east"}
    listed = await porch.ok(await porch.http.get(url))
    assert [item["metadata"]["name"] for item in listed["items"]] == ["east"]

    created["data"] = {"region": "us-west"}
    refused = await porch.http.put(f"{url}/east", json=created)
    assert refused.status_code == 422, refused.text
    assert "field is immutable when `immutable` is set" in refused.json()["message"]

    bad = await porch.http.post(url, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"},
                                           "data": {"k": "text"}, "binaryData": {"k": "%%%"}})
    assert bad.status_code == 422, bad.text
    causes = {c["field"]: c["message"] for c in bad.json()["details"]["causes"]}
    assert causes == {"data[k]": "Invalid value: 'k': duplicate of key present in binaryData",
                      "binaryData[k]": "Invalid value: 'k': illegal base64 data in binaryData; put text in data"}
