"""CustomResourceDefinitions of the kinds a cluster stores when porch-embedded is aggregated.

In aggregated mode the cluster's kube-apiserver serves config.porch.kpt.dev
(Repository, PackageVariant, PackageVariantSet) from CRDs, and porch-embedded reads
them from there. The CRDs are made from the very ``Kind`` values the standalone server
serves, so both modes accept the same manifests: same schema, printer columns, short
names, categories and status subresource.
"""

from __future__ import annotations

import copy
from typing import Any

from porch_embedded.kinds._config import PACKAGE_VARIANT, REPOSITORY
from porch_embedded.kinds._kind import Body, Kind
from porch_embedded.kinds._variant_set import PACKAGE_VARIANT_SET

__all__ = ["CLUSTER_KINDS", "custom_resource_definition"]

CLUSTER_KINDS: tuple[Kind, ...] = (REPOSITORY, PACKAGE_VARIANT, PACKAGE_VARIANT_SET)
"""The kinds a cluster holds as custom resources in aggregated mode."""


def _structural(schema: Any) -> Any:
    """The schema as a CRD's structural schema: every node typed.

    A node that keeps any JSON (``preserve``) holds an object in every kind here, so it
    becomes ``type: object`` with unknown fields preserved, as the apiserver requires.
    """
    if isinstance(schema, dict):
        node = {key: _structural(value) for key, value in schema.items()}
        if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
            node["type"] = "object"
        return node
    if isinstance(schema, list):
        return [_structural(item) for item in schema]
    return schema


def custom_resource_definition(kind: Kind) -> Body:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition serving ``kind``.

    ``metadata`` is left to the apiserver (a CRD may not constrain it beyond name), and
    the status subresource is declared when the kind splits spec and status writes.
    """
    schema = _structural(copy.deepcopy(dict(kind.schema)))
    schema["properties"]["metadata"] = {"type": "object"}
    names: Body = {"kind": kind.kind, "listKind": kind.list_kind, "plural": kind.plural,
                   "singular": kind.singular}
    if kind.short_names:
        names["shortNames"] = list(kind.short_names)
    if kind.categories:
        names["categories"] = list(kind.categories)
    version: Body = {"name": kind.version, "served": True, "storage": True,
                     "schema": {"openAPIV3Schema": schema}}
    if "status" in kind.subresources:
        version["subresources"] = {"status": {}}
    if kind.printer_columns:
        columns = []
        for column in kind.printer_columns:
            entry: Body = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
            if column.description:
                entry["description"] = column.description
            if column.priority:
                entry["priority"] = column.priority
            if column.format:
                entry["format"] = column.format
            columns.append(entry)
        version["additionalPrinterColumns"] = columns
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{kind.group}"},
        "spec": {
            "group": kind.group,
            "names": names,
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "versions": [version],
        },
    }
