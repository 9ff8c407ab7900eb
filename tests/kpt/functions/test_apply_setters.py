"""apply-setters against the catalog's cases and the edge cases its unit tests pin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.parametrize("case", ["simple", "no-matches-error"])
def test_catalog_case(catalog_case: Callable[..., Any], case: str) -> None:
    catalog_case("apply-setters", case).check()


def test_partial_pattern_derives_missing_setters(builtin_call: Any, same_yaml: Any) -> None:
    run = builtin_call(
        "apply-setters",
        "kind: D\nspec:\n  image: nginx:1.7.9 # kpt-set: ${image}:${tag}\n"
        "  host: my-app-layer.dev.example.com # kpt-set: my-app-layer.${stage}.${domain}.${tld}\n",
        {"data": {"image": "ubuntu", "domain": "demo", "tld": "io"}},
    )
    assert run.text == same_yaml(
        "kind: D\nspec:\n  image: ubuntu:1.7.9 # kpt-set: ${image}:${tag}\n"
        "  host: my-app-layer.dev.demo.io # kpt-set: my-app-layer.${stage}.${domain}.${tld}\n"
    )
    assert run.messages == ['set field value to "ubuntu:1.7.9"', 'set field value to "my-app-layer.dev.demo.io"']
    assert run.results[0]["field"] == {"path": "spec.image"}


def test_unresolvable_setter_is_an_error(builtin_call: Any) -> None:
    run = builtin_call(
        "apply-setters", "kind: D\nimage: irrelevant_value # kpt-set: ${image}:${tag}\n", {"data": {"image": "u"}}
    )
    assert run.results == [
        {"message": "failed to apply setters: values for setters [${tag}] must be provided", "severity": "error"}
    ]


def test_empty_values_keep_quotes_and_empty_arrays_go_flow(builtin_call: Any, same_yaml: Any) -> None:
    run = builtin_call(
        "apply-setters",
        'kind: S\nmetadata:\n  name: myService # kpt-set: ${app}\n  namespace: "foo" # kpt-set: ${ns}\n'
        "image: nginx:1.7.1 # kpt-set: ${image}:${tag}\nenv: # kpt-set: ${env}\n  - foo\n  - bar\n"
        "roles: [dev, prod] # kpt-set: ${roles}\n",
        {"data": {"app": "", "ns": None, "image": "", "env": "", "roles": ""}},
    )
    assert run.text == same_yaml(
        'kind: S\nmetadata:\n  name: "" # kpt-set: ${app}\n  namespace: "" # kpt-set: ${ns}\n'
        "image: :1.7.1 # kpt-set: ${image}:${tag}\nenv: [] # kpt-set: ${env}\nroles: [] # kpt-set: ${roles}\n"
    )


def test_arrays_from_empty_and_quoted_scalars(builtin_call: Any, same_yaml: Any) -> None:
    run = builtin_call(
        "apply-setters",
        'kind: S\nmetadata:\n  name: "" # kpt-set: ${app}\nreplicas: 1 # kpt-set: ${n}\n'
        "env: [] # kpt-set: ${env}\n",
        {"data": {"app": "myService", "n": "3", "env": "[foo, bar]"}},
    )
    assert run.text == same_yaml(
        'kind: S\nmetadata:\n  name: "myService" # kpt-set: ${app}\nreplicas: 3 # kpt-set: ${n}\n'
        "env: # kpt-set: ${env}\n  - foo\n  - bar\n"
    )


@pytest.mark.parametrize(
    ("comment", "value", "message"),
    [
        ("${images}", "ubuntu", 'input to array setter must be an array of values, but found "ubuntu"'),
        ("${images}:${tag}", "[a]", 'invalid setter pattern for array node: "${images}:${tag}"'),
    ],
)
def test_array_setter_errors(builtin_call: Any, comment: str, value: str, message: str) -> None:
    run = builtin_call("apply-setters", f"kind: D\nimages: # kpt-set: {comment}\n  - nginx\n", {"data": {"images": value}})
    assert run.results == [{"message": f"failed to apply setters: {message}", "severity": "error"}]
