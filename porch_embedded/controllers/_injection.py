"""Config injection: objects of the cluster copied into the package resources that ask for them.

A resource of a package annotated ``kpt.dev/config-injection: required|optional`` is an
injection point. A PackageVariant's injectors name in-cluster objects (optionally by
group, version and kind); the first injector that matches the point's kind and names an
existing object of that kind in the variant's namespace wins, and its ``data`` (a core
ConfigMap) or ``spec`` (anything else) replaces the point's, which is then annotated
``kpt.dev/injected-resource: <name>``. Each point gets a Kptfile condition
``config.injection.<Kind>.<name>`` (ConfigInjected, or NoResourceSelected with why), and
a required point also a readiness gate, so the package cannot be published unready.
The behaviour, messages and reasons are Porch's (its injection.go).

Where the objects come from is a seam, ``InjectionSource``: the standalone server reads
its own store; an aggregated server can read the cluster instead.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from porch_embedded.errors import Invalid
from porch_embedded.kinds import ALL_KINDS, Body
from porch_embedded.kpt import KPTFILE, dump_yaml, load_yaml, new_map, split_documents
from porch_embedded.store import ListQuery, Store

__all__ = ["CONFIG_INJECTION", "INJECTED_RESOURCE", "InjectionSource", "StoreInjectionSource", "inject"]

CONFIG_INJECTION = "kpt.dev/config-injection"
INJECTED_RESOURCE = "kpt.dev/injected-resource"
_RESOURCE_PATTERNS = ("*.yaml", "*.yml", "*.json", KPTFILE)


class InjectionSource(Protocol):
    """Lists the objects an injection point may take its configuration from."""

    async def objects(self, namespace: str, api_version: str, kind: str) -> list[Body]:
        """Every object of ``api_version``/``kind`` in ``namespace``; empty for a kind not served."""
        ...


class StoreInjectionSource:
    """Objects from the store: the standalone server serves the injectable kinds (ConfigMaps) itself."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def objects(self, namespace: str, api_version: str, kind: str) -> list[Body]:
        group, _, version = api_version.rpartition("/")
        served = next((k for k in ALL_KINDS if (k.group, k.version, k.kind) == (group, version, kind)), None)
        if served is None or not served.namespaced:
            return []
        items: list[Body] = []
        token = ""
        while True:
            page = await self._store.list(ListQuery(served.resource, namespace, limit=500, continue_token=token))
            items += page.items
            token = page.continue_token or ""
            if not token:
                return items


@dataclass
class _Point:
    """One resource of the package that asks for injection."""

    file: str
    index: int
    obj: Any
    condition_type: str
    required: bool = False
    errors: list[str] = field(default_factory=list)
    injected: str = ""
    """The name of the injected object, once one was."""


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _is_resource_file(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(base, pattern) for pattern in _RESOURCE_PATTERNS)


def _points(files: Mapping[str, str]) -> tuple[dict[str, list[Any]], list[_Point]]:
    """Parse the resource files and find the injection points (files in path order)."""
    documents: dict[str, list[Any]] = {}
    points: list[_Point] = []
    for path in sorted(files):
        if not _is_resource_file(path):
            continue
        try:
            docs = [load_yaml(text) for text in split_documents(files[path])]
        except ValueError as error:
            raise Invalid(f"{path}: {error}") from error
        documents[path] = docs
        for index, obj in enumerate(docs):
            if not isinstance(obj, dict):
                continue
            metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
            if CONFIG_INJECTION not in annotations:
                continue
            kind, name = str(obj.get("kind", "")), str(metadata.get("name", ""))
            point = _Point(path, index, obj, f"config.injection.{kind}.{name}")
            value = annotations[CONFIG_INJECTION]
            if value in ("required", "optional"):
                point.required = value == "required"
            else:
                point.errors.append(f'{path}: {kind}/{name} has invalid "{CONFIG_INJECTION}" annotation value '
                                    f'of "{value}"')
            points.append(point)
    return documents, points


