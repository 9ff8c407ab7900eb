"""Small helpers shared by the in-process catalog functions: config, results, nodes.

The catalog's images read their functionConfig, write results and edit ruamel.yaml
round-trip nodes in the same few ways; these helpers keep those habits in one place so
that each function module only says what is particular to it. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.tokens import CommentToken

__all__ = [
    "FieldWalker",
    "PATH_ANNOTATIONS",
    "add_result",
    "annotations",
    "config_data",
    "get_line_comment",
    "is_local_config",
    "item_file",
    "item_path",
    "load_yaml",
    "resource_ref",
    "scalar_like",
    "set_line_comment",
    "walk_scalars",
]

PATH_ANNOTATION = "internal.config.kubernetes.io/path"
INDEX_ANNOTATION = "internal.config.kubernetes.io/index"
LEGACY_PATH_ANNOTATION = "config.kubernetes.io/path"
LEGACY_INDEX_ANNOTATION = "config.kubernetes.io/index"
PATH_ANNOTATIONS = (PATH_ANNOTATION, INDEX_ANNOTATION, LEGACY_PATH_ANNOTATION, LEGACY_INDEX_ANNOTATION)
LOCAL_CONFIG_ANNOTATION = "config.kubernetes.io/local-config"


def load_yaml(text: str) -> Any:
    """Parse one YAML document in round-trip mode (comments, quotes and order kept)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml.load(text)


