"""The write path of objects that only the API holds (Repository, Secret, Namespace, ...).

Kubernetes' generic registry semantics live here once: defaulting and validation from
the Kind, uid/creationTimestamp/generation stamping, the status subresource split,
finalizers and deletionTimestamp, namespace lifecycle, dry-run. The store below only
enforces resourceVersion and uniqueness.
"""

from __future__ import annotations

import copy
import secrets
import string
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from porch_embedded.errors import (
    BadRequest,
    Cause,
    Forbidden,
    Invalid,
    NotFound,
)
from porch_embedded.kinds import ALL_KINDS, NAMESPACE, Body, Kind, schema_causes
from porch_embedded.meta import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_key_errors,
    label_value_errors,
    now_rfc3339,
)
from porch_embedded.store import ListQuery, Store, not_found, precondition_failed, stale_resource_version
from porch_embedded.store import invalid as invalid_object

__all__ = ["ObjectService", "WriteCheck", "invalid"]

WriteCheck = Callable[[Body], Awaitable[None]]
"""A cross-object check (uniqueness against other objects, ...) run on a validated body
before it is written: as in a kube-apiserver, the object's own validation answers first."""

_GENERATE_ALPHABET = string.ascii_lowercase + string.digits
_SYSTEM_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                    "generation", "resourceVersion", "selfLink", "managedFields")


def invalid(kind: Kind, name: str, causes: Sequence[Cause]) -> Invalid:
    """An Invalid error worded as the apiserver words it: ``Kind.group "name" is invalid: ...``."""
    return invalid_object(kind.kind, kind.group, name, causes)


def _metadata_causes(kind: Kind, metadata: dict[str, Any]) -> list[Cause]:
    """Every way ``metadata`` breaks ObjectMeta: field types first, then names, labels and annotations.

    Every field is checked against the ObjectMeta schema (null reads as absent, as in
    the kube-apiserver's decoding), so a number where a name belongs or a list among
    the finalizers is refused instead of being stored and failing whatever reads it.
    """
    causes: list[Cause] = []
    fields = kind.schema.get("properties", {}).get("metadata", {}).get("properties", {})
    for field, value in metadata.items():
        if value is not None and field in fields and field not in ("labels", "annotations"):
            causes += schema_causes(value, fields[field], f"metadata.{field}")
    name = metadata.get("name", "")
    if isinstance(name, str):
        name_errors = dns1123_label_errors(name) if kind is NAMESPACE else dns1123_subdomain_errors(name)
        causes += [Cause(f"Invalid value: \"{name}\": {e}", "metadata.name") for e in name_errors]
    for field in ("labels", "annotations"):
        mapping = metadata.get(field)
        if mapping is None:
            continue
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            causes.append(Cause(f"metadata.{field} must map strings to strings",
                                f"metadata.{field}", "FieldValueTypeInvalid"))
            continue
        for key, value in mapping.items():
            causes += [Cause(f"Invalid value: \"{key}\": {e}", f"metadata.{field}") for e in label_key_errors(key)]
            if field == "labels":
                causes += [Cause(f"Invalid value: \"{value}\": {e}", "metadata.labels")
                           for e in label_value_errors(value)]
    return causes


def _without(body: Body, *fields: str) -> Body:
    return {k: v for k, v in body.items() if k not in fields}


