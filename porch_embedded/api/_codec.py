"""Request bodies in, response bodies out: media types, JSON and YAML, Table negotiation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from porch_embedded.api._protobuf import PROTOBUF_MEDIA_TYPE, decode_protobuf_object
from porch_embedded.errors import BadRequest, NotAcceptable, UnsupportedMediaType

__all__ = ["Accept", "decode_body", "encode_json", "media_type", "parse_accept"]

_JSON_TYPES = ("application/json", "*/*", "application/*")
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header (parameters dropped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str | None) -> Any:
    """Parse a request body as JSON or YAML, saying where it is malformed."""
    kind = media_type(content_type)
    if not raw.strip():
        raise BadRequest("the request body is empty; send the object as JSON or YAML")
    if kind in _YAML_TYPES or kind == "application/apply-patch+yaml":
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise BadRequest(f"the request body is not valid YAML: {exc}") from exc
    if kind in ("", "application/json") or kind.endswith("+json"):
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(
                f"the request body is not valid JSON: {exc.msg if isinstance(exc, json.JSONDecodeError) else exc}"
                + (f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "")
            ) from exc
    if kind == PROTOBUF_MEDIA_TYPE:
        return decode_protobuf_object(raw)
    raise UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml (not {kind})"
    )


def encode_json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Accept:
    """What the client wants back: plain JSON/YAML, a Table, or aggregated discovery."""

    table: bool = False
    yaml: bool = False
    discovery_v2: bool = False


def parse_accept(header: str | None, *, allow_discovery: bool = False) -> Accept:
    """Pick the first representation we can serve from an Accept header, in its order."""
    if not header:
        return Accept()
    for entry in header.split(","):
        kind, *params = [part.strip() for part in entry.split(";")]
        kind = kind.lower()
        options = dict(p.split("=", 1) for p in params if "=" in p)
        if options.get("as") == "Table" and options.get("g") == "meta.k8s.io" and kind == "application/json":
            return Accept(table=True)
        if options.get("as") == "APIGroupDiscoveryList":
            if allow_discovery and options.get("v") == "v2" and options.get("g") == "apidiscovery.k8s.io":
                return Accept(discovery_v2=True)
            continue
        if options.get("as"):
            continue
        if kind in _JSON_TYPES:
            return Accept()
        if kind in _YAML_TYPES:
            return Accept(yaml=True)
    raise NotAcceptable(
        f"only the following media types are accepted: application/json, application/yaml, "
        f"application/json;as=Table;v=v1;g=meta.k8s.io (asked for {header})"
    )
