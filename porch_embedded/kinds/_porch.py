"""porch.kpt.dev/v1alpha1: PackageRevision, PackageRevisionResources, Package (PorchPackage).

The engine owns every write of these kinds; this module only describes them: fields,
printer columns, selectable fields, as Porch serves them.
"""

from __future__ import annotations

import re
from dataclasses import replace

from porch_embedded.kinds._common import condition_schema, envelope
from porch_embedded.kinds._kind import Kind, PrinterColumn, SelectableField
from porch_embedded.kinds._schema import array, boolean, integer, obj, preserve, string, string_map

__all__ = ["LIFECYCLES", "PACKAGE", "PACKAGE_REVISION", "PACKAGE_REVISION_RESOURCES"]

GROUP, VERSION = "porch.kpt.dev", "v1alpha1"
_API_VERSION = f"{GROUP}/{VERSION}"
LIFECYCLES = ("Draft", "Proposed", "Published", "DeletionProposed")

_git_lock = obj({"repo": string(), "directory": string(), "ref": string(), "commit": string()})
_lock = obj({"type": string(enum=["git", "oci"]), "git": _git_lock})
_git_upstream = obj({"repo": string(), "ref": string(), "directory": string(),
                     "secretRef": obj({"name": string()})})
_upstream_package = obj(
    {
        "type": string(enum=["git", "oci"]),
        "git": _git_upstream,
        "oci": obj({"image": string()}),
        "upstreamRef": obj({"name": string()}),
    }
)
_task = obj(
    {
        "type": string(enum=["init", "clone", "edit", "upgrade", "render", "push", "patch", "eval", "update"]),
        "init": obj({"subpackage": string(), "description": string(), "keywords": array(string()),
                     "site": string()}),
        "clone": obj({"upstreamRef": _upstream_package, "strategy": string()}),
        "edit": obj({"sourceRef": obj({"name": string()})}),
        "upgrade": obj({"oldUpstreamRef": obj({"name": string()}), "newUpstreamRef": obj({"name": string()}),
                        "localPackageRevisionRef": obj({"name": string()}), "strategy": string()}),
        "patch": preserve(),
        "eval": preserve(),
        "update": preserve(),
    },
    required=("type",),
)
_GO_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def _revision_number(text: str) -> str:
    """Porch's reading of a spec.revision selector: ``v1`` and ``1`` are 1; anything else is -1.

    -1 is the branch placeholder's revision, so ``spec.revision=main`` selects placeholders,
    as in Porch (repository.Revision2Int).
    """
    digits = text.removeprefix("v")
    return str(int(digits)) if _GO_INTEGER.match(digits) else "-1"


_revision_fields = {
    "packageName": string("Package path relative to the repository's directory; may contain '/'."),
    "repository": string("Name of the Repository in the same namespace."),
    "workspaceName": string("Identifies this revision within the package; a DNS label."),
    "revision": integer("0 for Draft/Proposed, N>=1 once published, -1 for the branch placeholder."),
}
_package_revision_spec = obj(
    {
        **_revision_fields,
        "parent": obj({"name": string()}),
        "lifecycle": string(enum=list(LIFECYCLES)),
        "tasks": array(_task),
        "readinessGates": array(obj({"conditionType": string()})),
        "packageMetadata": obj({"labels": string_map(), "annotations": string_map()}),
    }
)
_package_revision_status = obj(
    {
        "upstreamLock": _lock,
        "selfLock": _lock,
        "publishedBy": string(),
        "publishTimestamp": string(format="date-time"),
        "deployment": boolean(),
        "conditions": array(condition_schema),
    }
)

