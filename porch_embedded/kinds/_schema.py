"""Structural-schema checks with the messages the Kubernetes apiserver gives.

Two jobs, both driven by a kind's OpenAPI v3 schema: find fields the schema does not
declare (strict decoding rejects them; the default prunes them with a warning, as
CRDs do) and check types, enums, required fields, patterns and bounds, reporting each
failure as a Cause whose field path the user can find in their manifest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from porch_embedded.errors import Cause

__all__ = [
    "array",
    "boolean",
    "integer",
    "obj",
    "preserve",
    "prune_unknown",
    "schema_causes",
    "string",
    "string_map",
]

Schema = dict[str, Any]


def obj(properties: Mapping[str, Schema] | None = None, *, required: tuple[str, ...] = (),
        description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties or {})}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


def string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def integer(description: str = "", **extra: Any) -> Schema:
    return {"type": "integer", **({"description": description} if description else {}), **extra}


def boolean(description: str = "", **extra: Any) -> Schema:
    return {"type": "boolean", **({"description": description} if description else {}), **extra}


def array(items: Schema, description: str = "", **extra: Any) -> Schema:
    return {"type": "array", "items": items, **({"description": description} if description else {}), **extra}


def string_map(description: str = "") -> Schema:
    return {"type": "object", "additionalProperties": {"type": "string"},
            **({"description": description} if description else {})}


def preserve(description: str = "") -> Schema:
    """Any JSON value kept verbatim (kpt function configs, package context data)."""
    return {"x-kubernetes-preserve-unknown-fields": True,
            **({"description": description} if description else {})}


def prune_unknown(body: Any, schema: Schema, path: str = "") -> list[str]:
    """Remove fields the schema does not declare, in place; return their dotted paths."""
    pruned: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return pruned
    if isinstance(body, dict) and schema.get("type") == "object":
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key in list(body):
            child_path = f"{path}.{key}" if path else key
            if properties is not None and key in properties:
                pruned += prune_unknown(body[key], properties[key], child_path)
            elif isinstance(additional, dict):
                pruned += prune_unknown(body[key], additional, child_path)
            elif properties is not None and additional is None:
                del body[key]
                pruned.append(child_path)
    elif isinstance(body, list) and schema.get("type") == "array":
        for index, item in enumerate(body):
            pruned += prune_unknown(item, schema.get("items") or {}, f"{path}[{index}]")
    return pruned


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_JSON_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean",
                    dict: "object", list: "array", type(None): "null"}


def schema_causes(body: Any, schema: Schema, path: str = "") -> list[Cause]:
    """Every way ``body`` breaks ``schema``, as apiserver-style causes."""
    if schema.get("x-kubernetes-preserve-unknown-fields") and "type" not in schema:
        return []
    expected = schema.get("type")
    if body is None:
        if schema.get("nullable"):
            return []
        if expected:
            return [Cause(f"{path} in body must be of type {expected}: \"null\"", path, "FieldValueTypeInvalid")]
        return []
    if expected and not _TYPE_CHECKS[expected](body):
        actual = _JSON_TYPE_NAMES.get(type(body), type(body).__name__)
        return [Cause(f"{path} in body must be of type {expected}: \"{actual}\"", path, "FieldValueTypeInvalid")]
    causes: list[Cause] = []
    if "enum" in schema and body not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        causes.append(Cause(f"Unsupported value: {_show(body)}: supported values: {allowed}", path,
                            "FieldValueNotSupported"))
    if isinstance(body, str):
        if "pattern" in schema and not re.search(schema["pattern"], body):
            causes.append(Cause(f"Invalid value: {_show(body)}: {path} in body should match "
                                f"'{schema['pattern']}'", path))
        if "maxLength" in schema and len(body) > schema["maxLength"]:
            causes.append(Cause(f"Too long: may not be more than {schema['maxLength']} bytes", path,
                                "FieldValueTooLong"))
        if "minLength" in schema and len(body) < schema["minLength"]:
            causes.append(Cause(f"Invalid value: {_show(body)}: {path} in body should be at least "
                                f"{schema['minLength']} chars long", path))
        if schema.get("format") == "date-time" and not _RFC3339.match(body):
            causes.append(Cause(f"Invalid value: {_show(body)}: {path} in body must be of type "
                                "date-time", path))
    if isinstance(body, int) and not isinstance(body, bool) and "minimum" in schema and body < schema["minimum"]:
        causes.append(Cause(f"Invalid value: {body}: {path} in body should be greater than or "
                            f"equal to {schema['minimum']}", path))
    if isinstance(body, dict):
        for key in schema.get("required", ()):
            if key not in body:
                child = f"{path}.{key}" if path else key
                causes.append(Cause("Required value", child, "FieldValueRequired"))
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, value in body.items():
            child = f"{path}.{key}" if path else key
            if key in properties:
                causes += schema_causes(value, properties[key], child)
            elif isinstance(additional, dict):
                causes += schema_causes(value, additional, child)
    if isinstance(body, list):
        for index, item in enumerate(body):
            causes += schema_causes(item, schema.get("items") or {}, f"{path}[{index}]")
    return causes


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)
