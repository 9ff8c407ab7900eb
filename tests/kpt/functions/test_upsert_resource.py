"""upsert-resource against the catalog's cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.parametrize("case", ["simple", "multiple", "at-path"])
def test_catalog_case(catalog_case: Callable[..., Any], case: str) -> None:
    catalog_case("upsert-resource", case).check()


def test_function_configs_are_not_replaced(builtin_call: Any, same_yaml: Any) -> None:
    source = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n"
        "    config.kubernetes.io/function: 'x'\ndata: {a: b}\n"
    )
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {a: new}\n"
    run = builtin_call("upsert-resource", source, config)
    assert run.text == same_yaml(source + "---\n" + config)
