"""config.porch.kpt.dev/v1alpha1 PackageVariantSet: the older shape, served by converting to v1alpha2.

Porch keeps v1alpha1 in its CRD but unserved; its controller reads v1alpha2 only. Here
v1alpha1 is served too, converted at the API edge both ways, so manifests and clients of
the older shape keep working while one version (v1alpha2) is stored and reconciled.

v1alpha1 -> v1alpha2:
- ``upstream {package {repo, name}, revision, ref}`` -> ``{repo, package, revision}``;
  a ``ref`` of the form ``v<N>`` or ``<package>/v<N>`` is revision N, any other ref a
  workspaceName;
- the set-wide ``adoptionPolicy``, ``deletionPolicy``, ``labels``, ``annotations`` go to
  every target's template;
- a ``package {repo, name}`` target -> ``repositories: [{name: repo, packageNames: [name]}]``;
  ``repositories`` (a label selector) -> ``repositorySelector``; each of ``objects.selectors``
  -> one ``objectSelector`` target (its namespace must be the set's, its annotations are
  not expressible and refused), ``objects.repoName`` -> ``downstream.repo``/``repoExpr``;
- ``packageName {namePrefix, baseName, nameSuffix}`` -> ``downstream.package`` when all
  are values, else a ``packageExpr`` joining them; a ``fromField`` may name
  ``metadata.name``, ``metadata.namespace``, ``metadata.labels.<key>`` or
  ``metadata.annotations.<key>`` of the target (what CEL's ``target`` holds).

v1alpha2 -> v1alpha1 maps what v1alpha1 can say, and keeps the whole v1alpha2 spec in the
annotation ``config.porch.kpt.dev/v1alpha2-spec`` when it says more (CEL templates, ...).
Writing such an object back at v1alpha1 with its spec unchanged restores that spec
exactly; a changed spec is converted as written (what v1alpha1 cannot say is dropped), as
Kubernetes' own conversions do with their round-trip annotations.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from porch_embedded.errors import BadRequest
from porch_embedded.kinds._common import envelope
from porch_embedded.kinds._config import GROUP
from porch_embedded.kinds._kind import Body, Conversion, PrinterColumn
from porch_embedded.kinds._schema import array, integer, obj, string, string_map
from porch_embedded.kinds._variant_set import PACKAGE_VARIANT_SET

__all__ = ["PACKAGE_VARIANT_SET_V1ALPHA1", "SPEC_ANNOTATION", "from_v1alpha2", "to_v1alpha2"]

VERSION = "v1alpha1"
SPEC_ANNOTATION = "config.porch.kpt.dev/v1alpha2-spec"
"""On a v1alpha1 view: the stored v1alpha2 spec, when v1alpha1 cannot say all of it."""

_REVISION_REF = re.compile(r"^(?:.*/)?v(\d+)$")
_package = obj({"repo": string(), "name": string()})
_value_or_field = obj({"value": string(), "fromField": string()})
_label_selector = obj({
    "matchLabels": string_map(),
    "matchExpressions": array(obj({"key": string(), "operator": string(), "values": array(string())})),
})
_spec = obj({
    "upstream": obj({"package": _package, "revision": integer(), "ref": string()}),
    "targets": array(obj({
        "package": _package,
        "repositories": _label_selector,
        "objects": obj({"selectors": array(obj({"apiVersion": string(), "kind": string(), "name": string(),
                                                 "namespace": string(), "labelSelector": _label_selector,
                                                 "annotations": string_map()})),
                        "repoName": _value_or_field}),
        "packageName": obj({"baseName": _value_or_field, "nameSuffix": _value_or_field,
                            "namePrefix": _value_or_field}),
    })),
    "adoptionPolicy": string(), "deletionPolicy": string(),
    "labels": string_map(), "annotations": string_map(),
})


# -- v1alpha1 -> v1alpha2 -------------------------------------------------------------------


def _field_expression(path: str) -> str:
    """CEL reading ``path`` of the target object, for a v1alpha1 ``fromField``."""
    if path in ("metadata.name", "name"):
        return "target.name"
    if path in ("metadata.namespace", "namespace"):
        return "target.namespace"
    for part in ("labels", "annotations"):
        prefix = f"metadata.{part}."
        if path.startswith(prefix) and len(path) > len(prefix):
            return f"target.{part}[{json.dumps(path[len(prefix):])}]"
    raise BadRequest(f"fromField {path!r} cannot be converted to config.porch.kpt.dev/v1alpha2: name "
                     "metadata.name, metadata.namespace, metadata.labels.<key> or metadata.annotations.<key>")


def _string_or_expression(parts: list[tuple[str, str]]) -> tuple[str, bool]:
    """Join (kind, text) parts: ("value", "abc") or ("cel", "target.name"); (text, is CEL)."""
    if all(kind == "value" for kind, _ in parts):
        return "".join(text for _, text in parts), False
    return " + ".join(text if kind == "cel" else json.dumps(text) for kind, text in parts), True


def _part(value: Any, default: tuple[str, str] | None) -> tuple[str, str] | None:
    if not isinstance(value, dict) or not (value.get("value") or value.get("fromField")):
        return default
    if value.get("fromField"):
        return ("cel", _field_expression(str(value["fromField"])))
    return ("value", str(value["value"]))


def _package_name(spec_name: Any, template: dict[str, Any]) -> None:
    if not isinstance(spec_name, dict):
        return
    parts = [p for p in (_part(spec_name.get("namePrefix"), None),
                         _part(spec_name.get("baseName"), ("cel", "packageDefault")),
                         _part(spec_name.get("nameSuffix"), None)) if p is not None]
    if parts == [("cel", "packageDefault")]:
        return
    text, is_cel = _string_or_expression(parts)
    template.setdefault("downstream", {})["packageExpr" if is_cel else "package"] = text


def _selector(value: Any) -> dict[str, Any]:
    value = value if isinstance(value, dict) else {}
    return {k: value[k] for k in ("matchLabels", "matchExpressions") if value.get(k)}


def _spec_to_v1alpha2(spec: dict[str, Any], namespace: str) -> dict[str, Any]:
    upstream_in = spec.get("upstream") if isinstance(spec.get("upstream"), dict) else {}
    package = upstream_in.get("package") if isinstance(upstream_in.get("package"), dict) else {}
    upstream: dict[str, Any] = {k: v for k, v in (("repo", package.get("repo")), ("package", package.get("name")))
                                if v}
    if upstream_in.get("revision"):
        upstream["revision"] = upstream_in["revision"]
    elif upstream_in.get("ref"):
        match = _REVISION_REF.match(str(upstream_in["ref"]))
        if match:
            upstream["revision"] = int(match.group(1))
        else:
            upstream["workspaceName"] = str(upstream_in["ref"])
    common = {k: spec[k] for k in ("adoptionPolicy", "deletionPolicy", "labels", "annotations") if spec.get(k)}
    targets: list[dict[str, Any]] = []
    for index, target in enumerate(spec.get("targets") or []):
        target = target if isinstance(target, dict) else {}
        template: dict[str, Any] = json.loads(json.dumps(common))
        _package_name(target.get("packageName"), template)
        if isinstance(target.get("package"), dict):
            named = target["package"]
            entry: dict[str, Any] = {"name": named.get("repo", "")}
            if named.get("name"):
                entry["packageNames"] = [named["name"]]
            targets.append(_with_template({"repositories": [entry]}, template))
        elif target.get("repositories") is not None:
            targets.append(_with_template({"repositorySelector": _selector(target["repositories"])}, template))
        elif isinstance(target.get("objects"), dict):
            objects = target["objects"]
            repo_part = _part(objects.get("repoName"), None)
            if repo_part is not None:
                template.setdefault("downstream", {})["repoExpr" if repo_part[0] == "cel" else "repo"] = repo_part[1]
            for selector in objects.get("selectors") or []:
                if selector.get("namespace") and selector["namespace"] != namespace:
                    raise BadRequest(f"spec.targets[{index}].objects.selectors: namespace {selector['namespace']!r} "
                                     "cannot be converted to config.porch.kpt.dev/v1alpha2: targets are objects "
                                     "of the set's own namespace")
                if selector.get("annotations"):
                    raise BadRequest(f"spec.targets[{index}].objects.selectors: annotations cannot be converted to "
                                     "config.porch.kpt.dev/v1alpha2: select by labels")
                object_selector = {"apiVersion": selector.get("apiVersion", ""), "kind": selector.get("kind", ""),
                                   **_selector(selector.get("labelSelector"))}
                if selector.get("name"):
                    object_selector["name"] = selector["name"]
                targets.append(_with_template({"objectSelector": object_selector}, template))
        else:
            targets.append(_with_template({}, template))
    converted: dict[str, Any] = {}
    if upstream_in or upstream:
        converted["upstream"] = upstream
    if targets:
        converted["targets"] = targets
    return converted


def _with_template(target: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    if template:
        target["template"] = json.loads(json.dumps(template))
    return target


def to_v1alpha2(body: Body) -> Body:
    """A v1alpha1 object as v1alpha2 (what is stored); raises BadRequest for what cannot convert."""
    converted = json.loads(json.dumps(body))
    converted["apiVersion"] = PACKAGE_VARIANT_SET.api_version
    metadata = converted.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})
    kept = annotations.pop(SPEC_ANNOTATION, None)
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else None
    if spec is None:
        converted.pop("spec", None)
        return converted
    if kept is not None:
        try:
            stored = json.loads(kept)
        except ValueError:
            stored = None
        if isinstance(stored, dict) and _spec_to_v1alpha1(stored) == spec:
            converted["spec"] = stored
            return converted
    converted["spec"] = _spec_to_v1alpha2(spec, str(metadata.get("namespace") or ""))
    return converted


# -- v1alpha2 -> v1alpha1 -------------------------------------------------------------------


def _spec_to_v1alpha1(spec: dict[str, Any]) -> dict[str, Any]:
    upstream = spec.get("upstream") if isinstance(spec.get("upstream"), dict) else None
    converted: dict[str, Any] = {}
    if upstream is not None:
        old: dict[str, Any] = {"package": {k: v for k, v in (("repo", upstream.get("repo")),
                                                              ("name", upstream.get("package"))) if v}}
        if upstream.get("revision"):
            old["revision"] = upstream["revision"]
        elif upstream.get("workspaceName"):
            old["ref"] = upstream["workspaceName"]
        converted["upstream"] = old
    targets: list[dict[str, Any]] = []
    templates = []
    for target in spec.get("targets") or []:
        template = target.get("template") if isinstance(target.get("template"), dict) else {}
        templates.append(template)
        downstream = template.get("downstream") if isinstance(template.get("downstream"), dict) else {}
        package_name = {"packageName": {"baseName": {"value": downstream["package"]}}} \
            if downstream.get("package") else {}
        for repository in target.get("repositories") or []:
            for package in repository.get("packageNames") or [None]:
                named = {"repo": repository.get("name", "")}
                if package:
                    named["name"] = package
                targets.append({"package": named, **package_name})
        if target.get("repositorySelector") is not None:
            targets.append({"repositories": _selector(target["repositorySelector"]), **package_name})
        if isinstance(target.get("objectSelector"), dict):
            selector = target["objectSelector"]
            old_selector = {k: selector[k] for k in ("apiVersion", "kind", "name") if selector.get(k)}
            if _selector(selector):
                old_selector["labelSelector"] = _selector(selector)
            objects: dict[str, Any] = {"selectors": [old_selector]}
            if downstream.get("repo"):
                objects["repoName"] = {"value": downstream["repo"]}
            targets.append({"objects": objects, **package_name})
    if targets:
        converted["targets"] = targets
    for name in ("adoptionPolicy", "deletionPolicy", "labels", "annotations"):
        values = [t.get(name) for t in templates]
        if values and values[0] and all(v == values[0] for v in values):
            converted[name] = values[0]
    return converted


def from_v1alpha2(body: Body) -> Body:
    """A stored v1alpha2 object as v1alpha1, the v1alpha2 spec kept aside when v1alpha1 loses some."""
    converted = json.loads(json.dumps(body))
    converted["apiVersion"] = f"{GROUP}/{VERSION}"
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else None
    if spec is None:
        return converted
    old = _spec_to_v1alpha1(spec)
    converted["spec"] = old
    try:
        lossless = _spec_to_v1alpha2(old, str(body.get("metadata", {}).get("namespace") or "")) == spec
    except BadRequest:
        lossless = False
    if not lossless:
        metadata = converted.setdefault("metadata", {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}),
                                   SPEC_ANNOTATION: json.dumps(spec, separators=(",", ":"), sort_keys=True)}
    return converted


PACKAGE_VARIANT_SET_V1ALPHA1 = dataclasses.replace(
    PACKAGE_VARIANT_SET,
    version=VERSION,
    schema=envelope("PackageVariantSet", f"{GROUP}/{VERSION}", _spec,
                    PACKAGE_VARIANT_SET.schema["properties"]["status"],
                    "The older shape of PackageVariantSet, converted to and from v1alpha2 (the stored version)."),
    printer_columns=(PrinterColumn("Upstream", "string", ".spec.upstream.package.name"),
                     *PACKAGE_VARIANT_SET.printer_columns[1:]),
    conversion=Conversion(storage=PACKAGE_VARIANT_SET, to_storage=to_v1alpha2, from_storage=from_v1alpha2),
)
"""Same names, verbs and status as v1alpha2, its own schema; writes are validated as v1alpha2, once converted."""
