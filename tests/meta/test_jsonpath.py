"""The one kubectl JSONPath dialect: printer columns, custom-columns and -o jsonpath."""

from __future__ import annotations

from typing import Any

import pytest

from porch_embedded.errors import BadRequest
from porch_embedded.kinds import ALL_KINDS
from porch_embedded.meta import JsonPath, jsonpath

REPOSITORY: dict[str, Any] = {
    "metadata": {"name": "blueprints", "labels": {"kpt.dev/latest-revision": "true", "app": "porch"}},
    "spec": {"type": "git", "git": {"repo": "https://example.com/b.git", "branch": "main"}, "deployment": False},
    "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"},
                              {"type": "Synced", "status": "False", "observed": 2}]},
    "data": {"a": "x", "b": "y", "c": "z"},
}


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        (".metadata.name", ["blueprints"]),
        ("metadata.name", ["blueprints"]),
        ("$.metadata.name", ["blueprints"]),
        ("{.metadata.name}"[1:-1], ["blueprints"]),
        (".spec.deployment", [False]),
        (".spec.nothing", []),
        (".spec.type.deeper", []),
        (".metadata.labels.kpt\\.dev/latest-revision", ["true"]),
        (".metadata.labels['kpt\\.dev/latest-revision']", ["true"]),
        (".metadata.labels['kpt.dev/latest-revision']", ["true"]),
        ('.metadata.labels["app"]', ["porch"]),
        (".spec['git','oci']['repo','registry']", ["https://example.com/b.git"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type=='Ready')].status", ["True"]),
        (".status.conditions[?(@.type==Synced)].status", ["False"]),
        (".status.conditions[?(@.type!=Ready)].type", ["Synced"]),
        (".status.conditions[?(@.observed==2)].type", ["Synced"]),
        (".status.conditions[?(@.missing==x)].type", []),
        (".status.conditions[0].type", ["Ready"]),
        (".status.conditions[-1].type", ["Synced"]),
        (".status.conditions[5].type", []),
        (".status.conditions[*].type", ["Ready", "Synced"]),
        (".spec.git.*", ["https://example.com/b.git", "main"]),
        ("..type", ["git", "Ready", "Synced"]),
        (".data.@count", [3]),
        (".spec.type.@count", [0]),
        ("", [REPOSITORY]),
    ],
)
def test_jsonpath_selects_what_kubectl_selects(expression: str, values: list[Any]) -> None:
    assert jsonpath(REPOSITORY, expression) == values


@pytest.mark.parametrize("expression", [".spec[", ".spec.git[1:2]", ".a b", "[?(@.x>1)]", ".spec..", "{.x}"])
def test_expressions_outside_the_dialect_are_bad_requests_naming_the_rest(expression: str) -> None:
    with pytest.raises(BadRequest, match="unsupported JSONPath"):
        JsonPath.parse(expression)


def test_a_parsed_path_evaluates_against_any_value() -> None:
    path = JsonPath.parse(".spec.git.branch")
    assert path.values(REPOSITORY) == ["main"]
    assert path.values({"spec": {"git": {"branch": "dev"}}}) == ["dev"]
    assert path.values(None) == [] and path.values([1, 2]) == []


def test_every_printer_column_is_parsed_in_the_one_dialect() -> None:
    columns = [column for kind in ALL_KINDS for column in kind.printer_columns]
    assert columns
    for column in columns:
        assert column.path == JsonPath.parse(column.json_path), column.name
