"""build_function_runner and the chain: which runner runs which image, as the renderer calls it."""

from __future__ import annotations

from pathlib import Path

import pytest

from porch_embedded.errors import NotFound
from porch_embedded.kpt import FunctionEvaluator, PipelineFunction
from porch_embedded.runners import (
    FunctionCall,
    FunctionRunner,
    FunctionRunnerChain,
    PodmanSettings,
    RunnerSettings,
    build_function_runner,
)
from porch_embedded.runners._builtin import BuiltinRunner
from porch_embedded.runners._exec import ExecRunner
from porch_embedded.runners._kubernetes import KubernetesJobRunner
from porch_embedded.runners._podman import PodmanRunner
from tests.parts.fn_images import FnImages
from tests.runners.conftest import RESOURCE_LIST

USER_IMAGE = "example.com/me/my-function:v1"


def kinds(chain: FunctionRunnerChain) -> list[type]:
    return [type(runner) for runner in chain.runners]


def test_default_chain_is_builtin_then_podman() -> None:
    assert kinds(build_function_runner(RunnerSettings())) == [BuiltinRunner, PodmanRunner]


def test_exec_allow_list_comes_before_the_container_runtime(tmp_path: Path) -> None:
    chain = build_function_runner(RunnerSettings(kind="kubernetes", exec_allow_list={USER_IMAGE: "/bin/cat"}))
    assert kinds(chain) == [BuiltinRunner, ExecRunner, KubernetesJobRunner]
    assert isinstance(chain.runner_for(USER_IMAGE), ExecRunner)
    assert isinstance(chain.runner_for("set-labels"), BuiltinRunner)
    assert isinstance(chain.runner_for("example.com/other:v1"), KubernetesJobRunner)


def test_the_chain_is_a_function_runner_and_a_kpt_evaluator() -> None:
    chain = build_function_runner(RunnerSettings())
    assert isinstance(chain, FunctionRunner)
    evaluator: FunctionEvaluator = chain
    assert callable(evaluator)


async def test_kind_none_refuses_container_images_with_not_found() -> None:
    chain = build_function_runner(RunnerSettings(kind="none"))
    with pytest.raises(NotFound, match="no function runner accepts image"):
        await chain.run(FunctionCall(image=USER_IMAGE), RESOURCE_LIST)


async def test_pipeline_step_runs_through_the_evaluator_seam() -> None:
    chain = build_function_runner(RunnerSettings(kind="none"))
    step = PipelineFunction(image="set-namespace:v0.4.1", config_map={"namespace": "prod"})
    output = await chain(step, RESOURCE_LIST.replace(b"items:", b"functionConfig:\n  apiVersion: v1\n"
                         b"  kind: ConfigMap\n  metadata:\n    name: c\n  data:\n    namespace: prod\nitems:"))
    assert output.exit_code == 0, output.stderr
    assert b"namespace: prod" in output.stdout


async def test_exec_step_runs_the_allow_listed_binary(tmp_path: Path) -> None:
    chain = build_function_runner(RunnerSettings(kind="none", exec_allow_list={"./my-fn": "/bin/cat"}))
    output = await chain(PipelineFunction(exec="./my-fn"), RESOURCE_LIST)
    assert (output.exit_code, output.stdout) == (0, RESOURCE_LIST)


async def test_container_image_runs_with_podman_from_settings(
    fn_images: FnImages, podman_settings: PodmanSettings,
) -> None:
    chain = build_function_runner(RunnerSettings(podman=podman_settings))
    output = await chain(PipelineFunction(image=fn_images.local["add-label"]), RESOURCE_LIST)
    assert output.exit_code == 0 and b"fn: sed" in output.stdout
