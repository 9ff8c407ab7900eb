"""starlark: run a user's Starlark program over the ResourceList (starlark-pyo3).

Behaves as the catalog's ``starlark`` image: the functionConfig is
``fn.kpt.dev/v1alpha1 StarlarkRun{source, params}`` or a ConfigMap with ``data.source``.
The program sees ``ctx.resource_list`` (``items`` and ``functionConfig`` as plain dicts and
lists) and mutates it or reassigns ``items``; ``fail()`` and any Starlark error become one
``error`` result. Output items are merged back into the input nodes (matched by a transient
id) so comments and key order survive; new keys are added in sorted order, as the image's
re-marshalling does. ``load()`` offers ``encoding/json.star``, ``encoding/yaml.star``,
``encoding/base64.star``, ``re.star``, ``hash.star`` and ``krmfn.star``.

Differences from the Go interpreter (starlark-rust underneath): no ``while``, ``set`` is an
opaque value that prints as ``set([...])`` and ``ctx.open_api`` is empty.

``print`` output is the function's stderr (one line per call, as the image writes it), handed
to the runner through ``FunctionExit``; a failed run adds the Go SDK's last line
``failed to evaluate function: error: function failure``, as the image does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import starlark as sl
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from porch_embedded.kpt.functions._krm import add_result, load_yaml
from porch_embedded.kpt.functions._registry import FunctionExit, builtin

__all__ = ["starlark_run"]

_ID = "internal.porch-embedded.dev/starlark-id"
_DIALECT = sl.Dialect.extended()
_GLOBALS = sl.Globals.extended_by(
    [sl.LibraryExtension.StructType, sl.LibraryExtension.Json, sl.LibraryExtension.Map, sl.LibraryExtension.Filter]
)


class _Set:
    """Stand-in for starlark-go's ``set``; prints as the Go interpreter does."""

    def __init__(self, values: Any = ()) -> None:
        self.values = list(dict.fromkeys(values))

    def __repr__(self) -> str:
        return "set([" + ", ".join(json.dumps(value) for value in self.values) + "])"


def plain(node: Any) -> Any:
    """A ruamel node as JSON-compatible Python data."""
    if isinstance(node, Mapping):
        return {str(key): plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(value) for value in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, sl.OpaquePythonObject):
        return repr(value)
    if isinstance(value, (dict, list, bool)) or value is None:
        return json.dumps(value)
    return repr(value)


def _library(name: str) -> Mapping[str, Callable[..., Any]] | None:
    def yaml_encode(value: Any) -> str:
        import io

        from ruamel.yaml import YAML

        buffer = io.StringIO()
        YAML(typ="safe", pure=True).dump(value, buffer)
        return buffer.getvalue()

    libraries: dict[str, dict[str, Callable[..., Any]]] = {
        "encoding/json.star": {"encode": lambda v: json.dumps(v, separators=(",", ":")), "decode": json.loads},
        "encoding/yaml.star": {"dumps": yaml_encode, "loads": lambda text: plain(load_yaml(text))},
        "encoding/base64.star": {
            "encode": lambda text: base64.b64encode(text.encode()).decode(),
            "decode": lambda text: base64.b64decode(text).decode(),
        },
        "re.star": {
            "match": lambda pattern, text: [list(m.groups()) and [m.group(0), *m.groups()] or [m.group(0)]
                                            for m in re.finditer(pattern, text)],
            "findall": lambda pattern, text: [m.group(0) for m in re.finditer(pattern, text)],
            "split": lambda pattern, text: re.split(pattern, text),
            "sub": lambda pattern, repl, text: re.sub(pattern, repl, text),
        },
        "hash.star": {
            "md5": lambda text: hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 - not for security
            "sha1": lambda text: hashlib.sha1(text.encode()).hexdigest(),  # noqa: S324 - not for security
            "sha256": lambda text: hashlib.sha256(text.encode()).hexdigest(),
        },
        "krmfn.star": {
            "match_gvk": lambda r, api_version, kind: r.get("apiVersion") == api_version and r.get("kind") == kind,
            "match_name": lambda r, name: (r.get("metadata") or {}).get("name") == name,
            "match_namespace": lambda r, ns: (r.get("metadata") or {}).get("namespace") == ns,
        },
    }
    return libraries.get(name)


_SYMBOLS = {
    "encoding/json.star": "json",
    "encoding/yaml.star": "yaml",
    "encoding/base64.star": "base64",
    "re.star": "re",
    "hash.star": "hash",
    "krmfn.star": "krmfn",
}


