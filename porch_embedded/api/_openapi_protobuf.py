"""The Swagger 2.0 document as gnostic's ``openapi.v2.Document`` protobuf message.

kubectl (``explain --output=plaintext-openapiv2``, and client-go's OpenAPI v2 reader) asks
``/openapi/v2`` for ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` (or
the same type with ``.v1.0``) and cannot read JSON in its place. No package on PyPI carries the compiled message (the
Kubernetes client does not), so this module writes the wire format by hand from the
message layout of gnostic's ``openapiv2/OpenAPIv2.proto``, one table per message:
JSON key -> field number and type. The JSON document stays the one description;
this is only its other encoding. As gnostic does, every ``x-`` key goes to the message's
``vendor_extension`` field and every free-form value (``default``, ``enum``, ``example``,
extensions) to an ``Any`` whose ``yaml`` holds the value's text (JSON is YAML). Keys the
message has no field for (none in the documents served here) are left out.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["OPENAPI_V2_PROTOBUF", "encode_openapi_v2"]

OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""The media type the kube-apiserver answers with, whichever of the two spellings was asked for
(Go's media-type parser refuses the ``@`` that kubectl's Accept carries)."""

Encode = Callable[[Any], bytes]
"""A value -> the bytes of one field (or of a message's body, for message encoders)."""


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s take ten bytes, as in Go
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _string(number: int) -> Encode:
    return lambda value: _bytes(number, str(value).encode())


def _strings(number: int) -> Encode:
    return lambda values: b"".join(_bytes(number, str(v).encode()) for v in values)


def _bool(number: int, *, in_oneof: bool = False) -> Encode:
    """A proto3 bool: false is the default and not written, except as a oneof's chosen member."""
    return lambda value: _key(number, 0) + _varint(1 if value else 0) if value or in_oneof else b""


def _int64(number: int) -> Encode:
    return lambda value: _key(number, 0) + _varint(int(value))


def _double(number: int) -> Encode:
    return lambda value: _key(number, 1) + struct.pack("<d", float(value))


def _message(number: int, body: Callable[[], Encode]) -> Encode:
    """An embedded message; ``body`` is looked up late, so messages may nest themselves (Schema)."""
    return lambda value: _bytes(number, body()(value))


def _repeated(field: Encode) -> Encode:
    return lambda values: b"".join(field(v) for v in values)


def _any(value: Any) -> bytes:
    """gnostic's ``Any``: the value's YAML text in field 2."""
    return _bytes(2, json.dumps(value, separators=(",", ":")).encode())


def _named(number: int, value: Callable[[], Encode]) -> Encode:
    """A map as gnostic orders it: repeated ``Named*`` pairs of name (1) and value (2)."""
    return lambda mapping: b"".join(
        _bytes(number, _bytes(1, str(name).encode()) + _bytes(2, value()(item))) for name, item in mapping.items())


def _fields(table: Mapping[str, Encode], extensions: int = 0) -> Encode:
    """A message body from a JSON object: each key its field, ``x-`` keys as NamedAny extensions."""
    def encode(value: Mapping[str, Any]) -> bytes:
        out = bytearray()
        for key, item in value.items():
            field = table.get(key)
            if field is not None:
                out += field(item)
            elif extensions and key.startswith("x-"):
                out += _bytes(extensions, _bytes(1, key.encode()) + _bytes(2, _any(item)))
        return bytes(out)
    return encode


def _validations(first: int) -> dict[str, Encode]:
    """The JSON-Schema checks that items and non-body parameters share, numbered from ``default``."""
    names = ("default", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
             "pattern", "maxItems", "minItems", "uniqueItems", "enum", "multipleOf")
    kinds: dict[str, Callable[[int], Encode]] = {
        "default": lambda n: _message(n, lambda: _any), "maximum": _double, "minimum": _double,
        "exclusiveMaximum": _bool, "exclusiveMinimum": _bool, "maxLength": _int64, "minLength": _int64,
        "pattern": _string, "maxItems": _int64, "minItems": _int64, "uniqueItems": _bool,
        "enum": lambda n: _repeated(_message(n, lambda: _any)), "multipleOf": _double}
    return {name: kinds[name](first + offset) for offset, name in enumerate(names)}


