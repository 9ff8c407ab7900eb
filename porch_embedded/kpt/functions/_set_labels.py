"""set-labels, as the catalog image (Go SDK, v0.2) behaves (reference kpt.md §4.2).

Sets each label (keys sorted) on ``metadata.labels`` of every non-local-config item and
on the selector and template fields of the workload kinds, creating a field only where
the image creates it. Messages and exit codes mirror the image's.
"""

from __future__ import annotations

from typing import Any

from porch_embedded.kpt import new_map
from porch_embedded.kpt.functions._registry import FunctionExit, builtin

LOCAL_CONFIG = "config.kubernetes.io/local-config"
SDK_FAILURE = "failed to evaluate function: error: function failure"

_POD_TEMPLATE_KINDS = {"ReplicationController", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"}
_MATCH_LABELS_CREATE = {"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"}
_MATCH_LABELS_UPDATE = {"Job", "PodDisruptionBudget"}


def _is_local_config(item: Any) -> bool:
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
    value = annotations.get(LOCAL_CONFIG)
    return value is not None and str(value).lower() != "false"


def _dig(obj: Any, keys: tuple[str, ...], create: bool) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        nxt = obj.get(key)
        if nxt is None:
            if not create:
                return None
            nxt = obj[key] = new_map()
        obj = nxt
    return obj if isinstance(obj, dict) else None


def _labels_config(function_config: Any) -> dict[str, str] | str | None:
    """The labels to set, an error message, or None when no config was given."""
    if not isinstance(function_config, dict):
        return None
    kind = str(function_config.get("kind") or "")
    api_version = str(function_config.get("apiVersion") or "")
    if kind == "ConfigMap" and api_version == "v1":
        data = function_config.get("data")
        if not isinstance(data, dict) or not data:
            return None
        return {str(k): str(v) for k, v in data.items()}
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    if kind == "SetLabels" and group == "fn.kpt.dev":
        labels = function_config.get("labels")
        if labels is not None and not isinstance(labels, dict):
            kind_of = "array" if isinstance(labels, list) else "string"
            return (
                "unable to convert object to *setlabels.SetLabels with error: json: cannot unmarshal "
                f"{kind_of} into Go struct field SetLabels.labels of type map[string]string"
            )
        return {str(k): str(v) for k, v in (labels or {}).items()}
    return f"unknown FunctionConfig `{kind}.{group}`, expect `SetLabels.fn.kpt.dev` or `ConfigMap.v1`"


@builtin("set-labels")
def set_labels(resource_list: Any) -> FunctionExit | None:
    """Set the configured labels on every resource and its selectors/templates."""
    results = resource_list.setdefault("results", [])
    config = _labels_config(resource_list.get("functionConfig"))
    if config is None:
        results.append({"message": "`FunctionConfig` is not given", "severity": "info"})
        return FunctionExit(1, SDK_FAILURE)
    if isinstance(config, str):
        results.append({"message": config, "severity": "error"})
        return FunctionExit(1, SDK_FAILURE)
    items = [i for i in resource_list.get("items") or [] if isinstance(i, dict) and not _is_local_config(i)]
    if not items:
        results.append({"message": "no input resources", "severity": "info"})
        return None
    if not config:
        results.append({"message": "no `labels` arguments are given in FunctionConfig", "severity": "warning"})
        return None
    count = 0

    def apply(target: Any) -> None:
        nonlocal count
        if not isinstance(target, dict):
            return
        for key in sorted(config):
            if target.get(key) != config[key]:
                target[key] = config[key]
            count += 1

    for item in items:
        kind = str(item.get("kind") or "")
        apply(_dig(item, ("metadata", "labels"), True))
        if kind in ("Service", "ReplicationController"):
            apply(_dig(item, ("spec", "selector"), True))
        if kind in _MATCH_LABELS_CREATE:
            apply(_dig(item, ("spec", "selector", "matchLabels"), True))
        if kind in _MATCH_LABELS_UPDATE:
            apply(_update_only(_dig(item, ("spec", "selector", "matchLabels"), False), config))
        if kind in _POD_TEMPLATE_KINDS:
            apply(_dig(item, ("spec", "template", "metadata", "labels"), True))
        if kind == "CronJob":
            apply(_dig(item, ("spec", "jobTemplate", "metadata", "labels"), True))
            apply(_update_only(_dig(item, ("spec", "jobTemplate", "spec", "selector", "matchLabels"), False), config))
            apply(_dig(item, ("spec", "jobTemplate", "spec", "template", "metadata", "labels"), True))
        if kind == "StatefulSet":
            for claim in _dig(item, ("spec",), False).get("volumeClaimTemplates") or [] if _dig(item, ("spec",), False) else []:
                apply(_dig(claim, ("metadata", "labels"), True))
                apply(_update_only(_dig(claim, ("spec", "selector", "matchLabels"), False), config))
        if kind == "NetworkPolicy":
            apply(_update_only(_dig(item, ("spec", "podSelector", "matchLabels"), False), config))
            spec = _dig(item, ("spec",), False) or {}
            for rule_key, peer_key in (("ingress", "from"), ("egress", "to")):
                for rule in spec.get(rule_key) or []:
                    for peer in (rule.get(peer_key) or []) if isinstance(rule, dict) else []:
                        apply(_update_only(_dig(peer, ("podSelector", "matchLabels"), False), config))
    results.append({"message": f"set {count} labels in total", "severity": "info"})
    return None





def _update_only(target: Any, config: dict[str, str]) -> Any:
    if not isinstance(target, dict) or not any(k in target for k in config):
        return None
    return _Partial(target, config)


class _Partial(dict):  # type: ignore[type-arg]
    """Sets only keys the wrapped mapping already has (update-only fields)."""

    def __init__(self, target: Any, config: dict[str, str]) -> None:
        super().__init__()
        self._target = target
        self._keys = {k for k in config if k in target}

    def get(self, key: Any, default: Any = None) -> Any:
        return self._target.get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        if key in self._keys:
            self._target[key] = value
