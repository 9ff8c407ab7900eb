"""BuiltinRunner: catalog functions implemented in Python, run in a worker thread.

The kpt layer registers in-process implementations of well-known catalog images
(``porch_embedded.kpt.functions``) and ``run_builtin`` runs one over serialized
ResourceList bytes as the catalog's container would (round-trip YAML, so comments
and key order survive; results, stderr and exit code as the image's). This runner
adds what the kpt layer must not do itself: the work is CPU-bound and pure, so it
runs in a worker thread behind a limiter, abandoned (not waited for) when the
caller is cancelled or the call's budget runs out.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import trio

from porch_embedded.kpt import FunctionOutput, InProcessOutput, YamlError
from porch_embedded.runners._protocol import FunctionCall, call_budget_s

if TYPE_CHECKING:
    from porch_embedded.kpt.functions import BuiltinFunction

__all__ = ["BuiltinRunner", "run_builtin_blocking"]

# What the catalog's Go SDK prints on stderr when a function fails.
_SDK_FAILURE = "failed to evaluate function: error: function failure"


def _catalog() -> ModuleType:
    """``porch_embedded.kpt.functions``, imported when a function is first looked up: the
    builtins and the libraries behind them (starlark, ...) take about 100 ms to import,
    which a server should not pay before it answers its first request."""
    import porch_embedded.kpt.functions as functions

    return functions


class BuiltinRunner:
    """Runs catalog images that have an in-process implementation (FunctionRunner).

    A FunctionError raised by the builtin, or any result of severity ``error``,
    gives exit code 1 with the message on stderr and in ``results``, as the
    catalog's image would (``run_builtin`` decides). Input that is not a YAML
    ResourceList, or a builtin that crashes (a bug), also gives exit code 1 with
    the reason on stderr, never an exception out of ``run``. A call that overruns
    its budget is abandoned and reported with exit code 1.
    """

    def __init__(self, *, threads: int = 2, timeout_s: float = 300.0, reserve_s: float = 2.0) -> None:
        self._limiter = trio.CapacityLimiter(threads)
        self._timeout_s = timeout_s
        self._reserve_s = reserve_s

    def accepts(self, image: str) -> bool:
        return _catalog().builtin_for(image) is not None

    async def run(self, call: FunctionCall, resource_list: bytes) -> FunctionOutput:
        function = _catalog().builtin_for(call.image)
        if function is None:
            raise ValueError(f"BuiltinRunner asked to run {call.image!r}, which is not a builtin")
        name = _catalog().builtin_name(call.image) or call.image
        budget = call_budget_s(call, self._timeout_s, self._reserve_s)
        with trio.move_on_after(budget):
            return await trio.to_thread.run_sync(
                run_builtin_blocking, function, resource_list,
                limiter=self._limiter, abandon_on_cancel=True,
            )
        return FunctionOutput(
            stdout=b"", exit_code=1,
            stderr=f"builtin function {name} did not finish within {budget:.1f} s and was abandoned\n",
        )


    async def run_object(self, call: FunctionCall, resource_list: Any) -> InProcessOutput:
        """``run`` without YAML: the ResourceList mapping is mutated in the worker thread and returned.

        The caller builds a fresh mapping for each call and does not touch it until the
        call returns, so the thread shares nothing the event loop uses meanwhile.
        """
        function = _catalog().builtin_for(call.image)
        if function is None:
            raise ValueError(f"BuiltinRunner asked to run {call.image!r}, which is not a builtin")
        name = _catalog().builtin_name(call.image) or call.image
        budget = call_budget_s(call, self._timeout_s, self._reserve_s)
        with trio.move_on_after(budget):
            return await trio.to_thread.run_sync(
                _catalog().run_builtin_object, function, resource_list, limiter=self._limiter, abandon_on_cancel=True)
        return InProcessOutput(
            resource_list, exit_code=1,
            stderr=f"builtin function {name} did not finish within {budget:.1f} s and was abandoned\n")


def run_builtin_blocking(function: BuiltinFunction, resource_list: bytes) -> FunctionOutput:
    """Run ``function`` over ``resource_list`` (``run_builtin``); never raises.

    Runs in a worker thread: touches no trio state and shares nothing with the
    caller (the ResourceList is parsed here, from bytes).
    """
    try:
        return _catalog().run_builtin(function, resource_list)
    except YamlError as exc:
        return FunctionOutput(
            stdout=b"", exit_code=1,
            stderr=f"the input ResourceList is not valid YAML: {exc}\n{_SDK_FAILURE}\n",
        )
