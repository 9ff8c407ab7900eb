"""starlark against the catalog's cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from porch_embedded.kpt.functions import BUILTINS, run_builtin



@pytest.mark.parametrize(
    "case",
    [
        "empty-input",
        "inject-sidecar",
        "load-library",
        "map-key-inline-comment",
        "poddisruptionbudget",
        "set-namespace",
        "validation",
    ],
)
def test_catalog_case(catalog_case: Callable[..., Any], case: str) -> None:
    catalog_case("starlark", case).check()


def test_catalog_configmap_as_function_config(catalog_case: Callable[..., Any], case_path: Callable[..., Any]) -> None:
    # exec.sh: kpt fn eval -- source="$(cat set-replicas.star)" replicas=5
    source = (case_path("starlark", "configmap-as-functionconfig") / "set-replicas.star").read_text()
    catalog_case("starlark", "configmap-as-functionconfig", args={"source": source, "replicas": "5"}).check()


def test_catalog_eval_fn_config(catalog_case: Callable[..., Any]) -> None:
    # exec.sh: kpt fn eval --fn-config fn-config.yaml (the config stays among the items)
    catalog_case("starlark", "eval-fn-config", fn_config="fn-config.yaml", fn_config_in_items=True).check()


def test_catalog_non_standard_features(catalog_case: Callable[..., Any]) -> None:
    run = catalog_case("starlark", "non-standard-features")
    run.assert_files()
    assert run.stderr == run.expected_stderr == 'set(["foo", "bar"])\n2'


@pytest.mark.parametrize("case", ["empty-input", "validation"])
def test_catalog_failure_stderr(catalog_case: Callable[..., Any], case: str) -> None:
    run = catalog_case("starlark", case)
    assert run.stderr == run.expected_stderr == "failed to evaluate function: error: function failure"


def test_print_output_is_the_stderr_of_the_run() -> None:
    config = "  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: f\n  data:\n    source: |\n"
    resource_list = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n" + config
    output = run_builtin(BUILTINS["starlark"], (resource_list + "      print('a', 1)\n      print('b')\n").encode())
    assert (output.exit_code, output.stderr) == (0, "a 1\nb")
    failing = resource_list + "      print('before')\n      fail('no')\n"
    output = run_builtin(BUILTINS["starlark"], failing.encode())
    assert (output.exit_code, output.stderr) == (1, "before\nfailed to evaluate function: error: function failure")


def test_syntax_errors_are_error_results(builtin_call: Any) -> None:
    config = "apiVersion: fn.kpt.dev/v1alpha1\nkind: StarlarkRun\nmetadata:\n  name: gen\nsource: 'x = (1 +'\n"
    run = builtin_call("starlark", "kind: A\n", config)
    assert run.results[0]["severity"] == "error"
    assert "Parse error" in run.messages[0]


def test_comments_survive_and_new_keys_sort(builtin_call: Any, same_yaml: Any) -> None:
    config = (
        "apiVersion: fn.kpt.dev/v1alpha1\nkind: StarlarkRun\nmetadata:\n  name: s\nsource: |\n"
        "  for r in ctx.resource_list['items']:\n    r['spec'] = {'z': 1, 'a': 2}\n    r['b'] = [1]\n"
    )
    run = builtin_call("starlark", "kind: A # keep\nmetadata:\n  name: x # me\n", config)
    assert run.text == same_yaml("kind: A # keep\nmetadata:\n  name: x # me\nb:\n- 1\nspec:\n  a: 2\n  z: 1\n")
