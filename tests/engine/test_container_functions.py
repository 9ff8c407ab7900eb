"""Kptfile pipelines whose functions are container images: pulled from a real registry, run by podman.

The server is configured as a user would start it (--function-runner podman,
--containers-conf, --registry-auth-file); the images are built locally and pushed to
a registry with basic auth that the test starts (tests/parts/).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.engine.conftest import Porch
from tests.parts.fn_images import FnImages, containers_conf, fn_images
from tests.parts.git_server import GitServer
from tests.parts.registry import Registry, oci_registry
from tests.parts.server import start_server

__all__ = ["containers_conf", "fn_images", "oci_registry"]

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  k: v\n"


def kptfile(image: str) -> str:
    return ("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n  annotations:\n"
            "    config.kubernetes.io/local-config: \"true\"\npipeline:\n  mutators:\n"
            f"    - image: {image}\n")


@pytest.fixture
async def porch_with_podman(tmp_path: Path, git_server: GitServer, containers_conf: Path,
                            oci_registry: Registry, new_store_url: Callable[[], str]) -> AsyncIterator[Porch]:
    async with start_server(tmp_path / "data", store_url=new_store_url(), function_runner="podman", containers_conf=containers_conf,
                            registry_auth_file=oci_registry.auth_file, function_timeout_s=8,
                            sync_interval_s=3600) as server:
        async with server.client() as http:
            yield Porch(server, http, git_server)


async def test_a_container_function_from_a_private_registry_renders_the_package(
        porch_with_podman: Porch, fn_images: FnImages) -> None:
    porch = porch_with_podman
    porch.git.create_repo("fns").commit({"README.md": "x\n"})
    await porch.register("fns")
    await porch.init("fns", "app", "ws")
    image = fn_images.remote["add-label"]
    updated = await porch.push_files("fns.app.ws", {"Kptfile": kptfile(image), "cm.yaml": CONFIGMAP})
    assert "fn: sed" in updated["spec"]["resources"]["cm.yaml"]
    item = updated["status"]["renderStatus"]["result"]["items"][0]
    assert item["image"] == image and item["exitCode"] == 0


async def test_a_failing_container_function_is_reported_and_saves_nothing(
        porch_with_podman: Porch, fn_images: FnImages) -> None:
    porch = porch_with_podman
    porch.git.create_repo("fails").commit({"README.md": "x\n"})
    await porch.register("fails")
    await porch.init("fails", "app", "ws")
    failed = await porch.push_files("fails.app.ws", {"Kptfile": kptfile(fn_images.remote["fail"]),
                                                     "cm.yaml": CONFIGMAP}, code=422)
    assert "Package NOT pushed to remote" in failed["message"]
    assert "the functionConfig has no data.thing" in failed["message"]
    stored = await porch.resources("fails.app.ws")
    assert "cm.yaml" not in stored["spec"]["resources"]
    item = stored["status"]["renderStatus"]["result"]["items"][0]
    assert item["exitCode"] == 1 and "no data.thing" in item["stderr"]


async def test_a_function_that_hangs_is_stopped_by_its_deadline(porch_with_podman: Porch, fn_images: FnImages) -> None:
    porch = porch_with_podman
    porch.git.create_repo("hangs").commit({"README.md": "x\n"})
    await porch.register("hangs")
    await porch.init("hangs", "app", "ws")
    failed = await porch.push_files("hangs.app.ws", {"Kptfile": kptfile(fn_images.remote["sleep"]),
                                                     "cm.yaml": CONFIGMAP}, code=422)
    assert "Package NOT pushed to remote" in failed["message"]
    item = (await porch.resources("hangs.app.ws"))["status"]["renderStatus"]["result"]["items"][0]
    assert item["exitCode"] == 124
