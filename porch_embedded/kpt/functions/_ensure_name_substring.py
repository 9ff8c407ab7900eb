"""ensure-name-substring: make every resource name contain a prefix or a suffix.

Behaves as the catalog's ``ensure-name-substring`` image (kustomize's prefix/suffix
transformer plus its name-reference transformer):

- Config: a ConfigMap whose ``data`` holds exactly one of ``prepend`` / ``append`` (the
  value is the substring), or an ``EnsureNameSubstring`` object with ``substring``,
  ``editMode`` (``prepend``, the default, or ``append``) and ``additionalNameFields``
  (``fieldSpecs`` is the deprecated spelling; both are honoured) of kustomize field specs
  ``{group?, version?, kind?, path: a/b/c, create?}``.
- Every item's ``metadata.name`` (and each additional name field) gets the substring unless
  it already contains it anywhere, so the function is idempotent. CustomResourceDefinition,
  Namespace and APIService are left alone, and so is the Kptfile (the catalog's cases show
  the package's Kptfile passing through unchanged). local-config items, including the
  function's own config file, are renamed like any other.
- Name references: fields that kustomize's name-reference table (``_NAME_REFERENCES``) knows
  to point at a renamed resource (a Pod's ``configMapKeyRef.name``, a binding's
  ``roleRef.name`` and ``subjects``, ...) follow the rename, with kustomize's namespace and
  ``roleRef.kind`` rules.
- ``config.kubernetes.io/depends-on`` annotations (``group/namespaces/ns/kind/name`` or
  ``group/kind/name``, comma-separated) pointing at a resource renamed in this call get
  the new name; references to resources outside the input are kept.
- Output items keep every annotation they came with, the path/index/id annotations
  included, so kpt writes each resource back to its own file and restores its comments.
  Catalog releases v0.2.1-v0.2.4 stripped those annotations (a side effect of kustomize's
  build annotations), which made kpt move every resource to ``<ns>/<kind>_<name>.yaml``;
  krm-functions-catalog PR #1285 (2026-07) fixed that, and we follow the fixed image.
- No results are written on success; a bad functionConfig is an error result, exit 1.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap

from porch_embedded.kpt.functions._krm import config_data, scalar_like
from porch_embedded.kpt.functions._registry import FunctionError, builtin

__all__ = ["FieldSpec", "ensure_name_substring", "with_substring"]

DEPENDS_ON = "config.kubernetes.io/depends-on"
PREPEND, APPEND = "prepend", "append"
_SKIPPED_KINDS = frozenset({"CustomResourceDefinition", "Namespace", "APIService"})
_CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


@dataclass(frozen=True)
class FieldSpec:
    """A kustomize field spec: which items (group/version/kind, empty = any) and which field."""

    path: tuple[str, ...]
    kind: str = ""
    group: str = ""
    version: str = ""
    create: bool = False

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> FieldSpec:
        """Read ``{group, version, kind, path, create}``; ``path`` is slash-separated, ``\\/`` escapes."""
        path = str(spec.get("path") or "")
        if not path:
            raise FunctionError(f"additionalNameFields: `path` is required in {dict(spec)}")
        return cls(
            path=_split_path(path),
            kind=str(spec.get("kind") or ""),
            group=str(spec.get("group") or ""),
            version=str(spec.get("version") or ""),
            create=bool(spec.get("create")),
        )

    def selects(self, item: Mapping[str, Any]) -> bool:
        """Whether the item's group, version and kind match the spec's non-empty ones."""
        group, version = _group_version(item)
        return (
            (not self.kind or self.kind == item.get("kind"))
            and (not self.group or self.group == group)
            and (not self.version or self.version == version)
        )


def _split_path(path: str) -> tuple[str, ...]:
    """Split ``a/b\\/c`` into ``("a", "b/c")`` as kustomize reads field spec paths."""
    parts, current, index = [], "", 0
    while index < len(path):
        if path.startswith("\\/", index):
            current += "/"
            index += 2
        elif path[index] == "/":
            parts.append(current)
            current = ""
            index += 1
        else:
            current += path[index]
            index += 1
    parts.append(current)
    return tuple(parts)


def _group_version(item: Mapping[str, Any]) -> tuple[str, str]:
    api_version = str(item.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    return group, version


def _metadata(item: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = item.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _namespace(item: Mapping[str, Any]) -> str:
    return str(_metadata(item).get("namespace") or "")


def _same_namespace(left: str, right: str) -> bool:
    """kustomize treats an unset namespace as ``default``."""
    return (left or "default") == (right or "default")


def with_substring(name: str, substring: str, mode: str) -> str:
    """``name`` with ``substring`` prepended or appended, unchanged if it already contains it."""
    if substring in name:
        return name
    return substring + name if mode == PREPEND else name + substring


# ------------------------------------------------------------------ name references


@dataclass(frozen=True)
class _Referral:
    """A kind whose name other resources refer to, and the fields that refer to it."""

    kind: str
    group: str
    version: str
    referrers: tuple[FieldSpec, ...]

    def matches(self, item: Mapping[str, Any]) -> bool:
        return FieldSpec(path=(), kind=self.kind, group=self.group, version=self.version).selects(item)


def _specs(kinds: tuple[str, ...], prefix: str, tails: tuple[str, ...], **gvk: str) -> list[FieldSpec]:
    return [FieldSpec(path=_split_path(prefix + tail), kind=kind, **gvk) for kind in kinds for tail in tails]


_WORKLOADS = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job")
_CONFIGMAP_TAILS = (
    "volumes/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "volumes/projected/sources/configMap/name",
)
_SECRET_TAILS = (
    "volumes/secret/secretName",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "volumes/projected/sources/secret/name",
)
_POD_REFERRERS = ("StatefulSet", "Deployment", "ReplicationController", "Job", "DaemonSet")


def _config_refs(tails: tuple[str, ...]) -> list[FieldSpec]:
    """The same pod-spec fields in a v1 Pod, a PodTemplate, the workloads and a CronJob."""
    return (
        _specs(("Pod",), "spec/", tails, version="v1")
        + _specs(("PodTemplate",), "template/spec/", tails)
        + _specs(_WORKLOADS, "spec/template/spec/", tails)
        + _specs(("CronJob",), "spec/jobTemplate/spec/template/spec/", tails)
    )


# kustomize's default name-reference table (api/konfig/builtinpluginconsts/namereference.go as
# vendored by the catalog image), written as data. Quirks kept on purpose: ConfigMap and Secret
# references are not followed in ReplicationControllers, and the IngressClass entry names the
# group "networking.k8s.io/v1", which no resource has, so ingressClassName is never updated.
_NAME_REFERENCES: tuple[_Referral, ...] = tuple(
    [
        _Referral(kind, "", "", tuple(_specs(("HorizontalPodAutoscaler",), "", ("spec/scaleTargetRef/name",))))
        for kind in ("Deployment", "ReplicationController", "ReplicaSet", "StatefulSet")
    ]
    + [
        _Referral(
            "ConfigMap",
            "",
            "v1",
            tuple(
                _config_refs(_CONFIGMAP_TAILS)
                + _specs(("Node",), "", ("spec/configSource/configMap",))
                + _specs(("Role", "ClusterRole"), "", ("rules/resourceNames",))
                + _specs(("Ingress",), "", ("metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",))
            ),
        ),
        _Referral(
            "Secret",
            "",
            "v1",
            tuple(
                _config_refs(_SECRET_TAILS)
                + _specs(
                    ("Ingress",),
                    "",
                    (
                        "spec/tls/secretName",
                        "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
                        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
                        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
                    ),
                )
                + _specs(("ServiceAccount",), "", ("imagePullSecrets/name",))
                + _specs(
                    ("StorageClass",),
                    "parameters/",
                    ("secretName", "adminSecretName", "userSecretName", "secretRef"),
                )
                + _specs(("Role", "ClusterRole"), "", ("rules/resourceNames",))
                + _specs(
                    ("Service",),
                    "",
                    ("spec/template/spec/containers/env/valueFrom/secretKeyRef/name",),
                    group="serving.knative.dev",
                    version="v1",
                )
                + _specs(("PersistentVolume",), "", ("spec/azureFile/secretName",))
            ),
        ),
        _Referral(
            "Service",
            "",
            "v1",
            tuple(
                _specs(("StatefulSet",), "", ("spec/serviceName",), group="apps")
                + _specs(
                    ("Ingress",),
                    "spec/",
                    (
                        "rules/http/paths/backend/serviceName",
                        "backend/serviceName",
                        "rules/http/paths/backend/service/name",
                        "defaultBackend/service/name",
                    ),
                )
                + _specs(("APIService",), "", ("spec/service/name",), group="apiregistration.k8s.io")
                + _specs(
                    ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"),
                    "",
                    ("webhooks/clientConfig/service",),
                    group="admissionregistration.k8s.io",
                )
            ),
        ),
        _Referral(
            "Role",
            "rbac.authorization.k8s.io",
            "",
            tuple(_specs(("RoleBinding",), "", ("roleRef/name",), group="rbac.authorization.k8s.io")),
        ),
        _Referral(
            "ClusterRole",
            "rbac.authorization.k8s.io",
            "",
            tuple(
                _specs(("RoleBinding", "ClusterRoleBinding"), "", ("roleRef/name",), group="rbac.authorization.k8s.io")
            ),
        ),
        _Referral(
            "ServiceAccount",
            "",
            "v1",
            tuple(
                _specs(("RoleBinding", "ClusterRoleBinding"), "", ("subjects",), group="rbac.authorization.k8s.io")
                + _specs(("Pod",), "", ("spec/serviceAccountName",))
                + _specs(_POD_REFERRERS, "spec/template/spec/", ("serviceAccountName",))
                + _specs(("CronJob",), "spec/jobTemplate/spec/template/spec/", ("serviceAccountName",))
            ),
        ),
        _Referral(
            "PersistentVolumeClaim",
            "",
            "v1",
            tuple(
                _specs(("Pod",), "spec/", ("volumes/persistentVolumeClaim/claimName",))
                + _specs(_POD_REFERRERS, "spec/template/spec/", ("volumes/persistentVolumeClaim/claimName",))
                + _specs(("CronJob",), "spec/jobTemplate/spec/template/spec/", ("volumes/persistentVolumeClaim/claimName",))
            ),
        ),
        _Referral(
            "PersistentVolume",
            "",
            "v1",
            tuple(
                _specs(("PersistentVolumeClaim",), "", ("spec/volumeName",))
                + _specs(("ClusterRole",), "", ("rules/resourceNames",))
            ),
        ),
        _Referral(
            "StorageClass",
            "storage.k8s.io",
            "v1",
            tuple(
                _specs(("PersistentVolume", "PersistentVolumeClaim"), "", ("spec/storageClassName",))
                + _specs(("StatefulSet",), "", ("spec/volumeClaimTemplates/spec/storageClassName",))
            ),
        ),
        _Referral(
            "PriorityClass",
            "scheduling.k8s.io",
            "v1",
            tuple(
                _specs(("Pod",), "", ("spec/priorityClassName",))
                + _specs(_POD_REFERRERS, "spec/template/spec/", ("priorityClassName",))
                + _specs(("CronJob",), "spec/jobTemplate/spec/template/spec/", ("priorityClassName",))
            ),
        ),
        _Referral(
            "IngressClass",
            "networking.k8s.io/v1",
            "v1",
            tuple(_specs(("Ingress",), "", ("spec/ingressClassName",))),
        ),
        _Referral(
            "ValidatingAdmissionPolicy",
            "admissionregistration.k8s.io",
            "",
            tuple(
                _specs(
                    ("ValidatingAdmissionPolicyBinding",),
                    "",
                    ("spec/policyName",),
                    group="admissionregistration.k8s.io",
                )
            ),
        ),
    ]
)


def _fields(node: Any, path: tuple[str, ...], *, create: bool = False) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value at a field-spec path; lists are walked through implicitly.

    With ``create``, a missing last field of an existing mapping is created (as ``""``), as
    kustomize's field-spec filter does for ``create: true``.
    """
    if isinstance(node, list):
        for element in node:
            yield from _fields(element, path, create=create)
        return
    if not path or not isinstance(node, Mapping):
        return
    head, rest = path[0], path[1:]
    if head not in node:
        if create and isinstance(node, CommentedMap):
            node[head] = "" if not rest else CommentedMap()
        else:
            return
    if not rest:
        yield node, head
        return
    yield from _fields(node[head], rest, create=create)


