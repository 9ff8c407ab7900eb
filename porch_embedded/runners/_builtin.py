"""BuiltinRunner: catalog functions implemented in Python, run in a worker thread.

The kpt layer registers in-process implementations of well-known catalog images
(``porch_embedded.kpt.functions``). Each mutates a ruamel.yaml round-trip
ResourceList in place, so comments and key order survive as they would through the
catalog's Go image. The work is CPU-bound and pure, so it runs in a worker thread
behind a limiter, abandoned (not waited for) when the caller is cancelled.
"""

from __future__ import annotations

import io
import sys
import traceback
from typing import Any

import trio
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from porch_embedded.kpt import FunctionOutput
from porch_embedded.kpt.functions import BuiltinFunction, FunctionError, builtin_for, builtin_name
from porch_embedded.runners._protocol import FunctionCall, call_budget_s

__all__ = ["BuiltinRunner", "run_builtin_blocking"]

# What the catalog's Go SDK prints on stderr when a function fails.
_SDK_FAILURE = "failed to evaluate function: error: function failure"


class BuiltinRunner:
    """Runs catalog images that have an in-process implementation (FunctionRunner).

    A FunctionError raised by the builtin, or any result of severity ``error``,
    gives exit code 1 with the messages on stderr and in ``results``, as the
    catalog's image would. A builtin that crashes (a bug) also gives exit code 1,
    with the exception named on stderr, never an exception out of ``run``. A call
    that overruns its deadline is abandoned and reported with exit code 1.
    """

    def __init__(self, *, threads: int = 2, timeout_s: float = 300.0, reserve_s: float = 2.0) -> None:
        self._limiter = trio.CapacityLimiter(threads)
        self._timeout_s = timeout_s
        self._reserve_s = reserve_s

    def accepts(self, image: str) -> bool:
        return builtin_for(image) is not None

    async def run(self, call: FunctionCall, resource_list: bytes) -> FunctionOutput:
        function = builtin_for(call.image)
        if function is None:
            raise ValueError(f"BuiltinRunner asked to run {call.image!r}, which is not a builtin")
        name = builtin_name(call.image) or call.image
        budget = call_budget_s(call, self._timeout_s, self._reserve_s)
        with trio.move_on_after(budget):
            return await trio.to_thread.run_sync(
                run_builtin_blocking, function, name, resource_list,
                limiter=self._limiter, abandon_on_cancel=True,
            )
        return FunctionOutput(
            stdout=b"", exit_code=1,
            stderr=f"builtin function {name} did not finish within {budget:.1f} s and was abandoned",
        )


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = sys.maxsize
    yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def run_builtin_blocking(function: BuiltinFunction, name: str, resource_list: bytes) -> FunctionOutput:
    """Parse ``resource_list``, apply ``function`` in place, serialize; never raises.

    Runs in a worker thread: touches no trio state and shares nothing with the
    caller (the ResourceList is parsed here, from bytes).
    """
    yaml = _yaml()
    try:
        document = yaml.load(resource_list)
    except YAMLError as exc:
        return _failed(f"the input ResourceList is not valid YAML: {exc}")
    if not isinstance(document, CommentedMap) or document.get("kind") != "ResourceList":
        return _failed("the input is not a ResourceList (a mapping with kind: ResourceList)")
    if not isinstance(document.get("items", []), list):
        return _failed("the input ResourceList's items is not a list")
    if document.get("items") is None:
        document["items"] = CommentedSeq()
    try:
        function(document)
    except FunctionError as exc:
        _results(document).append(CommentedMap([("message", str(exc)), ("severity", "error")]))
    except Exception as exc:  # a bug in the builtin: report it as the function's failure
        detail = "".join(traceback.format_exception_only(exc)).strip()
        return _failed(f"builtin function {name} crashed: {detail}")
    errors = [
        str(result.get("message", ""))
        for result in document.get("results") or ()
        if isinstance(result, dict) and result.get("severity", "error") == "error"
    ]
    stream = io.BytesIO()
    yaml.dump(document, stream)
    if errors:
        return FunctionOutput(
            stdout=stream.getvalue(), exit_code=1,
            stderr="\n".join([*(f"[error] {message}" for message in errors), _SDK_FAILURE]) + "\n",
        )
    return FunctionOutput(stdout=stream.getvalue())


def _results(document: CommentedMap) -> Any:
    results = document.get("results")
    if not isinstance(results, list):
        results = document["results"] = CommentedSeq()
    return results


def _failed(message: str) -> FunctionOutput:
    return FunctionOutput(stdout=b"", stderr=f"{message}\n{_SDK_FAILURE}\n", exit_code=1)