def _check(points: Sequence[_Point]) -> None:
    """Porch refuses a package whose points are ambiguous or misannotated, before injecting anything."""
    errors: list[str] = []
    seen: dict[str, _Point] = {}
    for point in points:
        errors += point.errors
        if point.condition_type in seen:
            errors.append(f'duplicate injection conditionType "{point.condition_type}" '
                          f"({seen[point.condition_type].file} and {point.file})")
        seen[point.condition_type] = point
    if errors:
        raise Invalid(f"errors in injection points: {', '.join(errors)}")


def _matches(injector: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    group, version = _group_version(str(obj.get("apiVersion", "")))
    return all(injector.get(key) is None or injector.get(key) == value
               for key, value in (("group", group), ("version", version), ("kind", obj.get("kind"))))


def _inject_into(point: _Point, source: Mapping[str, Any]) -> None:
    """Copy ``data`` (a core ConfigMap) or ``spec`` (anything else) of ``source`` into the point."""
    group, _ = _group_version(str(source.get("apiVersion", "")))
    name = source["metadata"]["name"]
    field_name = "data" if (group, source.get("kind")) == ("", "ConfigMap") else "spec"
    if field_name not in source:
        point.errors.append(f'field "{field_name}" not found in resource "{name}"')
        return
    point.obj[field_name] = _round_trip(source[field_name])
    metadata = point.obj.setdefault("metadata", new_map())
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = new_map()
    annotations[INJECTED_RESOURCE] = name
    point.injected = name


def _round_trip(value: Any) -> Any:
    if isinstance(value, dict):
        return new_map({k: _round_trip(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_round_trip(v) for v in value]
    return value


async def inject(files: Mapping[str, str], namespace: str, injectors: Sequence[Mapping[str, Any]],
                 source: InjectionSource) -> dict[str, str]:
    """The package files with every injection point filled and reported in the Kptfile.

    Raises Invalid (Porch's "errors in injection points: ...") for a misannotated or
    ambiguous point; an unfilled point is not an error, only a False condition.
    Files without an injected point keep their text.
    """
    documents, points = _points(files)
    _check(points)
    result = dict(files)
    if not points:
        return result
    for point in points:
        if not injectors:
            point.errors.append("no injectors defined")
            continue
        api_version, kind = str(point.obj.get("apiVersion", "")), str(point.obj.get("kind", ""))
        candidates = await source.objects(namespace, api_version, kind)
        if not candidates:
            point.errors.append(f"no in-cluster resources of type {api_version}.{kind}")
            continue
        for injector in injectors:
            if not _matches(injector, point.obj):
                continue
            chosen = next((c for c in candidates if c["metadata"]["name"] == injector.get("name")), None)
            if chosen is not None:
                _inject_into(point, chosen)
                break
    for path in {point.file for point in points if point.injected}:
        result[path] = "---\n".join(dump_yaml(doc) for doc in documents[path] if doc is not None)
    if KPTFILE in result:
        result[KPTFILE] = _with_injection_conditions(result[KPTFILE], points)
    return result


def _with_injection_conditions(text: str, points: Sequence[_Point]) -> str:
    """Set one condition per point and a readiness gate per required point, sorted, as Porch does."""
    kptfile = load_yaml(text)
    if not isinstance(kptfile, dict):
        return text
    info = kptfile.get("info") if isinstance(kptfile.get("info"), dict) else new_map()
    gates = {str(g.get("conditionType")) for g in info.get("readinessGates") or [] if isinstance(g, dict)}
    gates |= {point.condition_type for point in points if point.required}
    status = kptfile.get("status") if isinstance(kptfile.get("status"), dict) else new_map()
    conditions = {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    for point in points:
        if point.injected:
            condition = ("True", "ConfigInjected", f'injected resource "{point.injected}" from cluster')
        else:
            condition = ("False", "NoResourceSelected", ", ".join(point.errors) if point.errors else
                         "no resource matched any injection selector for this injection point")
        conditions[point.condition_type] = new_map({"type": point.condition_type, "status": condition[0],
                                                    "reason": condition[1], "message": condition[2]})
    if gates:
        info["readinessGates"] = [new_map({"conditionType": gate}) for gate in sorted(gates)]
        kptfile["info"] = info
    status["conditions"] = [conditions[key] for key in sorted(conditions)]
    kptfile["status"] = status
    return dump_yaml(kptfile, "wide")

