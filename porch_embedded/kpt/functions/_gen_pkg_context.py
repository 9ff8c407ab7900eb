"""builtins/gen-pkg-context: (re)generate package-context.yaml (reference kpt.md §2.6).

For the Kptfile at the root of the function's scope (path exactly ``Kptfile``) it
drops any existing ``kptfile.kpt.dev`` ConfigMap and emits a fresh one with
``data.name`` = the package name (and ``data.package-path`` when the functionConfig,
a PackageConfig, gives one).
"""

from __future__ import annotations

from typing import Any

from porch_embedded.kpt import PACKAGE_CONTEXT, package_context
from porch_embedded.kpt.functions._registry import builtin

PATH = "internal.config.kubernetes.io/path"
LEGACY_PATH = "config.kubernetes.io/path"


def _path(item: Any) -> str:
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
    return str(annotations.get(PATH) or annotations.get(LEGACY_PATH) or "")


@builtin("gen-pkg-context")
def gen_pkg_context(resource_list: Any) -> None:
    """Replace the package-context ConfigMap of the root Kptfile in scope."""
    items = resource_list.get("items") or []
    config = resource_list.get("functionConfig")
    package_path = None
    if isinstance(config, dict) and config.get("kind") == "PackageConfig":
        package_path = config.get("spec", {}).get("packagePath") if isinstance(config.get("spec"), dict) else None
        package_path = package_path or config.get("packagePath")
    kptfiles = [i for i in items if isinstance(i, dict) and i.get("kind") == "Kptfile" and _path(i) == "Kptfile"]
    results = resource_list.setdefault("results", [])
    if not kptfiles:
        return
    name = str((kptfiles[0].get("metadata") or {}).get("name") or "")
    kept = [
        i
        for i in items
        if not (isinstance(i, dict) and i.get("kind") == "ConfigMap"
                and (i.get("metadata") or {}).get("name") == "kptfile.kpt.dev")
    ]
    context = package_context(name, package_path)
    context["metadata"]["annotations"][PATH] = PACKAGE_CONTEXT
    context["metadata"]["annotations"][LEGACY_PATH] = PACKAGE_CONTEXT
    kept.append(context)
    items[:] = kept
    results.append({"message": "generated package context", "severity": "info"})
