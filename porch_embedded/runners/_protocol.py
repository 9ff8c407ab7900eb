"""The FunctionRunner seam, one call's parameters, and the chain the renderer calls.

Every way of running a KRM function (in-process builtin, allow-listed local binary,
podman container, Kubernetes Job) is a ``FunctionRunner``: it says which images it
accepts and runs one call, returning what a container would have produced (stdout,
stderr, exit code) as the kpt layer's ``FunctionOutput``. ``FunctionRunnerChain``
picks the first runner that accepts an image, as Porch's multi-evaluator does
(builtin first, then exec, then the container runtime), and is itself the
``FunctionEvaluator`` that the renderer is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import trio

from porch_embedded.errors import NotFound
from porch_embedded.kpt import FunctionOutput, InProcessOutput, PipelineFunction

__all__ = ["FunctionCall", "FunctionRunner", "FunctionRunnerChain", "call_budget_s"]


@dataclass(frozen=True)
class FunctionCall:
    """One function to run: its image (or exec string) and this call's own limits.

    ``image`` is the resolved image reference (``ghcr.io/.../set-namespace:v0.4.1``);
    ``exec`` is a Kptfile ``exec:`` string, used when there is no image. ``timeout_s``
    and ``max_output_bytes`` tighten the runner's configured limits for this call
    only; they never loosen them. The caller's cancel scope is honoured as well.
    """

    image: str = ""
    exec: str = ""
    timeout_s: float | None = None
    max_output_bytes: int | None = None

    @property
    def name(self) -> str:
        """What the function is called by: its image, else its exec string."""
        return self.image or self.exec

    @classmethod
    def for_step(cls, function: PipelineFunction) -> FunctionCall:
        """The call for one Kptfile pipeline step (image resolved as kpt would)."""
        return cls(image=function.resolved_image, exec=function.exec)


@runtime_checkable
class FunctionRunner(Protocol):
    """Runs KRM functions named by image over a serialized ResourceList.

    ``run`` returns the function's stdout, stderr and exit code. A function that
    fails, overruns its deadline or writes too much gets a non-zero exit code and
    a message in stderr, never an exception; ``run`` raises (a ``StatusError``) only
    when the function could not be started at all: no runtime, no such image.
    """

    def accepts(self, image: str) -> bool:
        """Whether this runner runs ``image`` (an image reference or exec string)."""
        ...

    async def run(self, call: FunctionCall, resource_list: bytes) -> FunctionOutput:
        """Run ``call`` with ``resource_list`` on stdin and return what it produced."""
        ...


class FunctionRunnerChain:
    """The first runner that accepts an image runs it; order is priority.

    The chain is both a ``FunctionRunner`` and the kpt layer's ``FunctionEvaluator``
    (``await chain(step, resource_list)``), so the composition root hands it to the
    renderer as is. Raises NotFound when no runner accepts the image, saying how to
    make one do so.
    """

    def __init__(self, runners: Sequence[FunctionRunner]) -> None:
        self.runners = tuple(runners)

    def runner_for(self, image: str) -> FunctionRunner | None:
        """The runner that would run ``image``, or None."""
        for runner in self.runners:
            if runner.accepts(image):
                return runner
        return None

    def accepts(self, image: str) -> bool:
        return self.runner_for(image) is not None

    async def run(self, call: FunctionCall, resource_list: bytes) -> FunctionOutput:
        runner = self.runner_for(call.name)
        if runner is None:
            what = f"image {call.image!r}" if call.image else f"exec {call.exec!r}"
            raise NotFound(
                f"no function runner accepts {what}: it is not a builtin function, not on the "
                "exec allow-list, and no container runtime (podman or kubernetes) is configured"
            )
        return await runner.run(call, resource_list)

    async def __call__(self, function: PipelineFunction, resource_list: bytes) -> FunctionOutput:
        """Run one Kptfile pipeline step: the kpt layer's ``FunctionEvaluator``."""
        return await self.run(FunctionCall.for_step(function), resource_list)

    async def evaluate_in_process(self, function: PipelineFunction, resource_list: Any) -> InProcessOutput | None:
        """The kpt layer's ``InProcessEvaluator``: run a step on objects if its runner can, else None.

        Only a runner with ``run_object`` (the builtin runner) runs without YAML; every
        other step goes through ``__call__`` with the ResourceList serialised.
        """
        call = FunctionCall.for_step(function)
        runner = self.runner_for(call.name)
        run_object = getattr(runner, "run_object", None)
        if run_object is None:
            return None
        result: InProcessOutput = await run_object(call, resource_list)
        return result


def call_budget_s(call: FunctionCall, timeout_s: float, reserve_s: float) -> float:
    """Seconds this call may run: the shortest of its own, the runner's and the caller's.

    The caller's deadline (``trio.current_effective_deadline()``) is shortened by a
    reserve (at most ``reserve_s``, at most a quarter of what remains) so that a
    runner that must stop a function still has time to kill it, clean up and report
    a clear result before the caller's own scope fires.
    """
    budget = timeout_s if call.timeout_s is None else min(timeout_s, call.timeout_s)
    deadline = trio.current_effective_deadline()
    if not math.isinf(deadline):
        remaining = deadline - trio.current_time()
        budget = min(budget, remaining - min(reserve_s, max(remaining, 0.0) / 4))
    return max(budget, 0.0)