def annotations(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The item's ``metadata.annotations``, or an empty mapping."""
    metadata = item.get("metadata")
    if not isinstance(metadata, Mapping):
        return {}
    found = metadata.get("annotations")
    return found if isinstance(found, Mapping) else {}


def is_local_config(item: Mapping[str, Any]) -> bool:
    """True when the item carries ``config.kubernetes.io/local-config`` (any value but false)."""
    value = annotations(item).get(LOCAL_CONFIG_ANNOTATION)
    return value is not None and str(value) != "false"


def item_path(item: Mapping[str, Any]) -> str:
    """The item's file path annotation (new spelling first, then legacy), or ''."""
    notes = annotations(item)
    return str(notes.get(PATH_ANNOTATION) or notes.get(LEGACY_PATH_ANNOTATION) or "")


def item_file(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A result ``file`` entry (path, index when not 0) for the item, or None without a path."""
    notes = annotations(item)
    path = item_path(item)
    if not path:
        return None
    entry: dict[str, Any] = {"path": path}
    index = notes.get(INDEX_ANNOTATION, notes.get(LEGACY_INDEX_ANNOTATION))
    if index not in (None, "", "0", 0):
        try:
            entry["index"] = int(str(index))
        except ValueError:
            pass
    return entry


def resource_ref(item: Mapping[str, Any]) -> dict[str, Any]:
    """A result ``resourceRef`` (apiVersion, kind, name, namespace when set) for the item."""
    metadata = item.get("metadata") if isinstance(item.get("metadata"), Mapping) else {}
    ref: dict[str, Any] = {
        "apiVersion": str(item.get("apiVersion", "") or ""),
        "kind": str(item.get("kind", "") or ""),
        "name": str(metadata.get("name", "") or ""),
    }
    if metadata.get("namespace"):
        ref["namespace"] = str(metadata["namespace"])
    return ref


def add_result(
    resource_list: Any,
    message: str,
    *,
    severity: str | None = None,
    resource: Mapping[str, Any] | None = None,
    field_path: str | None = None,
    file: Mapping[str, Any] | None = None,
) -> None:
    """Append one structured result to ``resource_list['results']``, keys in kpt's order.

    ``severity`` None leaves the key out, as the legacy kyaml framework functions do.
    """
    result = CommentedMap()
    result["message"] = message
    if severity:
        result["severity"] = severity
    if resource is not None:
        result["resourceRef"] = resource_ref(resource)
    if field_path:
        result["field"] = CommentedMap(path=field_path)
    if file:
        result["file"] = CommentedMap(file)
    results = resource_list.get("results")
    if not isinstance(results, list):
        results = CommentedSeq()
        resource_list["results"] = results
    results.append(result)


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_data(function_config: Mapping[str, Any] | None) -> dict[str, str]:
    """A ConfigMap-style ``data`` as strings (kpt passes ConfigMap data as strings)."""
    if not isinstance(function_config, Mapping):
        return {}
    data = function_config.get("data")
    if not isinstance(data, Mapping):
        return {}
    return {str(key): _scalar_text(value) for key, value in data.items()}


def scalar_like(old: Any, text: str) -> Any:
    """A new scalar for ``text`` that keeps the quoting style of ``old``.

    Quoted (or block) old values stay quoted with the same style; plain ones are re-resolved
    as YAML would read ``text`` written plain (so ``3`` becomes an int and ``0755`` keeps its
    spelling), and an empty text becomes ``""``, as kyaml writes it.
    """
    for style in (DoubleQuotedScalarString, SingleQuotedScalarString, LiteralScalarString, FoldedScalarString):
        if isinstance(old, style):
            return style(text)
    if text == "":
        return DoubleQuotedScalarString("")
    if "\n" not in text and re.fullmatch(r"[-+.~\w]+", text):
        loaded = load_yaml("x: " + text)["x"]
        if not isinstance(loaded, str):
            return loaded
    return text


# ---------------------------------------------------------------- comments


def _comment_slot(container: Any, key: Any) -> tuple[list[Any], int] | None:
    items = container.ca.items
    if isinstance(container, CommentedMap):
        return items.setdefault(key, [None, None, None, None]), 2
    if isinstance(container, CommentedSeq):
        return items.setdefault(key, [None, None, None, None]), 0
    return None


def get_line_comment(container: Any, key: Any) -> str:
    """The line comment after ``container[key]`` (or after the key of a block collection), '' if none.

    Only the first line of the stored token counts; ruamel folds following full-line
    comments into the same token.
    """
    if not isinstance(container, (CommentedMap, CommentedSeq)):
        return ""
    entry = container.ca.items.get(key)
    token = None
    if entry:
        token = entry[2] if isinstance(container, CommentedMap) else entry[0]
    if token is None:
        value = container[key]
        if isinstance(value, (CommentedMap, CommentedSeq)) and value.ca.comment:
            token = value.ca.comment[0]
    if token is None or isinstance(token, list):
        return ""
    text = token.value
    if not text.lstrip(" ").startswith("#"):
        return ""
    return text.lstrip(" ").split("\n", 1)[0][1:].strip()


def set_line_comment(container: Any, key: Any, comment: str) -> None:
    """Set the line comment after ``container[key]`` to ``# comment``, keeping following lines."""
    slot = _comment_slot(container, key)
    if slot is None:
        return
    entry, position = slot
    old = entry[position]
    rest = ""
    value = container[key]
    if old is None and isinstance(value, (CommentedMap, CommentedSeq)) and value.ca.comment:
        old = value.ca.comment[0]
    if isinstance(old, CommentToken) and "\n" in old.value:
        first, rest = old.value.split("\n", 1)
        if not first.lstrip(" ").startswith("#"):
            rest = old.value
        rest = "\n" + rest if rest or old.value.endswith("\n") else ""
    else:
        rest = "\n"
    entry[position] = CommentToken("# " + comment + rest, CommentMark(0), None)
    if isinstance(value, (CommentedMap, CommentedSeq)) and value.ca.comment:
        value.ca.comment[0] = None


def walk_scalars(node: Any, path: str = "") -> Iterator[tuple[Any, Any, str]]:
    """Yield (container, key, field path) for every scalar below ``node``, in document order.

    Paths use kyaml's spelling: ``spec.containers[0].image``.
    """
    if isinstance(node, Mapping):
        for key in list(node.keys()):
            child_path = f"{path}.{key}" if path else str(key)
            value = node[key]
            if isinstance(value, (Mapping, list)):
                yield from walk_scalars(value, child_path)
            else:
                yield node, key, child_path
    elif isinstance(node, list):
        for index, value in enumerate(node):
            child_path = f"{path}[{index}]"
            if isinstance(value, (Mapping, list)):
                yield from walk_scalars(value, child_path)
            else:
                yield node, index, child_path


class FieldWalker:
    """Walks an item's fields depth first with dotted paths (``spec.containers[0].image``).

    Subclasses say what happens at a leaf (``scalar``) and may take over a sequence
    (``sequence`` returns True when it handled it, so the walk does not descend).
    """

    def walk(self, node: Any, path: str = "") -> None:
        if isinstance(node, CommentedMap):
            for key in list(node.keys()):
                child_path = f"{path}.{key}" if path else str(key)
                value = node[key]
                if isinstance(value, list) and self.sequence(node, key, child_path):
                    continue
                if isinstance(value, (dict, list)):
                    self.walk(value, child_path)
                else:
                    self.scalar(node, key, child_path)
        elif isinstance(node, CommentedSeq):
            for index, value in enumerate(node):
                child_path = f"{path}[{index}]"
                if isinstance(value, (dict, list)):
                    self.walk(value, child_path)
                else:
                    self.scalar(node, index, child_path)

    def sequence(self, container: CommentedMap, key: Any, path: str) -> bool:
        """A sequence under ``container[key]``; True if handled whole (default: walk into it)."""
        return False

    def scalar(self, container: Any, key: Any, path: str) -> None:
        """A leaf value ``container[key]`` at ``path``."""
