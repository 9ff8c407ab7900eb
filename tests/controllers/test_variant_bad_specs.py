"""Bad PackageVariants: 422 at admission for what Porch's checks find, Stalled for what shows later."""

from __future__ import annotations

from typing import Any

import pytest

from tests.controllers.variants import (
    blueprint_and_deploy,
    condition,
    create_variant,
    package_revisions,
    settled,
    variant_body,
    variants_url,
)
from tests.engine.conftest import Porch
from tests.parts.git_server import package_files


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(("body", "field", "message"), [
    (_without(variant_body("v"), "spec", "upstream"), "spec.upstream", "missing required field spec.upstream"),
    (_without(variant_body("v"), "spec", "downstream"), "spec.downstream", "missing required field spec.downstream"),
    (_without(variant_body("v"), "spec", "upstream", "package"), "spec.upstream.package",
     "missing required field spec.upstream.package"),
    (_without(variant_body("v"), "spec", "downstream", "repo"), "spec.downstream.repo",
     "missing required field spec.downstream.repo"),
    (variant_body("v", packageContext={"data": {"name": "x"}}), "spec.packageContext.data",
     "Invalid value: spec.packageContext.data: must not contain the key 'name'; the server sets it"),
    (variant_body("v", packageContext={"removeKeys": ["package-path"]}), "spec.packageContext.removeKeys",
     "Invalid value: spec.packageContext.removeKeys: must not contain the key 'package-path'; the server sets it"),
    (variant_body("v", injectors=[{"kind": "ConfigMap"}]), "spec.injectors[0].name",
     "spec.injectors[0].name must not be empty"),
])
async def test_what_porchs_checks_find_is_refused_at_admission(porch: Porch, body: dict[str, Any], field: str,
                                                              message: str) -> None:
    response = await porch.http.post(variants_url(porch), json=body)
    assert response.status_code == 422, response.text
    status = response.json()
    assert {"field": field, "message": message} in [
        {"field": c["field"], "message": c["message"]} for c in status["details"]["causes"]]
    assert message in status["message"]
    assert (await porch.http.get(variants_url(porch, "v"))).status_code == 404


async def test_policies_outside_porchs_values_are_refused(porch: Porch) -> None:
    response = await porch.http.post(variants_url(porch), json=variant_body("v", adoptionPolicy="adoptAll"))
    assert response.status_code == 422 and "adoptionPolicy" in response.text
    await create_variant(porch, "w")
    response = await porch.http.patch(variants_url(porch, "w"), json={"spec": {"deletionPolicy": "shred"}},
                                      headers={"content-type": "application/merge-patch+json"})
    assert response.status_code == 422 and "deletionPolicy" in response.text


async def test_a_missing_upstream_stalls_the_variant_until_it_appears(porch: Porch) -> None:
    blueprints = await blueprint_and_deploy(porch)
    await create_variant(porch, "early", upstream={"repo": "blueprints", "package": "later"})
    await create_variant(porch, "fine")
    stalled = await settled(porch, "early", ready="False")
    assert condition(stalled, "Stalled") | {"lastTransitionTime": ""} == {
        "type": "Stalled", "status": "True", "reason": "ValidationError", "lastTransitionTime": "",
        "observedGeneration": 1,
        "message": 'could not find upstream package revision: repo "blueprints", package "later", a published '
                   "revision; check spec.upstream, or publish the upstream package"}
    assert condition(stalled, "Ready")["message"] == "invalid packagevariant object"
    await settled(porch, "fine")  # a broken variant never stops the others
    assert len(await package_revisions(porch, "deploy", "fine")) == 1
    assert await package_revisions(porch, "deploy", "early") == []

    blueprints.commit(package_files("later"), tags=["later/v1"])  # the package arrives upstream
    await porch.sync_now("blueprints")
    done = await settled(porch, "early")
    assert condition(done, "Stalled")["status"] == "False"
    assert len(await package_revisions(porch, "deploy", "early")) == 1


async def test_an_unknown_workspace_stalls_with_its_name(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    await create_variant(porch, "ws", upstream={"repo": "blueprints", "package": "basens", "workspaceName": "nope"})
    stalled = await settled(porch, "ws", ready="False")
    assert condition(stalled, "Stalled")["message"].startswith(
        'could not find upstream package revision: repo "blueprints", package "basens", workspaceName "nope"')


async def test_a_downstream_repository_registered_later_is_picked_up(porch: Porch) -> None:
    await blueprint_and_deploy(porch)
    await create_variant(porch, "later", downstream={"repo": "edge", "package": "later"})
    failed = await settled(porch, "later", ready="False")
    assert condition(failed, "Stalled")["status"] == "False"
    assert "edge" in condition(failed, "Ready")["message"]
    porch.git.create_repo("edge").commit({"README.md": "edge\n"})
    await porch.register("edge", deployment=True)
    await settled(porch, "later")
    assert len(await package_revisions(porch, "edge", "later")) == 1
