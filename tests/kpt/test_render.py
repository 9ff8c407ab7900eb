"""The renderer: scoping, selectors, validators, failures, comments (kpt.md §3.5-3.7)."""

from __future__ import annotations

from typing import Any

import pytest

from porch_embedded.errors import BadRequest, Invalid
from porch_embedded.kpt import (
    FunctionOutput,
    PipelineFunction,
    build_resource_list,
    dump_yaml,
    parse_kptfile,
    parse_yaml,
    render,
)


def kptfile(name: str, mutators: str = "", validators: str = "") -> str:
    text = f"apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {name}\n"
    if mutators or validators:
        text += "pipeline:\n"
    if mutators:
        text += "  mutators:\n" + mutators
    if validators:
        text += "  validators:\n" + validators
    return text


def cm(name: str, comment: str = "") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{comment}\ndata:\n  k: v\n"


class Recorder:
    """An evaluator that records what each function saw and applies a Python edit."""

    def __init__(self, edits: dict[str, Any] | None = None) -> None:
        self.seen: list[tuple[str, list[str]]] = []
        self.edits = edits or {}

    async def __call__(self, function: PipelineFunction, resource_list: bytes) -> FunctionOutput:
        data = parse_yaml(resource_list)
        names = [str(i["metadata"]["name"]) for i in data["items"]]
        self.seen.append((function.image, names))
        edit = self.edits.get(function.image.split(":")[0])
        if edit is not None:
            returned = edit(data)
            if isinstance(returned, FunctionOutput):
                return returned
        return FunctionOutput(dump_yaml(data).encode())


def label_all(data: Any) -> None:
    for item in data["items"]:
        item["metadata"].setdefault("labels", {})["x"] = "y"


async def test_subpackages_render_first_and_see_only_their_scope() -> None:
    files = {
        "Kptfile": kptfile("root", "    - image: example.com/root-fn\n"),
        "root.yaml": cm("root-cm"),
        "db/Kptfile": kptfile("db", "    - image: example.com/db-fn\n"),
        "db/db.yaml": cm("db-cm"),
        "app/Kptfile": kptfile("app", "    - image: example.com/app-fn\n"),
        "app/app.yaml": cm("app-cm"),
    }
    evaluator = Recorder()
    result = await render(files, evaluator)
    assert result.ok, result.error
    assert evaluator.seen == [
        ("example.com/app-fn", ["app", "app-cm"]),
        ("example.com/db-fn", ["db", "db-cm"]),
        ("example.com/root-fn", ["root", "root-cm", "app", "app-cm", "db", "db-cm"]),
    ]
    assert [item.package for item in result.results.items] == ["app", "db", ""]


async def test_selectors_and_exclusions_merge_output_back() -> None:
    files = {
        "Kptfile": kptfile(
            "root",
            "    - image: example.com/label\n      selectors:\n        - kind: ConfigMap\n"
            "      exclude:\n        - name: b\n",
        ),
        "a.yaml": cm("a"),
        "b.yaml": cm("b"),
    }
    evaluator = Recorder({"example.com/label": label_all})
    result = await render(files, evaluator)
    assert result.ok, result.error
    assert evaluator.seen[0][1] == ["a"]
    assert "labels:\n    x: y" in result.files["a.yaml"]
    assert result.files["b.yaml"] == files["b.yaml"]
    assert "labels" not in result.files["Kptfile"]


async def test_validators_cannot_mutate() -> None:
    files = {"Kptfile": kptfile("root", validators="    - image: example.com/check\n"), "a.yaml": cm("a")}
    result = await render(files, Recorder({"example.com/check": label_all}))
    assert result.ok, result.error
    assert result.files == files


async def test_failing_function_stops_the_pipeline_and_changes_nothing() -> None:
    def fail(data: Any) -> FunctionOutput:
        data["results"] = [{"message": "replicas must be set", "severity": "error"}]
        return FunctionOutput(dump_yaml(data).encode(), "boom", 1)

    files = {
        "Kptfile": kptfile("root", "    - image: example.com/fail\n    - image: example.com/label\n"),
        "a.yaml": cm("a"),
    }
    evaluator = Recorder({"example.com/fail": fail, "example.com/label": label_all})
    result = await render(files, evaluator)
    assert not result.ok
    assert "example.com/fail" in (result.error or "") and "replicas must be set" in (result.error or "")
    assert result.files == files
    assert len(evaluator.seen) == 1
    assert result.results.exit_code == 1
    assert result.results.items[0].stderr == "boom"


