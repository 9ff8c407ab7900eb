"""The field-level three-way merge of one resource, with kpt's rules (reference kpt.md §5.3-5.5).

Three trees of the same resource are walked together: ``dest`` (the local package's
copy, which becomes the result), ``origin`` (the old upstream) and ``updated`` (the new
upstream). The walk follows kpt's merge3 visitor over kyaml's walker:

- a field set to an explicit null (``null``, ``~``, empty) in updated or local clears
  it, unless it was already null in origin;
- a scalar or a non-associative list changed between origin and updated takes the
  updated value, even if local changed it too (upstream wins; kpt reports no conflict);
  otherwise local's value stays;
- maps merge key by key (keys in sorted order; a key new to local is appended, a map
  created by the merge gets its keys in sorted order);
- associative lists (a merge strategy in the schema) merge element by element, paired
  by their merge keys; an element removed upstream goes unless local added fields to it.

Trees are either ruamel round-trip nodes (the result keeps local's comments and
quoting; a value taken from updated brings its line comment) or plain dict/list trees
from a fast loader (used to prove that a merge changes nothing). Nodes of different
kinds at the same field cannot be merged: ``KindMismatch`` says where.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.tokens import CommentToken

from porch_embedded.kpt._kptfile import scalar_text, yaml_kind
from porch_embedded.kpt._yaml import new_map

__all__ = [
    "MISSING",
    "KindMismatch",
    "ListRule",
    "Schema",
    "crd_schemas",
    "merge_resource",
    "resource_schema",
    "same_content",
]


class _Missing:
    """A field that a source does not have (distinct from an explicit null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class KindMismatch(ValueError):
    """Sources hold a mapping, a list or a scalar at the same field; ``path`` names the field."""

    def __init__(self, path: str, expected: str, found: str) -> None:
        super().__init__(f"field {path or '<root>'} is a {expected} in one version and a {found} in another")
        self.path, self.expected, self.found = path, expected, found


@dataclass(frozen=True)
class ListRule:
    """An associative list: elements pair by ``keys`` (none: a set of scalars, e.g. finalizers)."""

    keys: tuple[str, ...]
    item: Schema | None = None


Schema = Union[dict[str, Any], ListRule]
"""A field schema: a mapping of field name to schema, or a ``ListRule``; None means unknown."""


# --- Kubernetes built-in kinds: the lists whose schema carries a merge patch strategy.

def _container() -> dict[str, Any]:
    return {
        "ports": ListRule(("containerPort", "protocol")),
        "env": ListRule(("name",)),
        "volumeMounts": ListRule(("mountPath",)),
        "volumeDevices": ListRule(("devicePath",)),
    }


def _pod_spec() -> dict[str, Any]:
    return {
        "containers": ListRule(("name",), _container()),
        "initContainers": ListRule(("name",), _container()),
        "ephemeralContainers": ListRule(("name",), _container()),
        "volumes": ListRule(("name",)),
        "imagePullSecrets": ListRule(("name",)),
        "hostAliases": ListRule(("ip",)),
        "topologySpreadConstraints": ListRule(("topologyKey", "whenUnsatisfiable")),
        "resourceClaims": ListRule(("name",)),
        "schedulingGates": ListRule(("name",)),
    }


_OBJECT_META = {"finalizers": ListRule(()), "ownerReferences": ListRule(("uid",))}
_CONDITIONS = {"conditions": ListRule(("type",))}
_TEMPLATE = {"template": {"metadata": _OBJECT_META, "spec": _pod_spec()}}
_BUILTIN_SPECS: dict[tuple[str, str], dict[str, Any]] = {
    ("", "Pod"): {"spec": _pod_spec(), "status": _CONDITIONS},
    ("", "PodTemplate"): {"template": {"metadata": _OBJECT_META, "spec": _pod_spec()}},
    ("", "ReplicationController"): {"spec": _TEMPLATE, "status": _CONDITIONS},
    ("apps", "Deployment"): {"spec": _TEMPLATE, "status": _CONDITIONS},
    ("apps", "ReplicaSet"): {"spec": _TEMPLATE, "status": _CONDITIONS},
    ("apps", "StatefulSet"): {"spec": _TEMPLATE, "status": _CONDITIONS},
    ("apps", "DaemonSet"): {"spec": _TEMPLATE, "status": _CONDITIONS},
    ("batch", "Job"): {"spec": _TEMPLATE, "status": _CONDITIONS},
    ("batch", "CronJob"): {"spec": {"jobTemplate": {"metadata": _OBJECT_META, "spec": _TEMPLATE}}},
    ("", "Service"): {"spec": {"ports": ListRule(("port", "protocol"))}},
    ("", "ServiceAccount"): {"secrets": ListRule(("name",))},
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): {"webhooks": ListRule(("name",))},
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): {"webhooks": ListRule(("name",))},
}
_BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io", "networking.k8s.io",
    "storage.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "certificates.k8s.io", "discovery.k8s.io", "node.k8s.io", "events.k8s.io",
    "apiregistration.k8s.io", "flowcontrol.apiserver.k8s.io", "resource.k8s.io",
})


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def resource_schema(obj: Any, crds: Mapping[tuple[str, str, str], Schema]) -> Schema | None:
    """The schema of a resource: kyaml's built-in kinds, then the package's CRDs, else None."""
    if not isinstance(obj, dict):
        return None
    group, version = _group_version(scalar_text(obj.get("apiVersion")))
    kind = scalar_text(obj.get("kind"))
    crd = crds.get((group, version, kind))
    if crd is not None:
        return crd
    if group not in _BUILTIN_GROUPS:
        return None
    return {"metadata": _OBJECT_META, **_BUILTIN_SPECS.get((group, kind), {})}


