"""BuiltinRunner: catalog functions in-process, in a worker thread, failures as results."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from porch_embedded.kpt.functions import BUILTINS, FunctionError, builtin
from porch_embedded.runners import FunctionCall
from porch_embedded.runners._builtin import BuiltinRunner
from tests.runners.conftest import RESOURCE_LIST

SET_NAMESPACE = "ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1"
WITH_CONFIG = RESOURCE_LIST + b"""functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: fn-config
  data:
    namespace: prod
"""


@pytest.fixture
def test_builtins() -> Iterator[dict[str, str]]:
    """Test-only builtins (registered for this test, removed afterwards): name -> image."""
    release = threading.Event()

    def refuse(resource_list: Any) -> None:
        raise FunctionError("data.thing is required")

    def crash(resource_list: Any) -> None:
        raise ZeroDivisionError("division by zero")

    def slow(resource_list: Any) -> None:
        release.wait(5)

    def error_result(resource_list: Any) -> None:
        resource_list["results"] = [{"message": "replicas must be set", "severity": "error"}]

    names = {"porch-test-refuse": refuse, "porch-test-crash": crash, "porch-test-slow": slow,
             "porch-test-error-result": error_result}
    for name, function in names.items():
        builtin(name)(function)
    try:
        yield {name: f"gcr.io/kpt-fn/{name}:v0.1" for name in names}
    finally:
        release.set()
        for name in names:
            BUILTINS.pop(name, None)


def test_catalog_images_are_accepted_and_user_images_are_not() -> None:
    runner = BuiltinRunner()
    assert runner.accepts(SET_NAMESPACE)
    assert runner.accepts("gcr.io/kpt-fn/set-namespace:v0.4.1")
    assert not runner.accepts("example.com/me/set-namespace:v1")
    assert not runner.accepts("ghcr.io/kptdev/krm-functions-catalog/no-such-function:v1")


async def test_set_namespace_runs_in_process_and_keeps_comments() -> None:
    output = await BuiltinRunner().run(FunctionCall(image=SET_NAMESPACE), WITH_CONFIG)
    assert output.exit_code == 0, output.stderr
    assert b"namespace: prod" in output.stdout
    assert b"k: v # a comment" in output.stdout


async def test_function_error_is_exit_code_1_with_message_in_stderr_and_results(
    test_builtins: dict[str, str],
) -> None:
    output = await BuiltinRunner().run(FunctionCall(image=test_builtins["porch-test-refuse"]), RESOURCE_LIST)
    assert output.exit_code == 1
    assert "data.thing is required" in output.stderr
    assert b"message: data.thing is required" in output.stdout


async def test_error_result_fails_the_call(test_builtins: dict[str, str]) -> None:
    output = await BuiltinRunner().run(FunctionCall(image=test_builtins["porch-test-error-result"]), RESOURCE_LIST)
    assert output.exit_code == 1
    assert b"replicas must be set" in output.stdout


async def test_a_crashing_builtin_is_a_failed_call_not_an_exception(test_builtins: dict[str, str]) -> None:
    output = await BuiltinRunner().run(FunctionCall(image=test_builtins["porch-test-crash"]), RESOURCE_LIST)
    assert output.exit_code == 1
    assert "ZeroDivisionError" in output.stderr


async def test_input_that_is_not_yaml_is_a_failed_call() -> None:
    output = await BuiltinRunner().run(FunctionCall(image=SET_NAMESPACE), b"items: [unclosed: {\n")
    assert output.exit_code == 1
    assert "not valid YAML" in output.stderr


async def test_slow_builtin_runs_off_the_event_loop_and_is_abandoned_at_its_deadline(
    test_builtins: dict[str, str],
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0.01)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        output = await BuiltinRunner().run(
            FunctionCall(image=test_builtins["porch-test-slow"], timeout_s=0.3), RESOURCE_LIST,
        )
        nursery.cancel_scope.cancel()
    assert output.exit_code == 1 and "abandoned" in output.stderr
    assert ticks > 1  # the loop kept running while the builtin blocked its thread
