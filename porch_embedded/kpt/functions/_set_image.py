"""set-image: point container images of a given name at a new name, tag or digest.

Behaves as the catalog's ``set-image`` image: config is a ConfigMap ``data.{name, newName,
newTag, digest}`` or ``SetImage{image{…}, additionalImageFields[]}``. Default fields are
``spec.containers[].image`` of Pods and ``spec.template.spec.containers[].image`` of
Deployment, StatefulSet, ReplicaSet, DaemonSet and PodTemplate. (The catalog image reads
``iniContainers``, a typo, so init containers are left alone; we keep that.) Only changed
images count towards the info result ``summary: updated a total of N image(s)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from porch_embedded.kpt.functions._krm import add_result, config_data
from porch_embedded.kpt.functions._registry import FunctionExit, builtin

__all__ = ["set_image", "split_image"]

_POD_SPEC_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "PodTemplate")
_DATA_KEYS = ("name", "newName", "newTag", "digest")


def _matches(image: str, name: str) -> bool:
    """Whether ``image`` is ``name`` with an optional tag and/or sha256 digest (kustomize's rule)."""
    try:
        pattern = re.compile("^" + name + r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$")
    except re.error:
        return False
    return bool(pattern.match(image))


def split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; a registry port is not mistaken for a tag."""
    slash = image.find("/")
    offset = slash if slash > 0 else 0
    search = image[offset:]
    at, colon = search.find("@"), search.find(":")
    if colon < 0 and at < 0:
        return image, "", ""
    if at >= 0 and (colon < 0 or at < colon):
        return image[: offset + at], "", image[offset + at + 1:]
    if at >= 0:
        return image[: offset + colon], image[offset + colon + 1: offset + at], image[offset + at + 1:]
    return image[: offset + colon], image[offset + colon + 1:], ""


def _new_image(old: str, spec: Mapping[str, str]) -> str:
    name, tag, digest = split_image(old)
    suffix = f":{tag}" if tag else ""
    if spec.get("newName"):
        name = spec["newName"]
    if spec.get("newTag"):
        suffix = ":" + spec["newTag"]
    if spec.get("digest"):
        suffix = "@" + spec["digest"]
    if not suffix:
        return name + (f"@{digest}" if digest else "")
    return name + suffix


def _default_containers(item: Mapping[str, Any]) -> Iterator[Any]:
    spec = item.get("spec")
    if not isinstance(spec, Mapping):
        return
    kind = item.get("kind")
    if kind in _POD_SPEC_KINDS:
        template = spec.get("template")
        spec = template.get("spec") if isinstance(template, Mapping) else None
    elif kind != "Pod":
        return
    if not isinstance(spec, Mapping):
        return
    containers = spec.get("containers")
    if isinstance(containers, list):
        yield from (container for container in containers if isinstance(container, Mapping))


def _selected(item: Mapping[str, Any], field_spec: Mapping[str, Any]) -> bool:
    api_version = str(item.get("apiVersion", "") or "")
    group, _, version = api_version.rpartition("/")
    return (
        (not field_spec.get("group") or field_spec["group"] == group)
        and (not field_spec.get("version") or field_spec["version"] == version)
        and (not field_spec.get("kind") or field_spec["kind"] == item.get("kind"))
    )


def _leaves(node: Any, parts: list[str]) -> Iterator[tuple[Any, Any]]:
    """(container, key) of each scalar at a kustomize field-spec path (``a/b[]/c``)."""
    if not parts or not isinstance(node, Mapping):
        return
    head, rest = parts[0], parts[1:]
    iterate = head.endswith("[]")
    key = head[:-2] if iterate else head
    if key not in node:
        return
    value = node[key]
    if iterate:
        if isinstance(value, list):
            for index, element in enumerate(value):
                if rest:
                    yield from _leaves(element, rest)
                elif not isinstance(element, (Mapping, list)) and element is not None:
                    yield value, index
        return
    if not rest:
        if not isinstance(value, (Mapping, list)) and value is not None:
            yield node, key
        return
    yield from _leaves(value, rest)


@builtin("set-image")
def set_image(resource_list: Any) -> FunctionExit | None:
    """Rewrite the images named by the functionConfig in every item's image fields."""
    function_config = resource_list.get("functionConfig") or {}
    spec: dict[str, str] = {}
    if isinstance(function_config.get("image"), Mapping):
        spec = {key: str(value) for key, value in function_config["image"].items() if value not in (None, "")}
    for key, value in config_data(function_config).items():
        if key not in _DATA_KEYS:
            return _fail(resource_list, f"ConfigMap has wrong field name {key}")
        spec[key] = value
    if not spec.get("name"):
        return _fail(resource_list, "must specify `name`")
    if not (spec.get("newName") or spec.get("newTag") or spec.get("digest")):
        return _fail(resource_list, "must specify one of `newName`, `newTag`, or `digest`")

    count = 0
    items = list(resource_list.get("items") or [])
    for item in items:
        for container in _default_containers(item):
            old = container.get("image")
            if not isinstance(old, str) or not _matches(old, spec["name"]):
                continue
            new = _new_image(old, spec)
            if new != old:
                container["image"] = new
                count += 1
    extra = function_config.get("additionalImageFields")
    if isinstance(function_config.get("image"), Mapping) and isinstance(extra, list):
        for item in items:
            for field_spec in extra:
                if not isinstance(field_spec, Mapping) or not _selected(item, field_spec):
                    continue
                for container, key in _leaves(item, str(field_spec.get("path", "")).split("/")):
                    old = str(container[key])
                    if _matches(old, spec["name"]):
                        container[key] = _new_image(old, spec)
                        count += 1
    add_result(resource_list, f"summary: updated a total of {count} image(s)", severity="info")
    return None


def _fail(resource_list: Any, message: str) -> FunctionExit:
    """The two error results and the stderr line the Go SDK writes when a function gives up."""
    add_result(resource_list, message, severity="error")
    add_result(resource_list, f"function is terminated: {message}", severity="error")
    return FunctionExit(1, f"failed to evaluate function: function is terminated: {message}")