def _convert_openapi(schema: Any) -> Schema | None:
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if isinstance(properties, dict):
        fields = {str(k): _convert_openapi(v) for k, v in properties.items()}
        return {k: v for k, v in fields.items() if v is not None}
    strategy = scalar_text(schema.get("x-kubernetes-patch-strategy"))
    if "merge" in strategy.split(","):
        keys = schema.get("x-kubernetes-list-map-keys")
        if not isinstance(keys, list) or not keys:
            merge_key = scalar_text(schema.get("x-kubernetes-patch-merge-key"))
            keys = [merge_key] if merge_key else []
        return ListRule(tuple(scalar_text(k) for k in keys), _convert_openapi(schema.get("items")))
    return None


def crd_schemas(resources: Iterable[Any]) -> dict[tuple[str, str, str], Schema]:
    """The schemas that CustomResourceDefinitions among ``resources`` declare, by (group, version, kind).

    As in kpt, a CRD's list merges associatively only if its openAPIV3Schema gives it
    ``x-kubernetes-patch-strategy: merge``; a CRD that cannot be read is ignored.
    """
    out: dict[tuple[str, str, str], Schema] = {}
    for obj in resources:
        if not isinstance(obj, dict) or scalar_text(obj.get("kind")) != "CustomResourceDefinition":
            continue
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            continue
        group = scalar_text(spec.get("group"))
        names = spec.get("names")
        kind = scalar_text(names.get("kind")) if isinstance(names, dict) else ""
        versions = spec.get("versions")
        if not group or not kind or not isinstance(versions, list):
            continue
        for version in versions:
            if not isinstance(version, dict):
                continue
            body = version.get("schema")
            schema = _convert_openapi(body.get("openAPIV3Schema") if isinstance(body, dict) else None)
            if schema is not None:
                out[(group, scalar_text(version.get("name")), kind)] = schema
    return out


# --- node comparisons, as go-yaml compares nodes.

def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "scalar"


