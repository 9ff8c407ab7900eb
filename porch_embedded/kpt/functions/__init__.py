"""Catalog KRM functions implemented in-process, selected by image name."""

from porch_embedded.kpt.functions._registry import (
    BUILTINS,
    BuiltinFunction,
    FunctionError,
    FunctionExit,
    builtin,
    builtin_for,
    builtin_name,
    run_builtin,
    run_builtin_object,
)

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

# Each builtin module registers itself on import; keep this list explicit so that a
# frozen (PyInstaller) build sees every module.
from porch_embedded.kpt.functions import _apply_setters  # noqa: E402,F401
from porch_embedded.kpt.functions import _create_setters  # noqa: E402,F401
from porch_embedded.kpt.functions import _search_replace  # noqa: E402,F401
from porch_embedded.kpt.functions import _set_image  # noqa: E402,F401
from porch_embedded.kpt.functions import _upsert_resource  # noqa: E402,F401
from porch_embedded.kpt.functions import _starlark  # noqa: E402,F401
from porch_embedded.kpt.functions import _apply_replacements  # noqa: E402,F401
from porch_embedded.kpt.functions import _ensure_name_substring  # noqa: E402,F401
from porch_embedded.kpt.functions import _gen_pkg_context  # noqa: E402,F401
from porch_embedded.kpt.functions import _set_annotations  # noqa: E402,F401
from porch_embedded.kpt.functions import _set_labels  # noqa: E402,F401
from porch_embedded.kpt.functions import _set_namespace  # noqa: E402,F401