@dataclass(frozen=True)
class _Rename:
    """One resource renamed by this call: its identity before, and the name after."""

    item: Mapping[str, Any]
    old: str
    new: str


def _referral_allowed(rename: _Rename, referrer: Mapping[str, Any]) -> bool:
    """kustomize's namespace rule: same namespace unless either side is cluster scoped."""
    if referrer.get("kind") in _CLUSTER_SCOPED_KINDS or rename.item.get("kind") in _CLUSTER_SCOPED_KINDS:
        return True
    if rename.item.get("kind") == "ServiceAccount":  # bindings may name accounts of other namespaces
        return True
    return _same_namespace(_namespace(referrer), _namespace(rename.item))


def _update_reference(
    container: Any, key: Any, referrer: Mapping[str, Any], field: FieldSpec, renames: list[_Rename]
) -> None:
    """Point the value at ``container[key]`` at the new name if it names a renamed referral.

    The value is a name, a list of names, or a ``{name, namespace?}`` mapping (a webhook's
    service, a binding's subject); an explicit namespace must match the referral's.
    """
    value = container[key]
    if isinstance(value, list):
        for index in range(len(value)):
            _update_reference(value, index, referrer, field, renames)
        return
    if isinstance(value, Mapping):
        _update_mapping_reference(value, referrer, field, renames)
        return
    if not isinstance(value, str):
        return
    for rename in renames:
        if value != rename.old or not _referral_allowed(rename, referrer):
            continue
        if field.path[-2:] == ("roleRef", "name") and container.get("kind") != rename.item.get("kind"):
            continue  # a Role and a ClusterRole may share a name; roleRef.kind says which
        container[key] = scalar_like(value, rename.new)
        return