def same_content(a: Any, b: Any) -> bool:
    """Structural equality: kind, tag, value and children in order; style and comments ignored."""
    if isinstance(a, dict):
        if not isinstance(b, dict) or len(a) != len(b):
            return False
        return all(
            ka == kb and same_content(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(same_content(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(b, (dict, list)):
        return False
    return yaml_kind(a) == yaml_kind(b) and scalar_text(a) == scalar_text(b)


def _null(value: Any) -> bool:
    return value is MISSING or value is None


def _cleared(left: Any, right: Any) -> bool:
    """kpt's isCleared: right is an explicit null that left was not."""
    return left is not None and right is None


# --- keeping local's styles and taking upstream's line comments.

def _keep_style(old: Any, new: Any) -> Any:
    """Give ``new`` the quoting or flow style of the value it replaces (kyaml's FieldSetter)."""
    if isinstance(new, str) and isinstance(old, str):
        if isinstance(old, ScalarString):
            return type(old)(str(new))
        return str(new) if isinstance(new, ScalarString) else new
    if isinstance(old, (CommentedMap, CommentedSeq)) and isinstance(new, (CommentedMap, CommentedSeq)):
        new.fa._flow_style = old.fa.flow_style()
    return new


def _first_line(token: Any) -> tuple[str, str]:
    value = token.value if isinstance(token, CommentToken) else ""
    cut = value.find("\n")
    if cut < 0:
        return value, ""
    return value[: cut + 1], value[cut + 1 :]


def _take_line_comment(dest: Any, key: Any, source: Any) -> None:
    """Put the end-of-line comment of ``source[key]`` on ``dest[key]``, keeping what follows it."""
    if not isinstance(dest, CommentedMap) or not isinstance(source, CommentedMap):
        return
    source_item = source.ca.items.get(key)
    dest_item = dest.ca.items.get(key)
    line, _ = _first_line(source_item[2] if source_item and len(source_item) > 2 else None)
    _, rest = _first_line(dest_item[2] if dest_item and len(dest_item) > 2 else None)
    if not line.startswith("#"):
        line = "\n" if rest else ""
    value = line + rest
    if not value.strip():
        if dest_item and len(dest_item) > 2:
            dest_item[2] = None
        return
    token = CommentToken(value, CommentMark(0), None)
    if dest_item is None:
        dest.ca.items[key] = [None, None, token, None]
    else:
        while len(dest_item) < 3:
            dest_item.append(None)
        dest_item[2] = token


# --- the walk.

@dataclass
class _Walk:
    infer: bool
    took_updated: bool = False

    def walk(self, d: Any, o: Any, u: Any, schema: Schema | None, path: tuple[str, ...]) -> tuple[Any, bool]:
        """The merged value of one field, and whether it is updated's node itself."""
        first = next((s for s in (d, o, u) if not _null(s)), MISSING)
        kind = "mapping" if first is MISSING else _kind(first)
        for source in (d, o, u):
            if not _null(source) and _kind(source) != kind:
                raise KindMismatch(".".join(path), kind, _kind(source))
        if kind == "mapping":
            return self.walk_map(d, o, u, schema if isinstance(schema, dict) else None, path), False
        if kind == "list":
            rule = schema if isinstance(schema, ListRule) else None
            if rule is None and schema is None and self.infer:
                rule = _inferred(d, o, u)
            if rule is not None:
                return self.walk_alist(d, o, u, rule, path), False
            return self.visit_value(d, o, u, lists=True)
        return self.visit_value(d, o, u, lists=False)

    def visit_value(self, d: Any, o: Any, u: Any, *, lists: bool) -> tuple[Any, bool]:
        """kpt's VisitScalar / visitNAList: (value, taken from updated)."""
        if _cleared(o, u) or _cleared(o, d):
            return MISSING, False
        if _null(u) != _null(o):
            take = True
        elif _null(u) and _null(o):
            take = False
        else:
            take = not same_content(o, u) if lists else scalar_text(u) != scalar_text(o)
        if take and not _null(u):
            self.took_updated = True
        return (u, True) if take else (d, False)

    def walk_map(self, d: Any, o: Any, u: Any, schema: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
        if _cleared(o, u) or _cleared(o, d):
            return MISSING
        if (d is MISSING and u is MISSING) or (d is None and not isinstance(u, dict)):
            return MISSING  # absent from both, or a null kept local (kyaml then clears the field)
        sample = next((s for s in (d, u, o) if isinstance(s, dict)), None)
        if not isinstance(d, dict):
            d = new_map() if isinstance(sample, CommentedMap) or sample is None else {}
        sources = [s if isinstance(s, dict) else {} for s in (d, o, u)]
        keys: dict[Any, None] = {}
        for source in sources:
            keys.update(dict.fromkeys(source))
        for key in sorted(keys, key=str):
            dv, ov, uv = (s.get(key, MISSING) for s in sources)
            value, from_updated = self.walk(dv, ov, uv, schema.get(str(key)) if schema else None, (*path, str(key)))
            self.set_field(d, key, value, u if from_updated else None)
        return d

    @staticmethod
    def set_field(d: Any, key: Any, value: Any, updated: Any) -> None:
        """Set (or clear) ``d[key]``; ``updated`` is the updated map when the value is its node."""
        if _null(value):
            if key in d:
                del d[key]
            return
        if key in d:
            old = d[key]
            if value is old:
                return
            d[key] = _keep_style(old, value)
            if updated is not None and not isinstance(value, (dict, list)):
                _take_line_comment(d, key, updated)
            return
        d[key] = value
        if updated is not None:
            _take_line_comment(d, key, updated)

    def walk_alist(self, d: Any, o: Any, u: Any, rule: ListRule, path: tuple[str, ...]) -> Any:
        if _null(u) and not _null(o):
            return MISSING
        sample = next((s for s in (d, u, o) if isinstance(s, list)), None)
        if not isinstance(d, list):
            d = CommentedSeq() if isinstance(sample, CommentedSeq) or sample is None else []
        sources = [s if isinstance(s, list) else [] for s in (d, o, u)]
        if not rule.keys:
            self.merge_scalar_set(d, sources)
            return d
        values: dict[tuple[str, ...], None] = {}
        for source in sources:
            for element in source:
                ident = _element_id(element, rule.keys)
                if ident is not None:
                    values.setdefault(ident, None)
        for ident in values:
            keys = tuple(k for k, v in zip(rule.keys, ident, strict=True) if v) or rule.keys
            wanted = tuple(v for v in ident if v) or ident
            found = [_find(s, keys, wanted) for s in sources]
            value, _ = self.walk(*(s[i] if i is not None else MISSING for s, i in zip(sources, found, strict=True)),
                                 rule.item, (*path, f"[{','.join(f'{k}={v}' for k, v in zip(keys, wanted, strict=True))}]"))
            at = found[0]
            if _null(value) or (isinstance(value, dict) and not value):
                if at is not None:
                    del d[at]
                continue
            if isinstance(value, dict):
                for k, v in zip(keys, wanted, strict=True):
                    if k not in value:
                        value[k] = v
            if at is None:
                d.append(value)
            elif d[at] is not value:
                d[at] = value
        return d

    def merge_scalar_set(self, d: list[Any], sources: list[list[Any]]) -> None:
        seen: dict[str, None] = {}
        for source in sources:
            for item in source:
                if not isinstance(item, (dict, list)):
                    seen.setdefault(scalar_text(item), None)
        for text in seen:
            found = [next((x for x in s if not isinstance(x, (dict, list)) and scalar_text(x) == text), MISSING)
                     for s in sources]
            value, _ = self.visit_value(*found, lists=False)
            at = next((i for i, x in enumerate(d) if not isinstance(x, (dict, list)) and scalar_text(x) == text),
                      None)
            if _null(value):
                if at is not None:
                    del d[at]
            elif at is None:
                d.append(value)


def _element_id(element: Any, keys: tuple[str, ...]) -> tuple[str, ...] | None:
    if not isinstance(element, dict):
        return None
    ident = tuple(scalar_text(element.get(k)) for k in keys)
    return ident if any(ident) else None


def _find(items: list[Any], keys: tuple[str, ...], values: tuple[str, ...]) -> int | None:
    for index, element in enumerate(items):
        if isinstance(element, dict) and all(
            k in element and scalar_text(element[k]) == v for k, v in zip(keys, values, strict=True)
        ):
            return index
    return None


def _inferred(d: Any, o: Any, u: Any) -> ListRule | None:
    """kyaml's inference (Kptfile merge only): a list whose elements all have ``name``."""
    lists = [s for s in (d, o, u) if isinstance(s, list) and s]
    if lists and all(all(isinstance(e, dict) and "name" in e for e in s) for s in lists):
        return ListRule(("name",))
    return None


def merge_resource(
    dest: Any, origin: Any, updated: Any, schema: Schema | None, *, infer: bool = False
) -> tuple[Any, bool]:
    """Merge one resource three ways into ``dest``; returns (result, whether any value came from updated).

    The result is ``dest`` itself, changed in place (MISSING if the merge cleared it).
    Raises ``KindMismatch`` when the sources disagree on a field's kind.
    """
    walk = _Walk(infer=infer)
    result, _ = walk.walk(dest, origin, updated, schema, ())
    return result, walk.took_updated

