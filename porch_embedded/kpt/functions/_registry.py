"""Which catalog images run in-process, and how an image name maps to a builtin.

A builtin has the KRM function contract itself: it receives the whole ResourceList
(a ruamel.yaml CommentedMap with ``items``, ``functionConfig``) and mutates it in
place, appending structured entries to ``results``. A result of severity ``error``
makes the call fail (exit code 1), exactly as the catalog's image would; an exception
of type ``FunctionError`` is turned into such a result by the caller.

Where a catalog image's exit code or stderr does not follow from its results (the Go
SDK's ``failed to evaluate function: error: function failure``, set-namespace's error
result with exit code 0), the builtin returns a ``FunctionExit`` or raises
``FunctionError`` with explicit ``stderr``/``exit_code``. ``run_builtin`` applies these
rules and gives the runner the same ``FunctionOutput`` a container would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedSeq

from porch_embedded.kpt import FunctionOutput, InProcessOutput, dump_yaml, parse_yaml

__all__ = [
    "BUILTINS",
    "BuiltinFunction",
    "FunctionError",
    "FunctionExit",
    "builtin",
    "builtin_for",
    "builtin_name",
    "run_builtin",
    "run_builtin_object",
]

BuiltinFunction = Callable[[Any], "FunctionExit | None"]


@dataclass(frozen=True)
class FunctionExit:
    """Returned by a builtin whose exit code or stderr does not follow from its results."""

    code: int = 0
    stderr: str = ""


class FunctionError(Exception):
    """A builtin refuses its input (bad functionConfig, a failed validation).

    ``message`` becomes an ``error`` result (none if empty); ``stderr`` defaults to the
    message; ``exit_code`` defaults to 1.
    """

    def __init__(self, message: str = "", *, stderr: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.stderr = message if stderr is None else stderr
        self.exit_code = exit_code


# Registries whose images we recognise as the public catalog's.
_CATALOG_PREFIXES = (
    "gcr.io/kpt-fn/",
    "ghcr.io/kptdev/krm-functions-catalog/",
    "ghcr.io/kpt-dev/krm-functions-catalog/",
    "builtins/",
    "",
)
_IMAGE_RE = re.compile(r"^(?P<path>[^@:]+(?::\d+/[^@:]+)?)(?::(?P<tag>[^@]+))?(?:@(?P<digest>.+))?$")

BUILTINS: dict[str, BuiltinFunction] = {}
"""Short catalog name (``set-namespace``) to its in-process implementation."""


def builtin(name: str) -> Callable[[BuiltinFunction], BuiltinFunction]:
    """Register the decorated function as the in-process ``name`` (a catalog short name)."""

    def register(function: BuiltinFunction) -> BuiltinFunction:
        if name in BUILTINS:
            raise RuntimeError(f"builtin {name!r} registered twice")
        BUILTINS[name] = function
        return function

    return register


def builtin_name(image: str) -> str | None:
    """The catalog short name of ``image`` if it names a catalog image, else None.

    ``gcr.io/kpt-fn/set-namespace:v0.4.1``, ``ghcr.io/kptdev/krm-functions-catalog/set-namespace``
    and ``set-namespace`` all give ``set-namespace``; ``example.com/me/set-namespace`` does not,
    because a user's own image of that name is not ours to replace.
    """
    match = _IMAGE_RE.match(image.strip())
    if not match:
        return None
    path = match.group("path")
    for prefix in _CATALOG_PREFIXES:
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            return path[len(prefix):]
    return None


def builtin_for(image: str) -> BuiltinFunction | None:
    """The in-process implementation of ``image``, or None if it must run in a container."""
    name = builtin_name(image)
    return BUILTINS.get(name) if name else None


def run_builtin(function: BuiltinFunction, resource_list: bytes) -> FunctionOutput:
    """Run a builtin on a serialized ResourceList as if it were the catalog's container.

    The output ResourceList is dumped with kpt's YAML conventions. Exit code: the
    builtin's ``FunctionExit`` if it returns one, else ``FunctionError.exit_code``, else
    1 if any result has severity ``error``, else 0. A bug in the builtin (any other
    exception) is a failed run with the exception on stderr, never a crash.
    """
    data = parse_yaml(resource_list)
    if not isinstance(data, dict):
        return FunctionOutput(b"", "input is not a ResourceList", 1)
    output = run_builtin_object(function, data)
    return FunctionOutput(dump_yaml(output.resource_list).encode(), output.stderr, output.exit_code)


def run_builtin_object(function: BuiltinFunction, data: Any) -> InProcessOutput:
    """``run_builtin`` on a ResourceList mapping, mutated in place and returned (no YAML)."""
    if not isinstance(data.get("items"), list):
        data["items"] = CommentedSeq(data.get("items") or [])
    exit_override: FunctionExit | None = None
    try:
        returned = function(data)
        if isinstance(returned, FunctionExit):
            exit_override = returned
    except FunctionError as exc:
        if exc.message:
            results = data.get("results")
            if not isinstance(results, list):
                results = data["results"] = CommentedSeq()
            results.append({"message": exc.message, "severity": "error"})
        exit_override = FunctionExit(exc.exit_code, exc.stderr)
    except Exception as exc:  # a bug in a builtin fails the run, it does not kill the server
        return InProcessOutput(data, f"{type(exc).__name__}: {exc}", 1)
    if exit_override is None:
        results = data.get("results") or []
        failed = any(isinstance(r, dict) and r.get("severity") == "error" for r in results)
        exit_override = FunctionExit(1 if failed else 0, "")
    return InProcessOutput(data, exit_override.stderr, exit_override.code)
