"""Catalog KRM functions implemented in-process, selected by image name."""

from porch_embedded.kpt.functions._registry import (
    BUILTINS,
    BuiltinFunction,
    FunctionError,
    builtin_for,
    builtin_name,
)

__all__ = ["BUILTINS", "BuiltinFunction", "FunctionError", "builtin_for", "builtin_name"]
