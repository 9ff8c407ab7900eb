"""upsert-resource: replace the item with the same identity as the functionConfig, or add it.

Behaves as the catalog's ``upsert-resource`` image: the functionConfig is the resource
itself, or a ``List`` whose ``items`` are upserted in order. Identity is API group (version
ignored), kind, name and namespace, plus the path when the resource carries
``config.kubernetes.io/target-path``. A replacement keeps the replaced item's path and index
annotations; an added resource goes to its target path (or kpt's default path). Items that
are function configs (``config.kubernetes.io/function``) are never replaced.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap

from porch_embedded.kpt.functions._krm import PATH_ANNOTATIONS, annotations, item_path
from porch_embedded.kpt.functions._registry import FunctionError, builtin

__all__ = ["upsert_resource"]

TARGET_PATH = "config.kubernetes.io/target-path"
_FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")


def _group(api_version: Any) -> str:
    text = str(api_version or "")
    return text.split("/", 1)[0] if "/" in text else ""


def _same(wanted: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    wanted_meta = wanted.get("metadata") or {}
    item_meta = item.get("metadata") or {}
    target = str(annotations(wanted).get(TARGET_PATH) or "")
    return (
        _group(wanted.get("apiVersion")) == _group(item.get("apiVersion"))
        and wanted.get("kind") == item.get("kind")
        and (wanted_meta.get("name") or "") == (item_meta.get("name") or "")
        and (wanted_meta.get("namespace") or "") == (item_meta.get("namespace") or "")
        and (not target or target == item_path(item))
    )


def _set_annotations(resource: Any, values: Mapping[str, Any]) -> None:
    metadata = resource.setdefault("metadata", CommentedMap())
    if values:
        metadata["annotations"] = CommentedMap(values)
    else:
        metadata.pop("annotations", None)


def _upsert(items: Any, resource: Mapping[str, Any]) -> None:
    found = False
    base = {key: value for key, value in annotations(resource).items() if key not in _FUNCTION_ANNOTATIONS}
    base.pop(TARGET_PATH, None)
    for index, item in enumerate(items):
        if any(annotations(item).get(key) for key in _FUNCTION_ANNOTATIONS) or not _same(resource, item):
            continue
        replacement = copy.deepcopy(resource)
        merged = {key: value for key, value in base.items() if key not in PATH_ANNOTATIONS}
        merged.update({key: value for key, value in annotations(item).items() if key in PATH_ANNOTATIONS})
        _set_annotations(replacement, merged)
        items[index] = replacement
        found = True
    if found:
        return
    added = copy.deepcopy(resource)
    notes = {key: value for key, value in base.items() if key not in PATH_ANNOTATIONS}
    target = annotations(resource).get(TARGET_PATH)
    if target:
        notes["internal.config.kubernetes.io/path"] = str(target)
    _set_annotations(added, notes)
    items.append(added)


@builtin("upsert-resource")
def upsert_resource(resource_list: Any) -> None:
    """Upsert the functionConfig (or each item of a ``List`` functionConfig) into the items."""
    function_config = resource_list.get("functionConfig")
    if not isinstance(function_config, Mapping) or not function_config.get("kind"):
        raise FunctionError("functionConfig must be the resource to upsert, or a List of them")
    if function_config.get("kind") == "List":
        resources = list(function_config.get("items") or [])
    else:
        resources = [function_config]
    items = resource_list.get("items")
    if items is None:
        items = resource_list["items"] = []
    for resource in resources:
        if isinstance(resource, Mapping):
            _upsert(items, resource)