def _schema() -> Encode:
    return _SCHEMA


def _items(value: Any) -> bytes:
    """``ItemsItem``: one schema or a list of them, all in field 1."""
    return b"".join(_bytes(1, _SCHEMA(item)) for item in (value if isinstance(value, list) else [value]))


def _additional(value: Any) -> bytes:
    """``AdditionalPropertiesItem``: a schema (1) or a boolean (2)."""
    return _bool(2, in_oneof=True)(value) if isinstance(value, bool) else _bytes(1, _SCHEMA(value))


def _type(value: Any) -> bytes:
    return _strings(1)([value] if isinstance(value, str) else value)


_SCHEMA: Encode = _fields({
    "$ref": _string(1), "format": _string(2), "title": _string(3), "description": _string(4),
    "default": _message(5, lambda: _any), "multipleOf": _double(6), "maximum": _double(7),
    "exclusiveMaximum": _bool(8), "minimum": _double(9), "exclusiveMinimum": _bool(10), "maxLength": _int64(11),
    "minLength": _int64(12), "pattern": _string(13), "maxItems": _int64(14), "minItems": _int64(15),
    "uniqueItems": _bool(16), "maxProperties": _int64(17), "minProperties": _int64(18), "required": _strings(19),
    "enum": _repeated(_message(20, lambda: _any)), "additionalProperties": _message(21, lambda: _additional),
    "type": _message(22, lambda: _type), "items": _message(23, lambda: _items),
    "allOf": _repeated(_message(24, _schema)), "properties": _message(25, lambda: _named(1, _schema)),
    "discriminator": _string(26), "readOnly": _bool(27), "example": _message(30, lambda: _any),
}, extensions=31)

_PRIMITIVES_ITEMS: Encode = _fields({
    "type": _string(1), "format": _string(2), "items": _message(3, lambda: _PRIMITIVES_ITEMS),
    "collectionFormat": _string(4), **_validations(5)}, extensions=18)

_JSON_REFERENCE: Encode = _fields({"$ref": _string(1), "description": _string(2)})

# Query and formData sub-schemas share one layout (with allowEmptyValue), path and header another.
_QUERY_LIKE: Encode = _fields({
    "required": _bool(1), "in": _string(2), "description": _string(3), "name": _string(4),
    "allowEmptyValue": _bool(5), "type": _string(6), "format": _string(7),
    "items": _message(8, lambda: _PRIMITIVES_ITEMS), "collectionFormat": _string(9), **_validations(10)},
    extensions=23)
_PATH_LIKE: Encode = _fields({
    "required": _bool(1), "in": _string(2), "description": _string(3), "name": _string(4), "type": _string(5),
    "format": _string(6), "items": _message(7, lambda: _PRIMITIVES_ITEMS), "collectionFormat": _string(8),
    **_validations(9)}, extensions=22)
_NON_BODY = {"header": (1, _PATH_LIKE), "formData": (2, _QUERY_LIKE), "query": (3, _QUERY_LIKE),
             "path": (4, _PATH_LIKE)}

_BODY_PARAMETER: Encode = _fields({
    "description": _string(1), "name": _string(2), "in": _string(3), "required": _bool(4),
    "schema": _message(5, _schema)}, extensions=6)


def _parameter(value: Mapping[str, Any]) -> bytes:
    """``Parameter``: a body parameter (1) or a non-body one (2) by its sub-schema's location."""
    if value.get("in") == "body":
        return _bytes(1, _BODY_PARAMETER(value))
    number, encode = _NON_BODY.get(str(value.get("in")), (3, _QUERY_LIKE))
    return _bytes(2, _bytes(number, encode(value)))