class ObjectService:
    """Create, update and delete API-held objects with Kubernetes' generic semantics."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, kind: Kind, body: Body, *, dry_run: bool = False,
                     check: WriteCheck | None = None) -> Body:
        body = copy.deepcopy(body)
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise BadRequest("metadata must be an object")
        if metadata.get("resourceVersion"):
            raise BadRequest("resourceVersion should not be set on objects to be created")
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                raise invalid(kind, "", [Cause("Required value: name or generateName is required",
                                               "metadata.name", "FieldValueRequired")])
            if isinstance(prefix, str):  # otherwise validation below names the wrong type
                metadata["name"] = prefix + "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
        if kind.namespaced:
            await self._require_live_namespace(metadata.get("namespace", ""))
        else:
            metadata.pop("namespace", None)
        if "status" in kind.subresources:
            body.pop("status", None)
        body["apiVersion"], body["kind"] = kind.api_version, kind.kind
        self._default_and_validate(kind, body)
        for field in _SYSTEM_METADATA:
            metadata.pop(field, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        if kind.has_spec_generation:
            metadata["generation"] = 1
        if check is not None:
            await check(body)
        if dry_run:
            return body
        return await self._store.create(kind.resource, body)

    async def update(self, kind: Kind, body: Body, *, subresource: str = "", dry_run: bool = False,
                     current: Body | None = None, check: WriteCheck | None = None) -> Body:
        """Replace an object (PUT, or the result of a PATCH); ``subresource`` is '' or 'status'."""
        body = copy.deepcopy(body)
        metadata = body.get("metadata")
        if not isinstance(metadata, dict) or not metadata.get("name"):
            raise BadRequest("metadata.name is required on update")
        namespace = metadata.get("namespace", "") if kind.namespaced else ""
        if current is None:
            current = await self._store.get(kind.resource, namespace, metadata["name"])
        expect_rv = metadata.get("resourceVersion") or current["metadata"]["resourceVersion"]
        if metadata.get("uid") and metadata["uid"] != current["metadata"].get("uid"):
            raise precondition_failed(kind.resource, metadata["name"], "UID", metadata["uid"],
                                      current["metadata"].get("uid", ""))
        if subresource == "status":
            merged = copy.deepcopy(current)
            merged["status"] = body.get("status")
            merged["metadata"]["resourceVersion"] = expect_rv
            body = merged
        elif "status" in kind.subresources:
            if "status" in current:
                body["status"] = copy.deepcopy(current["status"])
            else:
                body.pop("status", None)
        body["apiVersion"], body["kind"] = kind.api_version, kind.kind
        metadata = body["metadata"]
        if not kind.namespaced:
            metadata.pop("namespace", None)
        for field in _SYSTEM_METADATA:
            metadata.pop(field, None)
            if field in current["metadata"] and field != "resourceVersion":
                metadata[field] = current["metadata"][field]
        self._default_and_validate(kind, body, old=current)
        terminating = bool(current["metadata"].get("deletionTimestamp"))
        new_finalizers = set(metadata.get("finalizers") or ()) - set(current["metadata"].get("finalizers") or ())
        if terminating and new_finalizers:
            raise invalid(kind, metadata["name"], [Cause(
                f"Forbidden: no new finalizers can be added if the object is being deleted, found new "
                f"finalizers {sorted(new_finalizers)!r}", "metadata.finalizers", "FieldValueForbidden")])
        if check is not None:
            await check(body)
        if kind.has_spec_generation:
            generation = current["metadata"].get("generation", 1)
            changed = _without(body, "metadata", "status") != _without(current, "metadata", "status")
            metadata["generation"] = generation + 1 if changed else generation
        if _without(body, "metadata") == _without(current, "metadata") and _same_metadata(body, current):
            if expect_rv != current["metadata"]["resourceVersion"]:
                raise stale_resource_version(kind.resource, metadata["name"])
            return current
        metadata["resourceVersion"] = expect_rv
        if dry_run:
            return body
        if terminating and not metadata.get("finalizers"):
            return await self._finish_delete(kind, namespace, metadata["name"], expect_rv=expect_rv)
        return await self._store.update(kind.resource, body, expect_rv=expect_rv)

    async def delete(self, kind: Kind, namespace: str, name: str, *, expect_rv: str | None = None,
                     expect_uid: str | None = None, dry_run: bool = False) -> Body:
        """Delete now, or mark for deletion while finalizers remain; returns the final object."""
        current = await self._store.get(kind.resource, namespace, name)
        metadata = current["metadata"]
        if expect_uid and expect_uid != metadata.get("uid"):
            raise precondition_failed(kind.resource, name, "UID", expect_uid, metadata.get("uid", ""))
        if expect_rv and expect_rv != metadata.get("resourceVersion"):
            raise precondition_failed(kind.resource, name, "ResourceVersion", expect_rv,
                                      metadata.get("resourceVersion", ""))
        if kind is NAMESPACE:
            return await self._delete_namespace(current, dry_run=dry_run)
        if metadata.get("finalizers"):
            if metadata.get("deletionTimestamp") or dry_run:
                return current
            marked = copy.deepcopy(current)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            return await self._store.update(kind.resource, marked, expect_rv=metadata["resourceVersion"])
        if dry_run:
            return current
        return await self._finish_delete(kind, namespace, name, expect_rv=metadata["resourceVersion"])

    async def _finish_delete(self, kind: Kind, namespace: str, name: str, *, expect_rv: str) -> Body:
        deleted = await self._store.delete(kind.resource, namespace, name, expect_rv=expect_rv)
        if namespace:
            await self._maybe_finish_namespace(namespace)
        return deleted

    async def _delete_namespace(self, namespace: Body, *, dry_run: bool) -> Body:
        """Mark the namespace Terminating, delete its contents, and remove it once empty."""
        if dry_run:
            return namespace
        name = namespace["metadata"]["name"]
        if (namespace.get("status") or {}).get("phase") != "Terminating":
            marked = copy.deepcopy(namespace)
            marked.setdefault("status", {})["phase"] = "Terminating"
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            namespace = await self._store.update(NAMESPACE.resource, marked,
                                                 expect_rv=namespace["metadata"]["resourceVersion"])
        for kind in ALL_KINDS:
            if not kind.namespaced or "delete" not in kind.verbs:
                continue
            page = await self._store.list(ListQuery(kind.resource, namespace=name))
            for item in page.items:
                try:
                    await self.delete(kind, name, item["metadata"]["name"])
                except NotFound:
                    pass
        return await self._maybe_finish_namespace(name) or namespace

    async def _maybe_finish_namespace(self, name: str) -> Body | None:
        try:
            namespace = await self._store.get(NAMESPACE.resource, "", name)
        except NotFound:
            return None
        if (namespace.get("status") or {}).get("phase") != "Terminating":
            return None
        for kind in ALL_KINDS:
            if kind.namespaced and (await self._store.list(ListQuery(kind.resource, namespace=name, limit=1))).items:
                return None
        return await self._store.delete(NAMESPACE.resource, "", name)

    async def _require_live_namespace(self, name: str) -> None:
        if not name:
            raise BadRequest("the namespace of the object is required (set metadata.namespace or use -n)")
        try:
            namespace = await self._store.get(NAMESPACE.resource, "", name)
        except NotFound:
            raise not_found(NAMESPACE.resource, name) from None
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            raise Forbidden(
                f"unable to create new content in namespace {name} because it is being terminated"
            )

    def _default_and_validate(self, kind: Kind, body: Body, *, old: Body | None = None) -> None:
        if kind.defaults is not None:
            kind.defaults(body)
        name = body["metadata"].get("name", "")
        causes = _metadata_causes(kind, body["metadata"])
        causes += [c for c in schema_causes(body, dict(kind.schema)) if not c.field.startswith("metadata.")]
        if causes:
            # The kind's own rules read fields as the schema types them; a body that breaks
            # the schema is refused on that alone.
            raise invalid(kind, str(name), causes)
        causes += kind.validate(body)
        if old is not None:
            causes += kind.validate_update(old, body)
        if causes:
            raise invalid(kind, name, causes)


def _same_metadata(new: Body, old: Body) -> bool:
    keys = ("labels", "annotations", "finalizers", "ownerReferences")
    return all((new["metadata"].get(k) or None) == (old["metadata"].get(k) or None) for k in keys)