def _update_mapping_reference(
    value: Any, referrer: Mapping[str, Any], field: FieldSpec, renames: list[_Rename]
) -> None:
    name = value.get("name")
    if not isinstance(name, str):
        return
    namespace = value.get("namespace")
    if field.path[-1] == "subjects":
        if value.get("kind") != "ServiceAccount":
            return
        namespace = namespace or _namespace(referrer)
    for rename in renames:
        if name != rename.old:
            continue
        if namespace is not None:
            if not _same_namespace(str(namespace), _namespace(rename.item)):
                continue
        elif not _referral_allowed(rename, referrer):
            continue
        value["name"] = scalar_like(name, rename.new)
        return


def _update_name_references(items: list[Any], renames: list[_Rename]) -> None:
    for referral in _NAME_REFERENCES:
        targets = [rename for rename in renames if referral.matches(rename.item)]
        if not targets:
            continue
        for item in items:
            for field in referral.referrers:
                if not field.selects(item):
                    continue
                for container, key in list(_fields(item, field.path)):
                    _update_reference(container, key, item, field, targets)


def _update_depends_on(items: list[Any], renames: list[_Rename], substring: str, mode: str) -> None:
    """Rewrite the name part of depends-on references to resources renamed in this call."""
    renamed = {(_group_version(r.item)[0], str(r.item.get("kind") or ""), r.old) for r in renames}
    for item in items:
        notes = _metadata(item).get("annotations")
        if not isinstance(notes, Mapping) or not isinstance(notes.get(DEPENDS_ON), str):
            continue
        old = notes[DEPENDS_ON]
        parts = [_depends_on_entry(entry, renamed, substring, mode) for entry in old.split(",")]
        new = ",".join(parts)
        if new != old:
            notes[DEPENDS_ON] = scalar_like(old, new)  # type: ignore[index]


