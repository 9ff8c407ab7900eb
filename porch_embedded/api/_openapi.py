"""OpenAPI v2 and v3 documents of the served kinds, declared as a kube-apiserver declares them.

Generators, validators, fuzzers and kubectl read these documents, so every path names
its path parameters, every operation its query parameters (per verb, as the
kube-apiserver lists them), its request body with the media types the server decodes,
and its responses with schema references; the ``x-kubernetes-action`` and
``x-kubernetes-group-version-kind`` extensions are the ones kubectl looks for. One
description of each operation feeds both dialects, so v2 and v3 never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from porch_embedded.kinds import Kind
from porch_embedded.meta import PATCH_TYPES

__all__ = ["openapi_v2", "openapi_v3"]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_STATUS = _META + "Status"
_DELETE_OPTIONS = _META + "DeleteOptions"
_PATCH = _META + "Patch"
_WATCH_EVENT = _META + "WatchEvent"

_BODY_TYPES = ("application/json", "application/yaml")
"""What a create, update or delete body may be sent as (patches have their own types)."""
_RESPONSE_TYPES = ("application/json", "application/yaml")
_WATCH_TYPE = "application/json;stream=watch"

_SECURITY = {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                             "description": "A bearer token: Authorization: Bearer <token>."}}

_PARAMETERS: dict[str, tuple[str, str]] = {
    "allowWatchBookmarks": ("boolean", "With watch, ask for BOOKMARK events that carry the latest resourceVersion."),
    "continue": ("string", "The continue token of the previous page of a paged list."),
    "dryRun": ("string", "All: validate and answer as if the write happened, without storing anything."),
    "fieldManager": ("string", "The name of the actor making the change; required for server-side apply."),
    "fieldSelector": ("string", "Only objects whose selectable fields match (e.g. metadata.name=x)."),
    "fieldValidation": ("string", "What to do with fields the schema does not declare: Strict, Warn or Ignore."),
    "force": ("boolean", "Server-side apply: take over fields owned by other managers."),
    "gracePeriodSeconds": ("integer", "Seconds before the object is deleted; accepted for compatibility."),
    "labelSelector": ("string", "Only objects whose labels match (e.g. app=web,tier!=db)."),
    "limit": ("integer", "The most objects to return; the rest come with the continue token."),
    "orphanDependents": ("boolean", "Deprecated form of propagationPolicy; accepted for compatibility."),
    "pretty": ("string", "Accepted for compatibility; responses are always compact."),
    "propagationPolicy": ("string", "Orphan, Background or Foreground; accepted for compatibility."),
    "resourceVersion": ("string", "For a watch, the resourceVersion to start after."),
    "resourceVersionMatch": ("string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    "sendInitialEvents": ("boolean", "With watch and allowWatchBookmarks, begin with the current objects."),
    "timeoutSeconds": ("integer", "End the list or watch after this many seconds."),
    "watch": ("boolean", "Stream added, modified and deleted events instead of returning a list."),
}

_LIST = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
         "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_WATCH_ONLY = frozenset({"allowWatchBookmarks", "sendInitialEvents", "watch"})
_WRITE = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_QUERY = (*_WRITE, "force")
_DELETE = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_DELETE_COLLECTION = ("continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "labelSelector", "limit",
                      "orphanDependents", "propagationPolicy", "resourceVersion", "resourceVersionMatch",
                      "timeoutSeconds")


@dataclass(frozen=True)
class _Body:
    schema: str
    media_types: Sequence[str]
    required: bool


@dataclass(frozen=True)
class _Response:
    description: str
    schema: str
    media_types: Sequence[str] = _RESPONSE_TYPES


@dataclass(frozen=True)
class _Operation:
    """One operation, dialect-free: both documents render it."""

    method: str
    operation_id: str
    description: str
    action: str
    kind: Kind
    query: Sequence[str]
    responses: dict[str, _Response]
    body: _Body | None = None


@dataclass(frozen=True)
class _Path:
    path: str
    path_parameters: Sequence[str]
    operations: Sequence[_Operation]


def _schema_name(kind: Kind) -> str:
    """The definition name of a kind, reversed-domain as the kube-apiserver names them."""
    reversed_group = ".".join(reversed(kind.group.split("."))) if kind.group else "io.k8s.api.core"
    return f"{reversed_group}.{kind.version}.{kind.kind}"


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", ".").split("."))


def _id_prefix(kind: Kind) -> str:
    return _camel(kind.group or "core") + _camel(kind.version)


def _tag(kind: Kind) -> str:
    group = _camel(kind.group or "core")
    return f"{group[:1].lower()}{group[1:]}_{kind.version}"


def _paths_of(kind: Kind) -> Iterator[_Path]:
    """The paths the server routes for ``kind`` and what each method does there."""
    root = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    scope = "Namespaced" if kind.namespaced else ""
    collection = f"{root}/namespaces/{{namespace}}/{kind.plural}" if kind.namespaced else f"{root}/{kind.plural}"
    scope_parameters = ("namespace",) if kind.namespaced else ()
    prefix = _id_prefix(kind)
    one, many = _schema_name(kind), _schema_name(kind) + "List"
    list_query = tuple(p for p in _LIST if "watch" in kind.verbs or p not in _WATCH_ONLY)
    list_responses = {"200": _Response("OK", many, (*_RESPONSE_TYPES, _WATCH_TYPE))}
    written = {"200": _Response("OK", one), "201": _Response("Created", one)}
    operations = []
    if "list" in kind.verbs:
        operations.append(_Operation("get", f"list{prefix}{scope}{kind.kind}",
                                     f"List {kind.kind} objects, or watch them with watch=true.",
                                     "list", kind, list_query, list_responses))
    if "create" in kind.verbs:
        operations.append(_Operation("post", f"create{prefix}{scope}{kind.kind}", f"Create a {kind.kind}.", "post",
                                     kind, _WRITE, {**written, "202": _Response("Accepted", one)},
                                     _Body(one, _BODY_TYPES, True)))
    if "deletecollection" in kind.verbs:
        operations.append(_Operation("delete", f"delete{prefix}Collection{scope}{kind.kind}",
                                     f"Delete the {kind.kind} objects the selectors match.", "deletecollection",
                                     kind, _DELETE_COLLECTION, {"200": _Response("OK", many)},
                                     _Body(_DELETE_OPTIONS, _BODY_TYPES, False)))
    yield _Path(collection, scope_parameters, operations)
    yield _Path(f"{collection}/{{name}}", (*scope_parameters, "name"),
                list(_object_operations(kind, prefix, scope, "", kind.verbs)))
    for sub in kind.subresources:
        yield _Path(f"{collection}/{{name}}/{sub}", (*scope_parameters, "name"),
                    list(_object_operations(kind, prefix, scope, sub, ("get", "update", "patch"))))
    if kind.namespaced and "list" in kind.verbs:
        yield _Path(f"{root}/{kind.plural}", (), [
            _Operation("get", f"list{prefix}{kind.kind}ForAllNamespaces",
                       f"List {kind.kind} objects of every namespace, or watch them with watch=true.",
                       "list", kind, list_query, list_responses)])


def _object_operations(kind: Kind, prefix: str, scope: str, sub: str, verbs: Sequence[str]) -> Iterator[_Operation]:
    """Read, replace, patch and delete of one object (or of its subresource ``sub``)."""
    one = _schema_name(kind)
    suffix = _camel(sub)
    what = f"the {sub} of a {kind.kind}" if sub else f"a {kind.kind}"
    written = {"200": _Response("OK", one), "201": _Response("Created", one)}
    if "get" in verbs:
        yield _Operation("get", f"read{prefix}{scope}{kind.kind}{suffix}", f"Read {what}.", "get", kind, (),
                         {"200": _Response("OK", one)})
    if "update" in verbs:
        yield _Operation("put", f"replace{prefix}{scope}{kind.kind}{suffix}", f"Replace {what}.", "put", kind,
                         _WRITE, written, _Body(one, _BODY_TYPES, True))
    if "patch" in verbs:
        yield _Operation("patch", f"patch{prefix}{scope}{kind.kind}{suffix}",
                         f"Patch {what} (JSON patch, merge patch, strategic merge patch or server-side apply).",
                         "patch", kind, _PATCH_QUERY, written,
                         _Body(_PATCH, (*PATCH_TYPES, "application/apply-patch+yaml"), True))
    if "delete" in verbs and not sub:
        # Core kinds answer a finished delete with a Status, as the kube-apiserver does; Porch's
        # kinds answer with the deleted object.
        deleted = _STATUS if not kind.group else one
        yield _Operation("delete", f"delete{prefix}{scope}{kind.kind}", f"Delete {what}.", "delete", kind, _DELETE,
                         {"200": _Response("OK", deleted), "202": _Response("Accepted", deleted)},
                         _Body(_DELETE_OPTIONS, _BODY_TYPES, False))


def _meta_schemas() -> dict[str, Any]:
    """The apimachinery schemas the operations refer to: Status, DeleteOptions, Patch, WatchEvent."""
    cause = {"type": "object", "description": "One reason a request failed, for one field.", "properties": {
        "reason": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}
    details = {"type": "object", "description": "What the Status is about.", "properties": {
        "name": {"type": "string"}, "group": {"type": "string"}, "kind": {"type": "string"},
        "uid": {"type": "string"}, "retryAfterSeconds": {"type": "integer"},
        "causes": {"type": "array", "items": {"$ref": _META + "StatusCause"}}}}
    status = {
        "type": "object", "description": "The outcome of a request that returns no object: every error, "
        "and some deletes.",
        "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"type": "object", "properties": {"resourceVersion": {"type": "string"}}},
            "status": {"type": "string", "description": "Success or Failure."},
            "message": {"type": "string"}, "reason": {"type": "string"}, "code": {"type": "integer"},
            "details": {"$ref": _META + "StatusDetails"},
        },
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
    }
    delete_options = {
        "type": "object", "description": "Options of a delete, sent as its body.",
        "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "dryRun": {"type": "array", "items": {"type": "string"}},
            "gracePeriodSeconds": {"type": "integer"}, "orphanDependents": {"type": "boolean"},
            "propagationPolicy": {"type": "string"},
            "preconditions": {"type": "object", "properties": {
                "resourceVersion": {"type": "string"}, "uid": {"type": "string"}}},
        },
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "DeleteOptions", "version": "v1"}],
    }
    patch = {"type": "object", "description": "A patch document; its media type says which kind of patch."}
    watch_event = {
        "type": "object", "required": ["type", "object"], "description": "One event of a watch stream.",
        "properties": {"type": {"type": "string"}, "object": {"type": "object",
                                                               "x-kubernetes-preserve-unknown-fields": True}},
    }
    return {_META + "StatusCause": cause, _META + "StatusDetails": details, _STATUS: status,
            _DELETE_OPTIONS: delete_options, _PATCH: patch, _WATCH_EVENT: watch_event}


def _kind_schemas(kind: Kind) -> dict[str, Any]:
    schema = json.loads(json.dumps(kind.schema))
    schema["x-kubernetes-group-version-kind"] = [{"group": kind.group, "kind": kind.kind, "version": kind.version}]
    listed = {
        "type": "object",
        "description": f"A list of {kind.kind}.",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object", "properties": {
                "resourceVersion": {"type": "string"}, "continue": {"type": "string"},
                "remainingItemCount": {"type": "integer"}}},
            "items": {"type": "array", "items": {"$ref": _schema_name(kind)}},
        },
        "x-kubernetes-group-version-kind": [{"group": kind.group, "kind": kind.list_kind, "version": kind.version}],
    }
    return {_schema_name(kind): schema, _schema_name(kind) + "List": listed}


def _schemas(kinds: Sequence[Kind]) -> dict[str, Any]:
    """Every schema the paths of ``kinds`` refer to, with refs by bare name (the dialect adds its prefix)."""
    schemas = _meta_schemas()
    for kind in kinds:
        schemas.update(_kind_schemas(kind))
    return schemas


def _with_ref_prefix(node: Any, prefix: str, *, v2: bool) -> Any:
    """Copy a schema tree with each ``$ref`` prefixed; for v2, without the 3.0-only ``nullable``."""
    if isinstance(node, dict):
        copied = {}
        for key, value in node.items():
            if key == "$ref":
                copied[key] = prefix + value
            elif v2 and key == "nullable":
                continue
            elif key in ("properties", "definitions") and isinstance(value, dict):
                copied[key] = {name: _with_ref_prefix(child, prefix, v2=v2) for name, child in value.items()}
            else:
                copied[key] = _with_ref_prefix(value, prefix, v2=v2)
        return copied
    if isinstance(node, list):
        return [_with_ref_prefix(item, prefix, v2=v2) for item in node]
    return node


def _parameter(name: str, location: str, *, v2: bool) -> dict[str, Any]:
    if location == "path":
        kind, description = "string", f"The {name} of the object." if name == "name" else "The object's namespace."
    else:
        kind, description = _PARAMETERS[name]
    parameter: dict[str, Any] = {"name": name, "in": location, "description": description}
    if location == "path":
        parameter["required"] = True
    if v2:
        parameter.update({"type": kind, "uniqueItems": True})
    else:
        parameter["schema"] = {"type": kind, "uniqueItems": True}
    return parameter


def _render_operation(operation: _Operation, prefix: str, *, v2: bool) -> dict[str, Any]:
    kind = operation.kind
    rendered: dict[str, Any] = {
        "tags": [_tag(kind)],
        "description": operation.description,
        "operationId": operation.operation_id,
        "parameters": [_parameter(name, "query", v2=v2) for name in operation.query],
    }
    responses: dict[str, Any] = {}
    for code, response in operation.responses.items():
        ref = {"$ref": prefix + response.schema}
        if v2:
            responses[code] = {"description": response.description, "schema": ref}
        else:
            responses[code] = {"description": response.description,
                               "content": {media: {"schema": ref} for media in response.media_types}}
    failure = {"$ref": prefix + _STATUS}
    if v2:
        responses["401"] = {"description": "Unauthorized", "schema": failure}
        rendered["produces"] = sorted({m for r in operation.responses.values() for m in r.media_types})
        rendered["schemes"] = ["https"]
        rendered["consumes"] = list(operation.body.media_types) if operation.body else ["*/*"]
        if operation.body:
            rendered["parameters"].append({"name": "body", "in": "body", "required": operation.body.required,
                                           "schema": {"$ref": prefix + operation.body.schema}})
    else:
        responses["401"] = {"description": "Unauthorized",
                            "content": {media: {"schema": failure} for media in _RESPONSE_TYPES}}
        if operation.body:
            rendered["requestBody"] = {
                "required": operation.body.required,
                "content": {media: {"schema": {"$ref": prefix + operation.body.schema}}
                            for media in operation.body.media_types}}
    rendered["responses"] = responses
    rendered["x-kubernetes-action"] = operation.action
    rendered["x-kubernetes-group-version-kind"] = {"group": kind.group, "version": kind.version, "kind": kind.kind}
    return rendered


def _render_paths(kinds: Sequence[Kind], prefix: str, *, v2: bool) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for kind in kinds:
        for path in _paths_of(kind):
            if not path.operations:
                continue
            item: dict[str, Any] = {op.method: _render_operation(op, prefix, v2=v2) for op in path.operations}
            item["parameters"] = [*(_parameter(name, "path", v2=v2) for name in path.path_parameters),
                                  _parameter("pretty", "query", v2=v2)]
            paths[path.path] = item
    return paths


def openapi_v3(kinds: Sequence[Kind], title: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one group-version (``kinds`` all share it)."""
    prefix = "#/components/schemas/"
    return {
        "openapi": "3.0.0",
        "info": {"title": title, "version": "v0.1.0"},
        "paths": _render_paths(kinds, prefix, v2=False),
        "components": {
            "schemas": _with_ref_prefix(_schemas(kinds), prefix, v2=False),
            "securitySchemes": _SECURITY,
        },
        "security": [{"BearerToken": []}],
    }


def openapi_v2(kinds: Sequence[Kind], title: str) -> dict[str, Any]:
    """The Swagger 2.0 document of every served kind."""
    prefix = "#/definitions/"
    return {
        "swagger": "2.0",
        "info": {"title": title, "version": "v0.1.0"},
        "paths": _render_paths(kinds, prefix, v2=True),
        "definitions": _with_ref_prefix(_schemas(kinds), prefix, v2=True),
        "securityDefinitions": _SECURITY,
        "security": [{"BearerToken": []}],
    }