async def test_invalid_function_output_is_an_error_naming_the_function() -> None:
    async def garbage(function: PipelineFunction, resource_list: bytes) -> FunctionOutput:
        return FunctionOutput(b"items: [unclosed", "", 0)

    files = {"Kptfile": kptfile("root", "    - image: example.com/garbage\n"), "a.yaml": cm("a")}
    result = await render(files, garbage)
    assert not result.ok
    assert "example.com/garbage" in (result.error or "") and "YAML" in (result.error or "")

    async def not_a_list(function: PipelineFunction, resource_list: bytes) -> FunctionOutput:
        return FunctionOutput(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", "", 0)

    result = await render(files, not_a_list)
    assert not result.ok and "ResourceList" in (result.error or "")


async def test_comments_order_and_quotes_survive_a_mutation() -> None:
    text = (
        "# header comment\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: # kpt-merge: /web\n  name: web\n"
        "spec:\n  replicas: 3 # kpt-set: ${replicas}\n  template:\n    spec:\n      containers:\n"
        '        - name: web\n          image: "nginx:1.0"\n          args: [a, b]\n'
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  on: 'yes'\n  empty:\n"
    )
    files = {"Kptfile": kptfile("root", "    - image: example.com/label\n"), "all.yaml": text}
    result = await render(files, Recorder({"example.com/label": label_all}))
    assert result.ok, result.error
    out = result.files["all.yaml"]
    assert out.startswith("# header comment\napiVersion: apps/v1\n")
    assert "metadata: # kpt-merge: /web\n  name: web\n  labels:\n    x: y\n" in out
    assert "replicas: 3 # kpt-set: ${replicas}" in out
    assert '        - name: web\n          image: "nginx:1.0"\n          args: [a, b]\n' in out
    assert "  on: 'yes'\n  empty:\n" in out


async def test_function_config_from_config_map_and_config_path() -> None:
    seen: list[Any] = []

    async def capture(function: PipelineFunction, resource_list: bytes) -> FunctionOutput:
        seen.append(parse_yaml(resource_list).get("functionConfig"))
        return FunctionOutput(resource_list)

    files = {
        "Kptfile": kptfile(
            "root",
            "    - image: example.com/a\n      configMap:\n        replicas: 3\n"
            "    - image: example.com/b\n      configPath: fn.yaml\n",
        ),
        "fn.yaml": cm("fn-config"),
    }
    result = await render(files, capture)
    assert result.ok, result.error
    assert seen[0]["data"]["replicas"] == "3" and seen[0]["metadata"]["name"] == "function-input"
    assert seen[1]["metadata"]["name"] == "fn-config"
    assert "annotations" not in seen[1]["metadata"]


async def test_missing_config_path_fails_the_render() -> None:
    files = {"Kptfile": kptfile("root", "    - image: example.com/a\n      configPath: nope.yaml\n")}
    result = await render(files, Recorder())
    assert not result.ok and 'missing from path "nope.yaml"' in (result.error or "")


async def test_deleted_resources_prune_their_file_and_new_ones_get_a_path() -> None:
    def replace(data: Any) -> None:
        data["items"] = [i for i in data["items"] if i["kind"] == "Kptfile"]
        data["items"].append(parse_yaml(cm("generated")))

    files = {"Kptfile": kptfile("root", "    - image: example.com/gen\n"), "a.yaml": cm("a"), "README.md": "hi"}
    result = await render(files, Recorder({"example.com/gen": replace}))
    assert result.ok, result.error
    assert sorted(result.files) == ["Kptfile", "README.md", "configmap_generated.yaml"]


async def test_non_krm_resource_fails_the_render() -> None:
    files = {"Kptfile": kptfile("root"), "bad.yaml": "just: data\n"}
    result = await render(files, Recorder())
    assert not result.ok and "resource must have `apiVersion`" in (result.error or "")


def test_kptfile_validation_messages() -> None:
    with pytest.raises(Invalid, match="field targetResources not found in type v1.Function"):
        parse_kptfile(kptfile("x", "    - image: a\n      targetResources: []\n"))
    with pytest.raises(Invalid, match="must specify a functon"):
        parse_kptfile(kptfile("x", "    - name: a\n"))
    with pytest.raises(Invalid, match="must not specify both `configMap` and `configPath`"):
        parse_kptfile(kptfile("x", "    - image: a\n      configPath: b.yaml\n      configMap: {}\n"))
    with pytest.raises(Invalid, match="path must not be outside the package"):
        parse_kptfile(kptfile("x", "    - image: a\n      configPath: ../b.yaml\n"))
    with pytest.raises(Invalid, match="is invalid"):
        parse_kptfile(kptfile("x", "    - image: Not An Image\n"))
    with pytest.raises(Invalid, match="old version"):
        parse_kptfile("apiVersion: kpt.dev/v1alpha2\nkind: Kptfile\nmetadata:\n  name: x\n")
    with pytest.raises(BadRequest):
        parse_kptfile("a: [")
    parsed = parse_kptfile(
        kptfile("x", "    - image: set-labels\n      configMap:\n        a: b\n")
        + "info:\n  readinessGates:\n    - conditionType: Ready\n"
    )
    assert parsed.readiness_gates == ("Ready",)
    assert parsed.mutators[0].resolved_image == "ghcr.io/kptdev/krm-functions-catalog/set-labels:latest"


async def test_malformed_kptfile_raises() -> None:
    with pytest.raises(Invalid):
        await render({"Kptfile": kptfile("x", "    - {}\n")}, Recorder())
    with pytest.raises(BadRequest):
        await render({"a.yaml": cm("a")}, Recorder())


def test_resource_list_round_trip_keeps_items() -> None:
    data = parse_yaml(build_resource_list([parse_yaml(cm("a"))], parse_yaml(cm("cfg"))))
    assert data["kind"] == "ResourceList" and data["items"][0]["metadata"]["name"] == "a"
    assert data["functionConfig"]["metadata"]["name"] == "cfg"
