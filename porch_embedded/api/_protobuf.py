"""Decode the Kubernetes protobuf request bodies client-go sends for core kinds.

kubectl's typed clients (``kubectl create secret``, ``create namespace``) send
``application/vnd.kubernetes.protobuf`` and cannot fall back to JSON for a request body.
We decode the few core messages we serve (Secret, Namespace, ObjectMeta) from the
protobuf wire format into their JSON form; responses are always JSON, which the client
decodes by the response's Content-Type.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Callable, Iterator
from typing import Any

from porch_embedded.errors import BadRequest, UnsupportedMediaType

__all__ = ["PROTOBUF_MEDIA_TYPE", "decode_protobuf_object"]

PROTOBUF_MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise BadRequest("the protobuf body ends in the middle of a number")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs; length-delimited values as bytes, varints as int."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise BadRequest("the protobuf body ends in the middle of a field")
            yield number, data[position:position + length]
            position += length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
            if position > len(data):
                raise BadRequest("the protobuf body ends in the middle of a field")
        else:
            raise BadRequest(f"the protobuf body has an unsupported wire type {wire_type}")


def _bytes(value: int | bytes) -> bytes:
    """A length-delimited field's bytes; a number where one belongs is a malformed body."""
    if not isinstance(value, bytes):
        raise BadRequest("the protobuf body has a number where a message or text field belongs")
    return value


def _text(value: int | bytes) -> str:
    try:
        return _bytes(value).decode()
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the protobuf body holds text that is not UTF-8 ({exc.reason})") from exc


def _map_entry(value: int | bytes) -> tuple[str, bytes]:
    value = _bytes(value)
    key, item = "", b""
    for number, part in _fields(value):
        if number == 1:
            key = _text(part)
        elif number == 2 and isinstance(part, bytes):
            item = part
    return key, item


def _time(value: int | bytes) -> str:
    seconds = 0
    for number, part in _fields(_bytes(value)):
        if number == 1 and isinstance(part, int):
            seconds = part
    try:
        return _dt.datetime.fromtimestamp(seconds, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError) as exc:
        raise BadRequest(f"the protobuf body holds a time of {seconds} seconds, out of range") from exc


def _owner_reference(value: bytes) -> dict[str, Any]:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    reference: dict[str, Any] = {}
    for number, part in _fields(value):
        if number in names:
            reference[names[number]] = _text(part)
        elif number == 6:
            reference["controller"] = bool(part)
        elif number == 7:
            reference["blockOwnerDeletion"] = bool(part)
    return reference


def _object_meta(value: int | bytes) -> dict[str, Any]:
    value = _bytes(value)
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    metadata: dict[str, Any] = {}
    for number, part in _fields(value):
        if number in strings:
            metadata[strings[number]] = _text(part)
        elif number == 7 and isinstance(part, int):
            metadata["generation"] = part
        elif number in (11, 12):
            key, item = _map_entry(part)
            metadata.setdefault("labels" if number == 11 else "annotations", {})[key] = _text(item)
        elif number == 13 and isinstance(part, bytes):
            metadata.setdefault("ownerReferences", []).append(_owner_reference(part))
        elif number == 14:
            metadata.setdefault("finalizers", []).append(_text(part))
        elif number == 9:
            metadata["deletionTimestamp"] = _time(part)
    return metadata


def _secret(raw: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret"}
    for number, part in _fields(raw):
        if number == 1:
            body["metadata"] = _object_meta(part)
        elif number == 2:
            key, item = _map_entry(part)
            body.setdefault("data", {})[key] = base64.b64encode(item).decode()
        elif number == 3:
            body["type"] = _text(part)
        elif number == 4:
            key, item = _map_entry(part)
            body.setdefault("stringData", {})[key] = _text(item)
        elif number == 5:
            body["immutable"] = bool(part)
    return body


def _namespace(raw: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace"}
    for number, part in _fields(raw):
        if number == 1:
            body["metadata"] = _object_meta(part)
        elif number == 2 and isinstance(part, bytes):
            finalizers = [_text(v) for n, v in _fields(part) if n == 1]
            body["spec"] = {"finalizers": finalizers} if finalizers else {}
    return body


_DECODERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    ("v1", "Secret"): _secret,
    ("v1", "Namespace"): _namespace,
}


def decode_protobuf_object(data: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\0``-prefixed runtime.Unknown holding a core v1 Secret or Namespace."""
    if not data.startswith(_MAGIC):
        raise BadRequest("the protobuf body does not start with the Kubernetes 'k8s\\0' prefix")
    api_version = kind = ""
    raw = b""
    for number, part in _fields(data[len(_MAGIC):]):
        if number == 1 and isinstance(part, bytes):
            for type_number, type_part in _fields(part):
                if type_number == 1:
                    api_version = _text(type_part)
                elif type_number == 2:
                    kind = _text(type_part)
        elif number == 2 and isinstance(part, bytes):
            raw = part
    decoder = _DECODERS.get((api_version, kind))
    if decoder is None:
        raise UnsupportedMediaType(
            f"protobuf bodies are accepted for core v1 Secret and Namespace only, not {api_version} {kind}; "
            "send application/json"
        )
    return decoder(raw)
