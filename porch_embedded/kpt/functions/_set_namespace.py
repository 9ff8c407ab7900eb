"""set-namespace, as the catalog image (Go SDK, v0.4) behaves (reference kpt.md §4.2).

Sets ``metadata.namespace`` on namespace-scoped objects, renames ``v1 Namespace``,
and updates the namespace references kpt knows about (RoleBinding subjects, CRD
conversion webhook service, APIService service, ``depends-on`` annotations). Items
marked local-config are left alone. Results and exit codes mirror the image's.
"""

from __future__ import annotations

from typing import Any

from porch_embedded.kpt._resourcelist import UPSTREAM_IDENTIFIER
from porch_embedded.kpt.functions._registry import FunctionExit, builtin

DEPENDS_ON = "config.kubernetes.io/depends-on"
LOCAL_CONFIG = "config.kubernetes.io/local-config"
SDK_FAILURE = "failed to evaluate function: error: function failure"

# Built-in cluster-scoped kinds (everything else known to Kubernetes is namespaced).
_CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
        "CustomResourceDefinition", "APIService", "StorageClass", "PriorityClass",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "CSIDriver", "CSINode",
        "VolumeAttachment", "RuntimeClass", "PodSecurityPolicy", "CertificateSigningRequest",
        "ComponentStatus", "IngressClass", "FlowSchema", "PriorityLevelConfiguration",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "TokenReview",
        "SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview",
    }
)
_NAMESPACED = frozenset(
    {
        "Pod", "Service", "ConfigMap", "Secret", "ServiceAccount", "Endpoints", "Event", "LimitRange",
        "PersistentVolumeClaim", "PodTemplate", "ReplicationController", "ResourceQuota", "Binding",
        "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision", "Job", "CronJob",
        "Role", "RoleBinding", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler",
        "Lease", "EndpointSlice", "CSIStorageCapacity", "LocalSubjectAccessReview",
    }
)


def _meta(item: Any) -> Any:
    metadata = item.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _annotations(item: Any) -> Any:
    annotations = _meta(item).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _is_local_config(item: Any) -> bool:
    value = _annotations(item).get(LOCAL_CONFIG)
    return value is not None and str(value).lower() != "false"


def _group(item: Any) -> str:
    api_version = str(item.get("apiVersion") or "")
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _namespaced(item: Any) -> bool:
    kind = str(item.get("kind") or "")
    if kind in _CLUSTER_SCOPED:
        return False
    if kind in _NAMESPACED:
        return True
    return bool(_meta(item).get("namespace"))


def _origin_namespace(item: Any) -> str | None:
    identifier = _annotations(item).get(UPSTREAM_IDENTIFIER)
    if not identifier:
        return None
    parts = str(identifier).split("|")
    return parts[2] if len(parts) == 4 else None


def _id(item: Any) -> str:
    metadata = _meta(item)
    namespace = metadata.get("namespace") or ""
    return f"{item.get('apiVersion')}/{item.get('kind')}/{namespace}/{metadata.get('name')}".replace("//", "/")


def _config(function_config: Any) -> tuple[str, str] | str:
    """(namespace, matcher) from the functionConfig, or the error message."""
    if not isinstance(function_config, dict):
        return "FunctionConfig is missing. Expect `ConfigMap.v1` or `SetNamespace.v1alpha1.fn.kpt.dev`"
    kind = str(function_config.get("kind") or "")
    api_version = str(function_config.get("apiVersion") or "")
    if kind == "ConfigMap" and api_version == "v1":
        data = function_config.get("data") if isinstance(function_config.get("data"), dict) else {}
        if _meta(function_config).get("name") == "kptfile.kpt.dev" and "namespace" not in data:
            name = str(data.get("name") or "")
            return (name, "") if name else "`data.name` should not be empty"
        namespace = str(data.get("namespace") or "")
        if not namespace:
            return "`data.namespace` should not be empty"
        return namespace, str(data.get("namespaceMatcher") or "")
    if kind == "SetNamespace" and api_version.endswith("fn.kpt.dev/v1alpha1"):
        namespace = str(function_config.get("namespace") or "")
        if not namespace:
            return "`namespace` should not be empty"
        return namespace, str(function_config.get("namespaceMatcher") or "")
    return (
        f"unknown functionConfig Kind={kind} ApiVersion={api_version}, expect `ConfigMap.v1` or "
        "`SetNamespace.v1alpha1.fn.kpt.dev`"
    )


