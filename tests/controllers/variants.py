"""Helpers for the PackageVariant tests: apply a variant, wait for what the controller does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import trio
import yaml

from tests.engine.conftest import Porch
from tests.parts.git_server import Seeder, package_files

T = TypeVar("T")

VARIANTS = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/{ns}/packagevariants"
CONFIG_MAPS = "/api/v1/namespaces/{ns}/configmaps"
SETTLE_S = 30
"""A bound on waiting for the controller (a hung test fails instead of hanging), not a timing claim."""


def variants_url(porch: Porch, name: str = "", sub: str = "") -> str:
    return VARIANTS.format(ns=porch.namespace) + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def variant_body(name: str, *, upstream: dict[str, Any] | None = None, downstream: dict[str, Any] | None = None,
                 **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "PackageVariant", "metadata": {"name": name},
            "spec": {"upstream": upstream or {"repo": "blueprints", "package": "basens"},
                     "downstream": downstream or {"repo": "deploy", "package": name}, **spec}}


async def create_variant(porch: Porch, name: str, **spec: Any) -> dict[str, Any]:
    return await porch.ok(await porch.http.post(variants_url(porch), json=variant_body(name, **spec)), 201)


async def get_variant(porch: Porch, name: str) -> dict[str, Any]:
    return await porch.ok(await porch.http.get(variants_url(porch, name)))


async def eventually(probe: Callable[[], Awaitable[T | None]]) -> T:
    """The first truthy answer of ``probe``, asked until it gives one."""
    with trio.fail_after(SETTLE_S):
        while True:
            answer = await probe()
            if answer:
                return answer
            await trio.sleep(0.05)


def condition(variant: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (variant.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


async def settled(porch: Porch, name: str, *, ready: str = "True") -> dict[str, Any]:
    """The variant once its conditions speak of its current spec and Ready is ``ready``."""
    async def probe() -> dict[str, Any] | None:
        variant = await get_variant(porch, name)
        generation = variant["metadata"].get("generation", 1)
        ready_condition = condition(variant, "Ready")
        if ready_condition.get("observedGeneration") == generation and ready_condition.get("status") == ready:
            return variant
        return None
    return await eventually(probe)


async def package_revisions(porch: Porch, repository: str, package: str) -> list[dict[str, Any]]:
    """The package's revisions (the branch placeholder left out), by name."""
    items = await porch.list_revisions()
    found = [r for r in items if r["spec"]["repository"] == repository and r["spec"]["packageName"] == package
             and r["spec"].get("revision", 0) >= 0]
    return sorted(found, key=lambda r: r["metadata"]["name"])


async def files_of(porch: Porch, name: str) -> dict[str, str]:
    return dict((await porch.resources(name))["spec"]["resources"])


def load(text: str) -> Any:
    return yaml.safe_load(text)


async def blueprint_and_deploy(porch: Porch, *, upstream_files: dict[str, str] | None = None) -> Seeder:
    """A published upstream blueprints/basens v1 and an empty deployment repository ``deploy``.

    Returns the seeder of ``blueprints``, to push more upstream history with.
    """
    blueprints = porch.git.create_repo("blueprints")
    blueprints.commit(upstream_files or package_files("basens"), tags=["basens/v1"])
    porch.git.create_repo("deploy").commit({"README.md": "deployments\n"})
    await porch.register("blueprints")
    await porch.register("deploy", deployment=True)
    return blueprints


async def patch_variant(porch: Porch, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Merge ``spec`` into the variant's spec, again when the controller wrote the variant in between.

    The server's PATCH answers 409 when the object changed between its read and its write
    (a kube-apiserver would patch again itself); a client retries, as here.
    """
    async def attempt() -> httpx.Response | None:
        response = await porch.http.patch(variants_url(porch, name), json={"spec": spec},
                                          headers={"content-type": "application/merge-patch+json"})
        return None if response.status_code == 409 else response
    return await porch.ok(await eventually(attempt))