def _parameters_item(value: Mapping[str, Any]) -> bytes:
    """``ParametersItem``: a parameter (1) or a ``$ref`` to one (2)."""
    return _bytes(2, _JSON_REFERENCE(value)) if "$ref" in value else _bytes(1, _parameter(value))


_RESPONSE: Encode = _fields({
    "description": _string(1), "schema": _message(2, lambda: lambda schema: _bytes(1, _SCHEMA(schema)))},
    extensions=5)


def _response_value(value: Mapping[str, Any]) -> bytes:
    return _bytes(2, _JSON_REFERENCE(value)) if "$ref" in value else _bytes(1, _RESPONSE(value))


def _responses(value: Mapping[str, Any]) -> bytes:
    codes = {k: v for k, v in value.items() if not k.startswith("x-")}
    extensions = {k: v for k, v in value.items() if k.startswith("x-")}
    return _named(1, lambda: _response_value)(codes) + _fields({}, extensions=2)(extensions)


def _security_requirement(value: Mapping[str, Any]) -> bytes:
    return _named(1, lambda: _strings(1))(value)


_OPERATION: Encode = _fields({
    "tags": _strings(1), "summary": _string(2), "description": _string(3), "operationId": _string(5),
    "produces": _strings(6), "consumes": _strings(7), "parameters": _repeated(_message(8, lambda: _parameters_item)),
    "responses": _message(9, lambda: _responses), "schemes": _strings(10), "deprecated": _bool(11),
    "security": _repeated(_message(12, lambda: _security_requirement))}, extensions=13)

_PATH_ITEM: Encode = _fields({
    "$ref": _string(1), "get": _message(2, lambda: _OPERATION), "put": _message(3, lambda: _OPERATION),
    "post": _message(4, lambda: _OPERATION), "delete": _message(5, lambda: _OPERATION),
    "options": _message(6, lambda: _OPERATION), "head": _message(7, lambda: _OPERATION),
    "patch": _message(8, lambda: _OPERATION), "parameters": _repeated(_message(9, lambda: _parameters_item))},
    extensions=10)


def _paths(value: Mapping[str, Any]) -> bytes:
    """``Paths``: extensions in field 1, then the paths in field 2."""
    extensions = {k: v for k, v in value.items() if k.startswith("x-")}
    paths = {k: v for k, v in value.items() if not k.startswith("x-")}
    return _fields({}, extensions=1)(extensions) + _named(2, lambda: _PATH_ITEM)(paths)


_API_KEY: Encode = _fields({"type": _string(1), "name": _string(2), "in": _string(3), "description": _string(4)},
                           extensions=5)
_BASIC: Encode = _fields({"type": _string(1), "description": _string(2)}, extensions=3)


def _security_definition(value: Mapping[str, Any]) -> bytes:
    """``SecurityDefinitionsItem``: basic (1) or apiKey (2); the OAuth2 flows are not served here."""
    return _bytes(1, _BASIC(value)) if value.get("type") == "basic" else _bytes(2, _API_KEY(value))


_INFO: Encode = _fields({"title": _string(1), "version": _string(2), "description": _string(3),
                         "termsOfService": _string(4)}, extensions=7)

_DOCUMENT: Encode = _fields({
    "swagger": _string(1), "info": _message(2, lambda: _INFO), "host": _string(3), "basePath": _string(4),
    "schemes": _strings(5), "consumes": _strings(6), "produces": _strings(7), "paths": _message(8, lambda: _paths),
    "definitions": _message(9, lambda: _named(1, _schema)),
    "parameters": _message(10, lambda: _named(1, lambda: _parameter)),
    "responses": _message(11, lambda: _named(1, lambda: _RESPONSE)),
    "security": _repeated(_message(12, lambda: _security_requirement)),
    "securityDefinitions": _message(13, lambda: _named(1, lambda: _security_definition)),
}, extensions=16)


def encode_openapi_v2(document: Mapping[str, Any]) -> bytes:
    """The Swagger 2.0 ``document`` (as ``openapi_v2`` builds it) as a gnostic ``Document`` message."""
    return _DOCUMENT(document)
