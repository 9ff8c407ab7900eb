"""Fixtures of the runner tests: real podman, a real registry, the apiserver double.

Function images are built once per session (tests/parts/fn_images.py) and pushed to
a registry with basic auth on 127.0.0.1 (tests/parts/registry.py). Every podman
runner of a test uses a container name prefix unique to that test, and the test
fails if any container with that prefix is left afterwards.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from porch_embedded.kpt import FunctionOutput
from porch_embedded.runners import FunctionCall, FunctionRunner, JobSettings, PodmanSettings
from porch_embedded.runners._exec import ExecRunner
from porch_embedded.runners._kubernetes import KubernetesJobRunner
from porch_embedded.runners._podman import PodmanRunner
from tests.parts.fn_images import SCRIPTS, FnImages, containers_conf, fn_images, podman_env
from tests.parts.kube_double import KubeDoubleHandle, kube_double
from tests.parts.registry import Registry, oci_registry

__all__ = ["containers_conf", "fn_images", "kube_double", "oci_registry"]

RESOURCE_LIST = b"""apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: a
  data:
    k: v # a comment
"""


def containers_named(prefix: str, conf: Path) -> list[str]:
    """Names of all containers (any state) whose name starts with ``prefix``."""
    listed = subprocess.run(
        ["podman", "ps", "--all", "--format", "{{.Names}}"],
        check=True, capture_output=True, text=True, env=podman_env(conf),
    ).stdout.split()
    return [name for name in listed if name.startswith(prefix)]


@pytest.fixture
def podman_settings(containers_conf: Path, oci_registry: Registry) -> Iterator[PodmanSettings]:
    """Podman settings for one test; asserts afterwards that it left no container."""
    prefix = f"porch-fn-test-{secrets.token_hex(4)}"
    settings = PodmanSettings(
        containers_conf=containers_conf, auth_file=oci_registry.auth_file, memory="64m",
        pids_limit=64, name_prefix=prefix,
    )
    yield settings
    assert containers_named(prefix, containers_conf) == []


RunnerFactory = Callable[..., FunctionRunner]


@pytest.fixture(params=["podman", "exec", "kubernetes"])
def contract(
    request: pytest.FixtureRequest, fn_images: FnImages, podman_settings: PodmanSettings,
) -> tuple[str, Callable[[str], str], RunnerFactory]:
    """(kind, image of a test function by name, factory of a runner with given limits)."""
    kind = str(request.param)
    if kind == "podman":
        def make(**limits: object) -> FunctionRunner:
            return PodmanRunner(replace(podman_settings, pull_policy="never"), **limits)  # type: ignore[arg-type]
        return kind, fn_images.local.__getitem__, make
    if kind == "exec":
        scripts = _host_scripts(fn_images)
        allow = {f"example.com/exec/{name}:v1": str(path) for name, path in scripts.items()}

        def make_exec(**limits: object) -> FunctionRunner:
            return ExecRunner(allow, **limits)  # type: ignore[arg-type]
        return kind, lambda name: f"example.com/exec/{name}:v1", make_exec
    handle: KubeDoubleHandle = request.getfixturevalue("kube_double")

    def make_job(**limits: object) -> FunctionRunner:
        return KubernetesJobRunner(job_settings(handle, fn_images), grace_s=2.0, **limits)  # type: ignore[arg-type]
    return kind, fn_images.local.__getitem__, make_job


def job_settings(handle: KubeDoubleHandle, images: FnImages) -> JobSettings:
    return JobSettings(
        kubeconfig=handle.kubeconfig, namespace=handle.namespace, service_account="porch-fn",
        wrapper_image=images.local["identity"], default_entrypoint=("/bin/fn",),
        image_pull_policy="Never", poll_interval_s=0.1,
    )


def _host_scripts(images: FnImages) -> dict[str, Path]:
    directory = images.scripts_dir / "host"
    if not directory.exists():
        directory.mkdir()
        for name, script in SCRIPTS.items():
            path = directory / name
            path.write_text("#!/bin/sh\n" + script)
            path.chmod(0o755)
    return {name: directory / name for name in SCRIPTS}


Run = Callable[[FunctionRunner, str, bytes], Awaitable[FunctionOutput]]


async def run_image(runner: FunctionRunner, image: str, resource_list: bytes = RESOURCE_LIST,
                    **call: object) -> FunctionOutput:
    return await runner.run(FunctionCall(image=image, **call), resource_list)  # type: ignore[arg-type]