def _depends_on_entry(entry: str, renamed: set[tuple[str, str, str]], substring: str, mode: str) -> str:
    """One ``group/namespaces/ns/kind/name`` or ``group/kind/name`` reference, renamed if ours."""
    segments = entry.strip().split("/")
    if len(segments) == 5 and segments[1] == "namespaces":
        group, kind, name = segments[0], segments[3], segments[4]
    elif len(segments) == 3:
        group, kind, name = segments
    else:
        return entry
    if (group, kind, name) not in renamed:
        return entry
    segments[-1] = with_substring(name, substring, mode)
    lead = entry[: len(entry) - len(entry.lstrip())]
    return lead + "/".join(segments)


# ------------------------------------------------------------------ config and entry point


@dataclass(frozen=True)
class _Config:
    substring: str
    mode: str
    fields: tuple[FieldSpec, ...]


def _read_config(function_config: Any) -> _Config:
    """The substring, edit mode and extra name fields from either functionConfig form."""
    if not isinstance(function_config, Mapping) or not function_config:
        raise FunctionError(
            "functionConfig is missing: give a ConfigMap with `data.prepend` or `data.append`, "
            "or an EnsureNameSubstring with `substring`"
        )
    kind = function_config.get("kind")
    if kind == "ConfigMap":
        data = config_data(function_config)
        if len(data) != 1 or next(iter(data)) not in (PREPEND, APPEND):
            raise FunctionError(
                "ConfigMap functionConfig must have exactly one key in `data`: `prepend` or `append`, "
                f"got {sorted(data)}"
            )
        mode, substring = next(iter(data.items()))
        specs: list[Any] = []
    elif kind == "EnsureNameSubstring":
        substring = "" if function_config.get("substring") is None else str(function_config["substring"])
        mode = str(function_config.get("editMode") or PREPEND)
        if mode not in (PREPEND, APPEND):
            raise FunctionError(f"EnsureNameSubstring: `editMode` must be `prepend` or `append`, got {mode!r}")
        specs = []
        for key in ("additionalNameFields", "fieldSpecs"):
            value = function_config.get(key)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(spec, Mapping) for spec in value):
                raise FunctionError(f"EnsureNameSubstring: `{key}` must be a list of field specs")
            specs.extend(value)
    else:
        raise FunctionError(
            f"unknown functionConfig kind {kind!r}: expect `ConfigMap` or `EnsureNameSubstring`"
        )
    if not substring:
        raise FunctionError("the name substring must not be empty")
    return _Config(substring, mode, tuple(FieldSpec.parse(spec) for spec in specs))


def _skipped(item: Mapping[str, Any]) -> bool:
    if item.get("kind") in _SKIPPED_KINDS:
        return True
    return item.get("kind") == "Kptfile" and _group_version(item)[0] == "kpt.dev"


@builtin("ensure-name-substring")
def ensure_name_substring(resource_list: Any) -> None:
    """Add the configured substring to every item's name and follow the renames in references."""
    config = _read_config(resource_list.get("functionConfig"))
    items = [item for item in resource_list.get("items") or [] if isinstance(item, Mapping)]
    renames: list[_Rename] = []
    name_field = FieldSpec(path=("metadata", "name"))
    for item in items:
        if _skipped(item):
            continue
        for field in (name_field, *config.fields):
            if not field.selects(item):
                continue
            for container, key in list(_fields(item, field.path, create=field.create)):
                old = container[key]
                if isinstance(old, (Mapping, list)) or old is None:
                    continue
                new = with_substring(str(old), config.substring, config.mode)
                if new == str(old):
                    continue
                container[key] = scalar_like(old, new)
                if field is name_field:
                    renames.append(_Rename(item, str(old), new))
    if renames:
        _update_name_references(items, renames)
        _update_depends_on(items, renames, config.substring, config.mode)
