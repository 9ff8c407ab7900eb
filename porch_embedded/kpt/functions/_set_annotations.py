"""set-annotations, as the catalog image (kyaml framework + kustomize) behaves (reference §4.2).

Annotates ``metadata.annotations`` of every item, local-config ones included, plus the
pod-template fields of kustomize's commonAnnotations field specs and any
``additionalAnnotationFields``. One result per touched field, sorted by file.
"""

from __future__ import annotations

import json
from typing import Any

from porch_embedded.kpt import new_map
from porch_embedded.kpt.functions._registry import FunctionError, builtin

PATH = "internal.config.kubernetes.io/path"
LEGACY_PATH = "config.kubernetes.io/path"
INDEX = "internal.config.kubernetes.io/index"
LEGACY_INDEX = "config.kubernetes.io/index"

# kustomize's commonAnnotations field specs (beyond metadata/annotations): (group, kind, path).
_FIELD_SPECS = (
    ("", "ReplicationController", "spec/template/metadata/annotations"),
    ("apps", "Deployment", "spec/template/metadata/annotations"),
    ("apps", "ReplicaSet", "spec/template/metadata/annotations"),
    ("apps", "DaemonSet", "spec/template/metadata/annotations"),
    ("apps", "StatefulSet", "spec/template/metadata/annotations"),
    ("batch", "Job", "spec/template/metadata/annotations"),
    ("batch", "CronJob", "spec/jobTemplate/metadata/annotations"),
    ("batch", "CronJob", "spec/jobTemplate/spec/template/metadata/annotations"),
)


def _fail(message: str) -> FunctionError:
    return FunctionError(message, stderr=f"[error]: {message}")


def _config(function_config: Any) -> tuple[dict[str, str], list[dict[str, Any]]]:
    if not isinstance(function_config, dict) or not function_config:
        raise _fail("failed to configure function: `functionConfig` must be a `ConfigMap` or `SetAnnotations`")
    kind = str(function_config.get("kind") or "")
    if kind == "ConfigMap":
        data = function_config.get("data") if isinstance(function_config.get("data"), dict) else {}
        annotations, fields = {str(k): str(v) for k, v in data.items()}, []
    elif kind in ("SetAnnotations", "SetAnnotationConfig"):
        raw = function_config.get("annotations") if isinstance(function_config.get("annotations"), dict) else {}
        annotations = {str(k): str(v) for k, v in raw.items()}
        extra = function_config.get("additionalAnnotationFields") or function_config.get("fieldSpecs") or []
        fields = [dict(f) for f in extra if isinstance(f, dict)]
    else:
        raise _fail("failed to configure function: `functionConfig` must be a `ConfigMap` or `SetAnnotations`")
    if not annotations:
        raise _fail("failed to configure function: input annotation list cannot be empty")
    return annotations, fields


def _location(item: Any) -> tuple[str, int]:
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
    path = str(annotations.get(PATH) or annotations.get(LEGACY_PATH) or "")
    try:
        index = int(annotations.get(INDEX) or annotations.get(LEGACY_INDEX) or 0)
    except ValueError:
        index = 0
    return path, index


def _set_at(item: Any, path: str, create: bool, annotations: dict[str, str]) -> bool:
    node = item
    for key in path.split("/"):
        if not isinstance(node, dict):
            return False
        nxt = node.get(key)
        if nxt is None:
            if not create:
                return False
            nxt = node[key] = new_map()
        node = nxt
    if not isinstance(node, dict):
        return False
    for key in sorted(annotations):
        if node.get(key) != annotations[key]:
            node[key] = annotations[key]
    return True


@builtin("set-annotations")
def set_annotations(resource_list: Any) -> None:
    """Add the configured annotations to every resource and its template fields."""
    annotations, extra = _config(resource_list.get("functionConfig"))
    message = "set annotations: " + json.dumps(dict(sorted(annotations.items())), separators=(",", ":"))
    found: list[tuple[str, int, str]] = []
    for item in resource_list.get("items") or []:
        if not isinstance(item, dict):
            continue
        group_version = str(item.get("apiVersion") or "")
        group, _, version = group_version.rpartition("/")
        kind = str(item.get("kind") or "")
        specs: list[tuple[str, bool]] = [("metadata/annotations", True)]
        specs += [(p, False) for g, k, p in _FIELD_SPECS if g == group and k == kind]
        for spec in extra:
            if spec.get("kind") and spec.get("kind") != kind:
                continue
            if spec.get("group") and spec.get("group") != group:
                continue
            if spec.get("version") and spec.get("version") != version:
                continue
            specs.append((str(spec.get("path") or ""), bool(spec.get("create"))))
        path, index = _location(item)
        for field_path, create in specs:
            if field_path and _set_at(item, field_path, create, annotations):
                found.append((path, index, field_path.replace("/", ".")))
    results = resource_list.setdefault("results", [])
    for path, index, field_path in sorted(set(found)):
        file: dict[str, Any] = {"path": path}
        if index:
            file["index"] = index
        results.append({"message": message, "field": {"path": field_path}, "file": file})