PACKAGE_REVISION = Kind(
    group=GROUP,
    version=VERSION,
    kind="PackageRevision",
    plural="packagerevisions",
    singular="packagerevision",
    namespaced=True,
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    schema=envelope("PackageRevision", _API_VERSION, _package_revision_spec, _package_revision_status,
                    "One revision of a kpt package in a registered repository."),
    printer_columns=(
        PrinterColumn("Package", "string", ".spec.packageName"),
        PrinterColumn("WorkspaceName", "string", ".spec.workspaceName"),
        PrinterColumn("Revision", "integer", ".spec.revision", default=0),
        PrinterColumn("Latest", "boolean", ".metadata.labels['kpt\\.dev/latest-revision']", default=False),
        PrinterColumn("Lifecycle", "string", ".spec.lifecycle"),
        PrinterColumn("Repository", "string", ".spec.repository"),
    ),
    field_selectors={
        "spec.revision": SelectableField(("spec", "revision"), missing="0", canonical=_revision_number),
        "spec.packageName": SelectableField(("spec", "packageName")),
        "spec.repository": SelectableField(("spec", "repository")),
        "spec.workspaceName": SelectableField(("spec", "workspaceName")),
        "spec.lifecycle": SelectableField(("spec", "lifecycle"), values=LIFECYCLES),
        "spec.packageMetadata.labels[]": SelectableField(("spec", "packageMetadata", "labels")),
    },
    field_selector_rules="porch",
    subresources=("approval",),
)

_render_status = obj(
    {
        "result": preserve("A kpt FunctionResultList."),
        "error": string(),
    }
)

PACKAGE_REVISION_RESOURCES = Kind(
    group=GROUP,
    version=VERSION,
    kind="PackageRevisionResources",
    plural="packagerevisionresources",
    singular="packagerevisionresources",
    namespaced=True,
    verbs=("get", "list", "patch", "update"),
    schema=envelope(
        "PackageRevisionResources", _API_VERSION,
        obj({**_revision_fields, "resources": string_map("File path to file content.")}),
        obj({"renderStatus": _render_status,
             "retryResourceVersion": string(
                 "Set after an update refused by a failed render, which recorded only renderStatus: the "
                 "resourceVersion of the files still stored, which a retry of that update may carry.")}),
        "The files of a PackageRevision; the only way to change a package's content.",
    ),
    printer_columns=(
        PrinterColumn("Package", "string", ".spec.packageName"),
        PrinterColumn("WorkspaceName", "string", ".spec.workspaceName"),
        PrinterColumn("Revision", "integer", ".spec.revision", default=0),
        PrinterColumn("Repository", "string", ".spec.repository"),
        PrinterColumn("Files", "integer", ".spec.resources.@count"),
    ),
    # Porch filters these through the PackageRevision of the same name: the fields it lacks
    # (lifecycle, package metadata) are read from that twin.
    field_selectors={
        **PACKAGE_REVISION.field_selectors,
        "spec.lifecycle": replace(PACKAGE_REVISION.field_selectors["spec.lifecycle"],
                                  twin=PACKAGE_REVISION.resource),
        "spec.packageMetadata.labels[]": replace(PACKAGE_REVISION.field_selectors["spec.packageMetadata.labels[]"],
                                                 twin=PACKAGE_REVISION.resource),
    },
    field_selector_rules="porch",
    refusal="packagerevisionresources exist with their PackageRevision: create the PackageRevision, "
            "then update its resources",
)

PACKAGE = Kind(
    group=GROUP,
    version=VERSION,
    kind="PorchPackage",
    plural="packages",
    singular="package",
    namespaced=True,
    verbs=("get", "list", "watch"),
    schema=envelope("PorchPackage", _API_VERSION,
                    obj({"packageName": string(), "repository": string()}),
                    obj({"latestRevision": integer()}),
                    "A package across its revisions; read-only."),
    printer_columns=(
        PrinterColumn("Package", "string", ".spec.packageName"),
        PrinterColumn("Repository", "string", ".spec.repository"),
        PrinterColumn("Latest Revision", "integer", ".status.latestRevision"),
    ),
    field_selectors={"spec.packageName": SelectableField(("spec", "packageName")),
                     "spec.repository": SelectableField(("spec", "repository"))},
    field_selector_rules="porch",
    refusal="packages are read-only: create or clone a PackageRevision resource to create a package",
    refused_actions={
        "create": "create or clone a PackageRevision resource to create a package as direct package creation",
        "update": "update a PackageRevision resource to update a package as direct package update",
        "patch": "update a PackageRevision resource to update a package as direct package update",
        "delete": "delete all PackageRevisions resources of a package to delete a package as direct package "
                  "deletion",
    },
)