def _load(name: str) -> sl.FrozenModule:
    functions = _library(name)
    if functions is None:
        raise ValueError(f"cannot load {name}: module not available in the embedded starlark runtime")
    module = sl.Module()
    for function_name, function in functions.items():
        module.add_callable("_" + function_name, function)
    fields = ", ".join(f"{function_name}=_{function_name}" for function_name in functions)
    sl.eval(module, sl.parse(name, f"{_SYMBOLS[name]} = struct({fields})\n", _DIALECT), _GLOBALS)
    return module.freeze()


def _merge(old: Any, new: Any) -> Any:
    """``new`` written into ``old`` in place where both are collections, so comments stay."""
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        for key in [key for key in old if key not in new]:
            del old[key]
        for key in list(old.keys()):
            old[key] = _merge(old[key], new[key])
        for key in sorted(key for key in new if key not in old):
            old[key] = _merge(None, new[key])
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        del old[len(new):]
        for index, value in enumerate(new):
            if index < len(old):
                old[index] = _merge(old[index], value)
            else:
                old.append(_merge(None, value))
        return old
    if isinstance(new, Mapping):
        return CommentedMap((key, _merge(None, new[key])) for key in sorted(new))
    if isinstance(new, list):
        return CommentedSeq(_merge(None, value) for value in new)
    if old is not None and not isinstance(old, (CommentedMap, CommentedSeq)) and plain(old) == new:
        return old
    return new


def _error_text(exc: Exception) -> str:
    text = str(exc).strip()
    found = re.search(r"^error: fail: (.*)$", text, flags=re.MULTILINE)
    if found:
        return "fail: " + found.group(1).strip()
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    return lines[-1][len("error:"):].strip() if lines else text


_FAILURE = "failed to evaluate function: error: function failure"


def _exit(printed: list[str], *, failed: bool) -> FunctionExit:
    """Exit code and stderr of a run: the printed lines, then the SDK's failure line if it failed."""
    lines = [*printed, _FAILURE] if failed else printed
    return FunctionExit(1 if failed else 0, "\n".join(lines))


@builtin("starlark")
def starlark_run(resource_list: Any) -> FunctionExit:
    """Run the functionConfig's Starlark source over the items; what it prints is the stderr."""
    function_config = resource_list.get("functionConfig")
    if not isinstance(function_config, Mapping):
        add_result(resource_list, "`source` must not be empty", severity="error")
        return _exit([], failed=True)
    if function_config.get("kind") == "ConfigMap":
        source = str((function_config.get("data") or {}).get("source") or "")
    else:
        source = str(function_config.get("source") or "")
    name = str((function_config.get("metadata") or {}).get("name") or "starlark-function-run")
    if not source.strip():
        add_result(resource_list, "`source` must not be empty", severity="error")
        return _exit([], failed=True)

    items = list(resource_list.get("items") or [])
    by_id: dict[str, Any] = {}
    for index, item in enumerate(items):
        if isinstance(item, CommentedMap):
            by_id[str(index)] = item
    plain_items = []
    for index, item in enumerate(items):
        data = plain(item)
        data.setdefault("metadata", {}).setdefault("annotations", {})[_ID] = str(index)
        plain_items.append(data)
    payload = {"items": plain_items, "functionConfig": plain(function_config)}

    printed: list[str] = []
    module = sl.Module()
    module["_resource_list"] = json.dumps(payload)
    module.add_callable("print", lambda *args: printed.append(" ".join(_format(arg) for arg in args)))
    module.add_callable("set", lambda values=(): sl.OpaquePythonObject(_Set(values)))
    try:
        sl.eval(
            module,
            sl.parse("prelude", "ctx = struct(resource_list=json.decode(_resource_list), open_api={}, environment={})\n",
                     _DIALECT),
            _GLOBALS,
        )
        sl.eval(module, sl.parse(name, source, _DIALECT), _GLOBALS, sl.FileLoader(_load))
        output = json.loads(str(sl.eval(module, sl.parse("epilogue", "json.encode(ctx.resource_list)", _DIALECT),
                                        _GLOBALS)))
    except sl.StarlarkError as exc:
        add_result(resource_list, _error_text(exc), severity="error")
        return _exit(printed, failed=True)

    new_items = CommentedSeq()
    for data in output.get("items") or []:
        if not isinstance(data, dict):
            continue
        notes = (data.get("metadata") or {}).get("annotations") or {}
        key = notes.pop(_ID, None)
        if isinstance(data.get("metadata"), dict) and data["metadata"].get("annotations") == {} and key is not None:
            original_notes = (by_id.get(key) or {}).get("metadata", {}).get("annotations")
            if original_notes is None:
                del data["metadata"]["annotations"]
        original = by_id.pop(key, None) if key is not None else None
        new_items.append(_merge(original, data) if original is not None else _merge(None, data))
    resource_list["items"] = new_items
    return _exit(printed, failed=False)
