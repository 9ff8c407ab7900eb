"""The seam between the renderer and whatever runs a KRM function.

The renderer never runs anything itself: it hands each pipeline step and its
serialized ResourceList to a ``FunctionEvaluator`` supplied by the caller (the
builtin registry in-process, podman, a Kubernetes Job...). Keeping the seam to one
async callable and one small output record lets every runner be tested against
one contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from porch_embedded.kpt._kptfile import PipelineFunction

__all__ = ["FunctionEvaluator", "FunctionOutput", "InProcessEvaluator", "InProcessOutput"]


@dataclass(frozen=True)
class FunctionOutput:
    """What one function run produced, exactly as a container would.

    ``stdout`` is the output ResourceList (YAML or JSON bytes); ``stderr`` is the
    unstructured diagnostics text; a non-zero ``exit_code`` means the function failed
    (its results are still read from ``stdout`` when they parse).
    """

    stdout: bytes
    stderr: str = ""
    exit_code: int = 0


class FunctionEvaluator(Protocol):
    """Runs one pipeline step over a serialized ResourceList.

    ``function`` is the Kptfile step (``function.image`` is the resolved image
    reference, ``function.exec`` the exec string); ``resource_list`` is the
    ``config.kubernetes.io/v1`` ResourceList YAML to feed on stdin. Implementations
    return the function's stdout, stderr and exit code; they raise only when the
    function could not be started at all (unknown image, runtime unavailable), and
    the renderer records such an exception as that step's failure.
    Deadlines come from the caller's cancel scope.
    """

    async def __call__(self, function: PipelineFunction, resource_list: bytes) -> FunctionOutput: ...


@dataclass(frozen=True)
class InProcessOutput:
    """What an in-process function produced: the output ResourceList as an object, not bytes."""

    resource_list: Any
    stderr: str = ""
    exit_code: int = 0


class InProcessEvaluator(Protocol):
    """An evaluator that can also run some functions without serialising the ResourceList.

    Parsing and writing YAML around every in-process function dominates a render (each
    step would dump the items, parse them in the function, dump them again and parse
    the output). ``evaluate_in_process`` takes the ResourceList as the round-trip
    mapping the renderer already holds, mutates and returns it, or returns None when
    ``function`` does not run in-process (the renderer then uses the bytes path).
    """

    async def evaluate_in_process(self, function: PipelineFunction, resource_list: Any) -> InProcessOutput | None: ...