@builtin("set-namespace")
def set_namespace(resource_list: Any) -> FunctionExit | None:
    """Set the namespace of every namespaced resource (and the references to it)."""
    results = resource_list.setdefault("results", [])
    config = _config(resource_list.get("functionConfig"))
    if isinstance(config, str):
        if config.startswith("FunctionConfig is missing"):
            results.append({"message": config, "severity": "error", "resourceRef": {}, "file": {"index": -1}})
            return FunctionExit(0, "")
        results.append({"message": config, "severity": "error"})
        return FunctionExit(1, SDK_FAILURE)
    new_ns, matcher = config
    items = [i for i in resource_list.get("items") or [] if isinstance(i, dict) and not _is_local_config(i)]

    if not matcher:
        origins = sorted(
            {o for i in items if _namespaced(i) and (o := _origin_namespace(i)) is not None and o != "~C"}
        )
        if len(origins) > 1:
            results.append(
                {
                    "message": "unable to use origin `namespace` to match. expect a single upstream namespace, "
                    f"found [{' '.join(origins)}]. please use `namespaceMatcher` to specify the namespace to update",
                    "severity": "error",
                }
            )
            return FunctionExit(1, SDK_FAILURE)

    def matches(current: str) -> bool:
        return not matcher or current == matcher

    changed_from: list[str] = []
    count = 0
    # GKNN of in-package objects before the change, for depends-on rewriting.
    targets = {
        (_group(i), str(i.get("kind")), str(_meta(i).get("namespace") or ""), str(_meta(i).get("name")))
        for i in items
    }

    def change(container: Any, key: str) -> None:
        nonlocal count
        old = str(container.get(key) or "")
        if not matches(old) or old == new_ns:
            return
        if old not in changed_from:
            changed_from.append(old)
        container[key] = new_ns
        count += 1

    for item in items:
        kind = str(item.get("kind") or "")
        group = _group(item)
        metadata = item.get("metadata")
        if kind == "Namespace" and group == "":
            change(metadata, "name")
        elif _namespaced(item):
            if not metadata.get("namespace") and matches("default"):
                metadata["namespace"] = "default"
            change(metadata, "namespace")
        if kind in ("RoleBinding", "ClusterRoleBinding") and group == "rbac.authorization.k8s.io":
            for subject in item.get("subjects") or []:
                if isinstance(subject, dict) and "namespace" in subject:
                    change(subject, "namespace")
        if kind == "CustomResourceDefinition" and group == "apiextensions.k8s.io":
            service = _dig(item, "spec", "conversion", "webhook", "clientConfig", "service")
            if isinstance(service, dict) and "namespace" in service:
                change(service, "namespace")
        if kind == "APIService" and group == "apiregistration.k8s.io":
            service = _dig(item, "spec", "service")
            if isinstance(service, dict) and "namespace" in service:
                change(service, "namespace")

    if count:
        olds = " ".join(changed_from)
        results.append({"message": f'namespace [{olds}] updated to "{new_ns}", {count} value(s) changed', "severity": "info"})
    else:
        results.append({"message": f'all matching namespaces are already "{new_ns}". no value changed', "severity": "info"})

    dep_from: list[str] = []
    dep_count = 0
    for item in items:
        annotations = _annotations(item)
        value = annotations.get(DEPENDS_ON)
        if not value:
            continue
        refs = str(value).split(",")
        new_refs = []
        for ref in refs:
            parts = ref.strip().split("/")
            if len(parts) == 5 and parts[1] == "namespaces":
                group, _, ns, kind, name = parts
                if (group, kind, ns, name) in targets and matches(ns) and ns != new_ns:
                    if ns not in dep_from:
                        dep_from.append(ns)
                    parts[2] = new_ns
                    dep_count += 1
            new_refs.append("/".join(parts))
        if new_refs != [r.strip() for r in refs]:
            annotations[DEPENDS_ON] = ",".join(new_refs)
    if dep_count:
        results.append(
            {
                "message": f'`depends-on` annotation namespace [{" ".join(dep_from)}] updated to "{new_ns}", '
                f"{dep_count} value(s) changed",
                "severity": "info",
            }
        )
    else:
        results.append({"message": "all `depends-on` annotations are up-to-date. no `namespace` changed", "severity": "info"})
    return None


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj
