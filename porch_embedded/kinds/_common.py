"""Schema pieces shared by every kind: ObjectMeta, conditions, the object envelope."""

from __future__ import annotations

from typing import Any

from porch_embedded.kinds._schema import array, boolean, integer, obj, preserve, string, string_map

__all__ = ["condition_schema", "envelope", "object_meta_schema"]

_owner_reference = obj(
    {
        "apiVersion": string(),
        "kind": string(),
        "name": string(),
        "uid": string(),
        "controller": boolean(),
        "blockOwnerDeletion": boolean(),
    },
    required=("apiVersion", "kind", "name", "uid"),
)

object_meta_schema = obj(
    {
        "name": string("Unique within a namespace; for PackageRevisions computed by the server."),
        "generateName": string(),
        "namespace": string(),
        "uid": string(),
        "resourceVersion": string("Opaque; send it back on update for optimistic concurrency."),
        "generation": integer(),
        "creationTimestamp": string(format="date-time", nullable=True),
        "deletionTimestamp": string(format="date-time", nullable=True),
        "deletionGracePeriodSeconds": integer(),
        "labels": string_map(),
        "annotations": string_map(),
        "finalizers": array(string()),
        "ownerReferences": array(_owner_reference),
        "managedFields": array(preserve()),
        "selfLink": string(),
    },
    description="Standard object metadata.",
)

condition_schema = obj(
    {
        "type": string(),
        "status": string(enum=["True", "False", "Unknown"]),
        "reason": string(),
        "message": string(),
        "lastTransitionTime": string(format="date-time"),
        "observedGeneration": integer(),
    },
    required=("type", "status"),
)


def envelope(kind: str, api_version: str, spec: dict[str, Any] | None, status: dict[str, Any] | None,
             description: str, **extra_properties: dict[str, Any]) -> dict[str, Any]:
    """The whole-object schema with apiVersion, kind and metadata around spec/status."""
    properties: dict[str, Any] = {
        "apiVersion": string("APIVersion of this representation, e.g. " + api_version),
        "kind": string("Kind of this object: " + kind),
        "metadata": object_meta_schema,
    }
    if spec is not None:
        properties["spec"] = spec
    if status is not None:
        properties["status"] = status
    properties.update(extra_properties)
    return obj(properties, description=description)
