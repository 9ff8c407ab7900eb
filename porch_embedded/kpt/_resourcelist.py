"""The KRM functions wire format: ResourceList in, ResourceList and results out.

Follows the functions spec (reference kpt.md §3.1-3.4, §3.8): input is a
``config.kubernetes.io/v1`` ResourceList with ``items`` and an optional
``functionConfig``; output is a ResourceList whose ``results`` are normalised the way
kpt stores them (legacy shapes uplifted, values as strings, kpt's key order), and
recorded per function in a ``kpt.dev/v1`` FunctionResultList.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from porch_embedded.kpt._kptfile import scalar_text
from porch_embedded.kpt._yaml import WIDE, YamlError, dump_document, new_map, parse_yaml, to_plain

__all__ = [
    "ANNOTATION_ID",
    "ANNOTATION_INDEX",
    "ANNOTATION_LEGACY_ID",
    "ANNOTATION_LEGACY_INDEX",
    "ANNOTATION_LEGACY_PATH",
    "ANNOTATION_PACKAGE_PATH",
    "ANNOTATION_PATH",
    "ANNOTATION_SEQINDENT",
    "INTERNAL_ANNOTATIONS",
    "RESOURCE_LIST_API_VERSION",
    "FunctionOutputError",
    "FunctionResult",
    "FunctionResultList",
    "build_resource_list",
    "config_map",
    "normalize_results",
    "parse_resource_list",
    "read_resource_list",
    "resource_list_object",
]

RESOURCE_LIST_API_VERSION = "config.kubernetes.io/v1"
ANNOTATION_PATH = "internal.config.kubernetes.io/path"
ANNOTATION_INDEX = "internal.config.kubernetes.io/index"
ANNOTATION_LEGACY_PATH = "config.kubernetes.io/path"
ANNOTATION_LEGACY_INDEX = "config.kubernetes.io/index"
ANNOTATION_SEQINDENT = "internal.config.kubernetes.io/seqindent"
ANNOTATION_PACKAGE_PATH = "internal.config.kubernetes.io/package-path"
ANNOTATION_ID = "internal.config.kubernetes.io/id"
ANNOTATION_LEGACY_ID = "config.k8s.io/id"
ANNOTATION_RESOURCE_ID = "internal.config.kubernetes.io/kpt-resource-id"
ANNOTATION_MIGRATION_ID = "internal.config.kubernetes.io/annotations-migration-resource-id"
UPSTREAM_IDENTIFIER = "internal.kpt.dev/upstream-identifier"
"""Where a clone's resource came from upstream (``group|kind|namespace|name``): set-namespace keeps it
in step, and the three-way merge pairs resources by it."""

INTERNAL_ANNOTATIONS = frozenset(
    {
        ANNOTATION_PATH,
        ANNOTATION_INDEX,
        ANNOTATION_LEGACY_PATH,
        ANNOTATION_LEGACY_INDEX,
        ANNOTATION_SEQINDENT,
        ANNOTATION_PACKAGE_PATH,
        ANNOTATION_ID,
        ANNOTATION_LEGACY_ID,
        ANNOTATION_RESOURCE_ID,
        ANNOTATION_MIGRATION_ID,
        "internal.config.k8s.io/kpt-resource-id",
    }
)


class FunctionOutputError(ValueError):
    """A function's stdout is not a ResourceList; the message names the function."""


def config_map(data: Mapping[str, str], name: str = "function-input") -> Any:
    """The ConfigMap kpt synthesises from a step's inline ``configMap`` (string data)."""
    return new_map(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": new_map({"name": name}),
            "data": new_map({str(k): str(v) for k, v in data.items()}),
        }
    )


def resource_list_object(items: Sequence[Any], function_config: Any | None = None) -> Any:
    """The input ResourceList a function reads, as a round-trip mapping (not yet serialised)."""
    resource_list = new_map(
        {"apiVersion": RESOURCE_LIST_API_VERSION, "kind": "ResourceList", "items": list(items)}
    )
    if function_config is not None:
        resource_list["functionConfig"] = function_config
    return resource_list


def build_resource_list(items: Sequence[Any], function_config: Any | None = None) -> bytes:
    """Serialise the input ResourceList a function reads on stdin (UTF-8 YAML)."""
    return dump_document(resource_list_object(items, function_config)).encode("utf-8")


