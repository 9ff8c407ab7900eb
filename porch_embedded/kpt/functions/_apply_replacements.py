"""apply-replacements: kustomize ``replacements`` over the items.

Behaves as the catalog's ``apply-replacements`` image for the common forms: the
functionConfig must be ``fn.kpt.dev/v1alpha1 ApplyReplacements{replacements[]}``. Each
replacement copies a value (``source`` selected by group/version/kind/name/namespace,
``fieldPath`` default ``metadata.name``, or a literal ``sourceValue``) into the
``fieldPaths`` of every ``targets[].select``-ed (and not ``reject``-ed) item; selector
fields are anchored regexes; paths use ``.`` and ``[key=value]``/``[N]`` list steps;
``options`` give ``create``, ``delimiter`` and ``index``. Not covered yet: label and
annotation selectors on sources, and fields inside structured scalars.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap

from porch_embedded.kpt.functions._registry import FunctionError, builtin

__all__ = ["apply_replacements"]

_API_VERSION = "fn.kpt.dev/v1alpha1"
_KIND = "ApplyReplacements"


def _steps(path: str) -> list[str]:
    steps: list[str] = []
    for part in re.findall(r"\[[^\]]*\]|[^.\[\]]+", path):
        steps.append(part)
    return steps


def _selects(item: Mapping[str, Any], selector: Mapping[str, Any]) -> bool:
    api_version = str(item.get("apiVersion", "") or "")
    group, _, version = api_version.rpartition("/")
    metadata = item.get("metadata") or {}
    actual = {
        "group": group,
        "version": version,
        "kind": str(item.get("kind", "") or ""),
        "name": str(metadata.get("name", "") or ""),
        "namespace": str(metadata.get("namespace", "") or ""),
    }
    for key, value in actual.items():
        wanted = selector.get(key)
        if wanted in (None, ""):
            continue
        if not re.fullmatch(str(wanted), value):
            return False
    for key, field in (("labelSelector", "labels"), ("annotationSelector", "annotations")):
        wanted = selector.get(key)
        if wanted:
            present = metadata.get(field) or {}
            for term in str(wanted).split(","):
                name, _, value = term.partition("=")
                if name.strip() not in present or (value and str(present[name.strip()]) != value.strip()):
                    return False
    return True


def _lookup(node: Any, steps: list[str]) -> Any:
    for step in steps:
        node = _child(node, step, create=False)
        if node is None:
            return None
    return node


def _child(node: Any, step: str, *, create: bool, last: bool = False) -> Any:
    if step.startswith("["):
        inner = step[1:-1]
        if not isinstance(node, list):
            return None
        if "=" in inner:
            key, _, value = inner.partition("=")
            for element in node:
                if isinstance(element, Mapping) and str(element.get(key)) == value:
                    return element
            if create:
                element = CommentedMap({key: value})
                node.append(element)
                return element
            return None
        if inner.isdigit() and int(inner) < len(node):
            return node[int(inner)]
        return None
    if not isinstance(node, Mapping):
        return None
    if step not in node or node[step] is None:
        if not create:
            return None
        node[step] = CommentedMap() if not last else None
    return node[step]


def _split_value(value: Any, options: Mapping[str, Any]) -> Any:
    delimiter = options.get("delimiter")
    if not delimiter:
        return value
    parts = str(value).split(str(delimiter))
    index = int(options.get("index") or 0)
    if index < 0 or index >= len(parts):
        raise FunctionError(f"options.index {index} is out of bounds for value {value}")
    return parts[index]


def _put(item: Any, path: str, value: Any, options: Mapping[str, Any]) -> None:
    steps = _steps(path)
    create = bool(options.get("create"))
    node = item
    for step in steps[:-1]:
        node = _child(node, step, create=create)
        if node is None:
            if create:
                raise FunctionError(f"unable to find or create field {path} in replacement target")
            return
    last = steps[-1]
    if not isinstance(node, Mapping) or (last not in node and not create):
        return
    delimiter = options.get("delimiter")
    if delimiter and last in node and node[last] is not None:
        parts = str(node[last]).split(str(delimiter))
        index = int(options.get("index") or 0)
        if index < 0:
            parts.insert(0, str(value))
        elif index >= len(parts):
            parts.append(str(value))
        else:
            parts[index] = str(value)
        node[last] = str(delimiter).join(parts)
        return
    node[last] = copy.deepcopy(value)


@builtin("apply-replacements")
def apply_replacements(resource_list: Any) -> None:
    """Copy values between items as the ApplyReplacements config's replacements say."""
    config = resource_list.get("functionConfig") or {}
    if config.get("apiVersion") != _API_VERSION or config.get("kind") != _KIND:
        raise FunctionError(
            f"received functionConfig of kind {config.get('kind', '')} and apiVersion "
            f"{config.get('apiVersion', '')}, only functionConfig of kind {_KIND} and apiVersion "
            f"{_API_VERSION} is supported"
        )
    items = [item for item in resource_list.get("items") or [] if isinstance(item, CommentedMap)]
    for replacement in config.get("replacements") or []:
        if "sourceValue" in replacement and replacement.get("sourceValue") is not None:
            value: Any = replacement["sourceValue"]
        else:
            source = replacement.get("source") or {}
            matches = [item for item in items if _selects(item, source)]
            if len(matches) > 1:
                raise FunctionError(f"multiple matches for selector {dict(source)}")
            if not matches:
                raise FunctionError(f"nothing selected by {dict(source)}")
            value = _lookup(matches[0], _steps(str(source.get("fieldPath") or "metadata.name")))
            if value is None:
                raise FunctionError(f"fieldPath `{source.get('fieldPath')}` is missing for replacement source")
            value = _split_value(value, source.get("options") or {})
        for target in replacement.get("targets") or []:
            select = target.get("select") or {}
            rejects = target.get("reject") or []
            for item in items:
                if not _selects(item, select) or any(_selects(item, reject) for reject in rejects):
                    continue
                for path in target.get("fieldPaths") or ["metadata.name"]:
                    _put(item, str(path), value, target.get("options") or {})


