"""Config injection by a PackageVariant (Porch's injection_test.go cases, through the API)."""

from __future__ import annotations

from tests.controllers.variants import (
    CONFIG_MAPS,
    blueprint_and_deploy,
    condition,
    create_variant,
    eventually,
    files_of,
    load,
    package_revisions,
    patch_variant,
    settled,
)
from tests.engine.conftest import Porch
from tests.parts.git_server import kptfile


def _point(name: str, mode: str, data: str = "region: unset") -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n"
            f"    kpt.dev/config-injection: {mode}\ndata:\n  {data}\n")


def _repository_point() -> str:
    return ("apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: target\n"
            "  annotations:\n    kpt.dev/config-injection: optional\n  labels:\n    kept: \"yes\"\n"
            "spec:\n  type: git\n")


async def test_injectors_fill_the_marked_resources_and_report_each_point(porch: Porch) -> None:
    await blueprint_and_deploy(porch, upstream_files={
        "basens/Kptfile": kptfile("basens"),
        "basens/region.yaml": _point("region", "required"),
        "basens/extra.yaml": _point("extra", "optional"),
        "basens/repo.yaml": _repository_point()})
    east = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "east"}, "data": {"region": "us-east"}}
    await porch.ok(await porch.http.post(CONFIG_MAPS.format(ns="default"), json=east), 201)
    await create_variant(porch, "site-i", injectors=[{"kind": "ConfigMap", "name": "east"},
                                                     {"group": "config.porch.kpt.dev", "name": "blueprints"}])
    await settled(porch, "site-i")
    [draft] = await package_revisions(porch, "deploy", "site-i")
    files = await files_of(porch, draft["metadata"]["name"])
    region = load(files["region.yaml"])
    assert region["data"] == {"region": "us-east"}
    assert region["metadata"]["annotations"]["kpt.dev/injected-resource"] == "east"
    extra = load(files["extra.yaml"])  # every point of the kind takes the first injector that matches
    assert extra["data"] == {"region": "us-east"}
    repository = load(files["repo.yaml"])
    assert repository["spec"]["git"]["repo"] == porch.git.url("blueprints")  # a spec injected whole
    assert repository["metadata"]["labels"] == {"kept": "yes"}
    kpt = load(files["Kptfile"])
    assert kpt["info"]["readinessGates"] == [{"conditionType": "config.injection.ConfigMap.region"}]
    conditions = {c["type"]: c for c in kpt["status"]["conditions"]}
    assert conditions["config.injection.ConfigMap.region"] == {
        "type": "config.injection.ConfigMap.region", "status": "True", "reason": "ConfigInjected",
        "message": 'injected resource "east" from cluster'}
    assert conditions["config.injection.ConfigMap.extra"]["reason"] == "ConfigInjected"
    assert conditions["config.injection.Repository.target"]["reason"] == "ConfigInjected"

    # Rendered again (its conditions in another order), the injected draft is still what the variant wants.
    await patch_variant(porch, "site-i", {"deletionPolicy": "orphan"})
    await settled(porch, "site-i")
    [same] = await package_revisions(porch, "deploy", "site-i")
    assert same["metadata"]["resourceVersion"] == draft["metadata"]["resourceVersion"]

    # The injected ConfigMap changes: the draft follows.
    east["data"] = {"region": "us-east-2"}
    current = await porch.ok(await porch.http.get(CONFIG_MAPS.format(ns="default") + "/east"))
    current["data"] = east["data"]
    await porch.ok(await porch.http.put(CONFIG_MAPS.format(ns="default") + "/east", json=current))

    async def followed() -> bool:
        text = (await files_of(porch, draft["metadata"]["name"]))["region.yaml"]
        return load(text)["data"] == {"region": "us-east-2"}
    await eventually(followed)
    assert len(await package_revisions(porch, "deploy", "site-i")) == 1


async def test_points_without_injectors_or_objects_say_why(porch: Porch) -> None:
    await blueprint_and_deploy(porch, upstream_files={
        "basens/Kptfile": kptfile("basens"), "basens/region.yaml": _point("region", "optional"),
        "basens/custom.yaml": ("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  annotations:\n"
                               "    kpt.dev/config-injection: optional\nspec:\n  size: 1\n")})
    await create_variant(porch, "bare")
    await settled(porch, "bare")
    [draft] = await package_revisions(porch, "deploy", "bare")
    kpt = load((await files_of(porch, draft["metadata"]["name"]))["Kptfile"])
    messages = {c["type"]: c.get("message") for c in kpt["status"]["conditions"]}
    assert messages["config.injection.ConfigMap.region"] == "no injectors defined"
    assert "readinessGates" not in kpt.get("info", {})

    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}, "data": {"region": "x"}}
    await porch.ok(await porch.http.post(CONFIG_MAPS.format(ns="default"), json=other), 201)
    await create_variant(porch, "widgets", injectors=[{"name": "w"}])
    await settled(porch, "widgets")
    [draft] = await package_revisions(porch, "deploy", "widgets")
    kpt = load((await files_of(porch, draft["metadata"]["name"]))["Kptfile"])
    messages = {c["type"]: c.get("message") for c in kpt["status"]["conditions"]}
    assert messages["config.injection.Widget.w"] == "no in-cluster resources of type example.com/v1.Widget"
    assert messages["config.injection.ConfigMap.region"] == \
        "no resource matched any injection selector for this injection point"
    assert {c["reason"] for c in kpt["status"]["conditions"] if c["type"].startswith("config.")} == \
        {"NoResourceSelected"}


async def test_a_misannotated_point_fails_the_variant_with_porchs_message(porch: Porch) -> None:
    await blueprint_and_deploy(porch, upstream_files={
        "basens/Kptfile": kptfile("basens"), "basens/region.yaml": _point("region", "maybe")})
    await create_variant(porch, "odd", injectors=[{"name": "east"}])
    failed = await settled(porch, "odd", ready="False")
    assert condition(failed, "Ready")["reason"] == "Error"
    assert condition(failed, "Ready")["message"] == (
        'errors in injection points: region.yaml: ConfigMap/region has invalid "kpt.dev/config-injection" '
        'annotation value of "maybe"')
    assert condition(failed, "Stalled")["status"] == "False"
