"""Which catalog images run in-process, and how an image name maps to a builtin.

A builtin has the KRM function contract itself: it receives the whole ResourceList
(a ruamel.yaml CommentedMap with ``items``, ``functionConfig``) and mutates it in
place, appending structured entries to ``results``. A result of severity ``error``
makes the call fail (exit code 1), exactly as the catalog's image would; an exception
of type ``FunctionError`` is turned into such a result by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["BUILTINS", "BuiltinFunction", "FunctionError", "builtin", "builtin_for", "builtin_name"]

BuiltinFunction = Callable[[Any], None]


class FunctionError(Exception):
    """A builtin refuses its input (bad functionConfig, a failed validation)."""


# Registries whose images we recognise as the public catalog's.
_CATALOG_PREFIXES = (
    "gcr.io/kpt-fn/",
    "ghcr.io/kptdev/krm-functions-catalog/",
    "ghcr.io/kpt-dev/krm-functions-catalog/",
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