def parse_resource_list(stdout: bytes, function: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """The items and normalised results of a function's output.

    Raises ``FunctionOutputError`` naming ``function`` when the output is not YAML,
    not a ResourceList, or its ``items`` is not a list of mappings.
    """
    try:
        data = parse_yaml(stdout)
    except YamlError as exc:
        raise FunctionOutputError(f"function {function} produced output that is not valid YAML: {exc}") from exc
    return read_resource_list(data, function)


def read_resource_list(data: Any, function: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """The items and normalised results of a function's output ResourceList (already parsed)."""
    if not isinstance(data, dict):
        raise FunctionOutputError(f"function {function} produced no ResourceList on stdout")
    kind = scalar_text(data.get("kind"))
    api_version = scalar_text(data.get("apiVersion"))
    if kind != "ResourceList" or api_version not in (RESOURCE_LIST_API_VERSION, "config.kubernetes.io/v1beta1"):
        raise FunctionOutputError(
            f"function {function} produced output of kind {kind or '<none>'!r} and apiVersion "
            f"{api_version or '<none>'!r}; expected a {RESOURCE_LIST_API_VERSION} ResourceList"
        )
    items = data.get("items")
    if items is None:
        items = []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise FunctionOutputError(f"function {function} produced a ResourceList whose items are not objects")
    return list(items), normalize_results(data.get("results"))


def _value_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return dump_document(value).rstrip("\n")
    return scalar_text(value)


def normalize_results(raw: Any) -> list[dict[str, Any]]:
    """Results as kpt stores them: legacy shapes uplifted, kpt's key order, empties dropped."""
    if raw is None:
        return []
    if isinstance(raw, dict):  # old kyaml framework: {name, items}
        raw = raw.get("items") or []
    if not isinstance(raw, list):
        return []
    out: list[dict[str, Any]] = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        result: dict[str, Any] = {}
        if entry.get("message") is not None:
            result["message"] = scalar_text(entry.get("message"))
        if entry.get("severity"):
            result["severity"] = scalar_text(entry.get("severity"))
        ref = entry.get("resourceRef")
        if isinstance(ref, dict):
            meta = ref.get("metadata") if isinstance(ref.get("metadata"), dict) else {}
            norm: dict[str, Any] = {}
            for key in ("apiVersion", "kind", "name", "namespace"):
                value = ref.get(key) or (meta.get(key) if key in ("name", "namespace") else None)
                if value:
                    norm[key] = scalar_text(value)
            result["resourceRef"] = norm
        fld = entry.get("field")
        if isinstance(fld, dict):
            norm = {}
            if fld.get("path"):
                norm["path"] = scalar_text(fld.get("path"))
            if fld.get("currentValue") is not None:
                norm["currentValue"] = _value_text(fld.get("currentValue"))
            proposed = fld.get("proposedValue", fld.get("suggestedValue"))
            if proposed is not None:
                norm["proposedValue"] = _value_text(proposed)
            result["field"] = norm
        file = entry.get("file")
        if isinstance(file, dict):
            norm = {}
            if file.get("path"):
                norm["path"] = scalar_text(file.get("path"))
            try:
                index = int(file.get("index") or 0)
            except (TypeError, ValueError):
                index = 0
            if index:
                norm["index"] = index
            result["file"] = norm
        tags = entry.get("tags")
        if isinstance(tags, dict) and tags:
            result["tags"] = {str(k): scalar_text(v) for k, v in tags.items()}
        out.append(result)
    return out


@dataclass(frozen=True)
class FunctionResult:
    """One executed step in a FunctionResultList (kpt's ``items[]`` entry).

    ``image``/``exec`` name the function as kpt records it; ``results`` are the
    normalised structured results; ``package`` (root-relative, ``""`` for the root)
    and ``name`` are ours, for callers, and are not part of kpt's file format.
    """

    image: str = ""
    exec: str = ""
    stderr: str = ""
    exit_code: int = 0
    results: tuple[Mapping[str, Any], ...] = ()
    name: str = ""
    package: str = ""
    validator: bool = False

    def to_object(self) -> dict[str, Any]:
        """kpt's serialisation of this entry (plain data, kpt key order)."""
        out: dict[str, Any] = {}
        if self.image:
            out["image"] = self.image
        if self.exec:
            out["exec"] = self.exec
        if self.stderr:
            out["stderr"] = self.stderr
        out["exitCode"] = self.exit_code
        if self.results:
            out["results"] = [dict(r) for r in self.results]
        return out


@dataclass(frozen=True)
class FunctionResultList:
    """The ``kpt.dev/v1`` FunctionResultList of one render or eval, in execution order."""

    items: tuple[FunctionResult, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        """1 if any function failed, as kpt writes it."""
        return 1 if any(item.exit_code != 0 for item in self.items) else 0

    def to_object(self) -> dict[str, Any]:
        """Plain data in kpt's layout (``apiVersion``, ``kind``, ``metadata``, ``exitCode``, ``items``)."""
        out: dict[str, Any] = {
            "apiVersion": "kpt.dev/v1",
            "kind": "FunctionResultList",
            "metadata": {"name": "fnresults"},
            "exitCode": self.exit_code,
        }
        if self.items:
            out["items"] = [item.to_object() for item in self.items]
        return out

    def to_yaml(self) -> str:
        """The results.yaml text kpt writes (wide sequences, block maps, ``{}`` when empty)."""
        return dump_document(_to_nodes(self.to_object()), WIDE)


def _to_nodes(data: Any) -> Any:
    if isinstance(data, dict):
        return new_map({k: _to_nodes(v) for k, v in data.items()})
    if isinstance(data, list):
        return [_to_nodes(v) for v in data]
    return data


def plain_results(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Results as plain JSON-able data (for API status fields)."""
    return [to_plain(dict(r)) for r in results]
