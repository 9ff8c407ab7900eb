"""The FunctionRunner contract, run against every runner of shell-script functions.

podman runs the busybox images, exec runs the same scripts as local binaries, and
the Kubernetes Job runner runs the images through the apiserver double (whose
kubelet is podman). Whatever the function does, the runner returns a result.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.runners.conftest import RESOURCE_LIST, RunnerFactory, run_image

Contract = tuple[str, Callable[[str], str], RunnerFactory]


async def test_identity_function_returns_its_input_byte_for_byte(contract: Contract) -> None:
    _, image, make = contract
    output = await run_image(make(), image("identity"))
    assert (output.exit_code, output.stdout) == (0, RESOURCE_LIST)


async def test_a_transforming_function_output_comes_back(contract: Contract) -> None:
    _, image, make = contract
    output = await run_image(make(), image("add-label"))
    assert output.exit_code == 0
    assert b"    labels:\n      fn: sed\n    name: a\n" in output.stdout


async def test_failing_function_gives_its_exit_code_and_stderr(contract: Contract) -> None:
    _, image, make = contract
    output = await run_image(make(), image("fail"))
    assert output.exit_code == 1
    assert "the functionConfig has no data.thing" in output.stderr


async def test_function_past_its_deadline_is_stopped_with_a_clear_result(contract: Contract) -> None:
    _, image, make = contract
    output = await run_image(make(timeout_s=1.0), image("sleep"))
    assert output.exit_code == 124
    assert "did not finish within" in output.stderr or "DeadlineExceeded" in output.stderr
    assert output.stdout == b""


async def test_function_writing_forever_is_stopped_at_the_output_cap(contract: Contract) -> None:
    _, image, make = contract
    output = await run_image(make(timeout_s=30.0, max_output_bytes=256 * 1024), image("flood"))
    assert output.exit_code != 0
    assert "more than 262144 bytes" in output.stderr
    assert output.stdout == b""


async def test_invalid_output_is_passed_through_for_the_renderer_to_judge(contract: Contract) -> None:
    _, image, make = contract
    output = await run_image(make(), image("invalid-yaml"))
    assert (output.exit_code, output.stdout) == (0, b"items: [unclosed: {\n")
