"""Helpers of the PackageVariantSet tests: an upstream blueprint, downstream repositories, waiting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from tests.controllers.variants import eventually
from tests.engine.conftest import Porch
from tests.parts.git_server import package_files

__all__ = ["OWNER_LABEL", "SETS", "UPSTREAM", "VARIANTS", "VariantSets", "condition"]

SETS = "/apis/config.porch.kpt.dev/v1alpha2/namespaces/default/packagevariantsets"
VARIANTS = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/packagevariants"
OWNER_LABEL = "config.porch.kpt.dev/packagevariantset"
UPSTREAM = {"repo": "blueprints", "package": "basens", "revision": 1}
"""The blueprint every test publishes (VariantSets.blueprint)."""


class VariantSets:
    """Drives one server's PackageVariantSets over HTTP."""

    def __init__(self, porch: Porch) -> None:
        self.porch = porch
        self.http = porch.http

    async def blueprint(self, package: str = "basens") -> None:
        """A ``blueprints`` repository whose ``package`` is published as v1."""
        self.porch.git.create_repo("blueprints").commit(package_files(package), tags=[f"{package}/v1"])
        await self.porch.register("blueprints")

    async def downstream(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        """A registered (empty) downstream repository with ``labels``."""
        self.porch.git.create_repo(name).commit({"README.md": name})
        await self.porch.register(name, wait=False)
        return await self.label_repository(name, labels or {})

    async def label_repository(self, name: str, labels: dict[str, str | None]) -> dict[str, Any]:
        return await self.porch.ok(await self.http.patch(
            self.porch.repositories_url(name), json={"metadata": {"labels": labels}},
            headers={"content-type": "application/merge-patch+json"}))

    async def create(self, name: str, spec: dict[str, Any], code: int = 201) -> dict[str, Any]:
        body = {"apiVersion": "config.porch.kpt.dev/v1alpha2", "kind": "PackageVariantSet",
                "metadata": {"name": name}, "spec": spec}
        response = await self.http.post(SETS, json=body)
        assert response.status_code == code, response.text
        return dict(response.json())

    async def get(self, name: str) -> dict[str, Any]:
        return await self.porch.ok(await self.http.get(f"{SETS}/{name}"))

    async def patch_spec(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return await self.porch.ok(await self.http.patch(
            f"{SETS}/{name}", json={"spec": spec}, headers={"content-type": "application/merge-patch+json"}))

    async def variants(self, set_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The set's PackageVariants by name (found by the owner label, as the controller finds them)."""
        uid = set_body["metadata"]["uid"]
        body = await self.porch.ok(await self.http.get(VARIANTS, params={"labelSelector": f"{OWNER_LABEL}={uid}"}))
        return {item["metadata"]["name"]: item for item in body["items"]}

    async def live_variants(self, set_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Those not marked for deletion."""
        return {name: v for name, v in (await self.variants(set_body)).items()
                if not v["metadata"].get("deletionTimestamp")}

    async def wait_condition(self, name: str, kind: str, status: str, reason: str = "") -> dict[str, Any]:
        """The set once its ``kind`` condition has ``status`` (and ``reason``) for its current generation."""
        with trio.fail_after(30):
            while True:
                body = await self.get(name)
                generation = body["metadata"].get("generation")
                for condition in (body.get("status") or {}).get("conditions") or []:
                    if condition["type"] == kind and condition["status"] == status \
                            and condition.get("observedGeneration") == generation \
                            and (not reason or condition["reason"] == reason):
                        return body
                await trio.sleep(0.05)

    async def wait_ready(self, name: str) -> dict[str, Any]:
        return await self.wait_condition(name, "Ready", "True", "Reconciled")

    async def wait_stalled(self, name: str, reason: str) -> dict[str, Any]:
        return await self.wait_condition(name, "Stalled", "True", reason)

    @staticmethod
    async def until(check: Callable[[], Awaitable[Any]]) -> Any:
        """Poll ``check`` until it returns something truthy."""
        return await eventually(check)


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == kind)
