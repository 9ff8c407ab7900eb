"""apply-replacements against the catalog's case and kustomize's documented forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from porch_embedded.kpt.functions import FunctionError


def test_catalog_simple(catalog_case: Callable[..., Any]) -> None:
    catalog_case("apply-replacements", "simple").check()


def test_list_key_paths_and_delimiters(builtin_call: Any, same_yaml: Any) -> None:
    config = (
        "apiVersion: fn.kpt.dev/v1alpha1\nkind: ApplyReplacements\nmetadata:\n  name: r\nreplacements:\n"
        "- source: {kind: ConfigMap, name: cfg, fieldPath: data.tag}\n"
        "  targets:\n  - select: {kind: Deployment}\n"
        "    fieldPaths: ['spec.containers.[name=app].image']\n    options: {delimiter: ':', index: 1}\n"
    )
    source = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  tag: '2.0'\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  containers:\n"
        "  - name: app # the app\n    image: nginx:1.0\n"
    )
    run = builtin_call("apply-replacements", source, config)
    assert run.text.split("---\n")[1] == same_yaml(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  containers:\n"
        "  - name: app # the app\n    image: nginx:2.0\n"
    )


def test_only_apply_replacements_config(builtin_call: Any) -> None:
    with pytest.raises(FunctionError, match="only functionConfig of kind ApplyReplacements"):
        builtin_call("apply-replacements", "kind: A\n", {"data": {"a": "b"}})
