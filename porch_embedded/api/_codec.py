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


class _JsonYamlLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it: the JSON data model, so an unquoted date stays a string."""


_JsonYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_MAX_DEPTH = 100
"""Deepest nesting a body may have; no kind's schema comes near it."""


def _json_data(value: Any, path: str, depth: int = 0) -> Any:
    """``value`` checked to be JSON data the store and encoder can take back unchanged.

    JSON text can still carry a lone UTF-16 surrogate (``"\\ud800"``) or NaN, and YAML
    binary, set and timestamp tags or number keys; stored, any of them would make every
    later read of the object fail. Number and boolean keys become strings, as
    Kubernetes' YAML-to-JSON conversion makes them; anything else is refused here,
    with the place to fix. Raises BadRequest.
    """
    if depth > _MAX_DEPTH:
        raise BadRequest(f"the request body nests deeper than {_MAX_DEPTH} levels at {path or '.'}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest(f"the request body holds text that is not valid Unicode (a lone UTF-16 surrogate "
                             f"escape such as \\ud800) at {path or '.'}") from exc
        return value
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise BadRequest(f"the request body holds {value}, which JSON cannot carry, at {path or '.'}")
        return value
    if isinstance(value, list):
        return [_json_data(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    if isinstance(value, dict):
        checked = {}
        for key, item in value.items():
            if isinstance(key, bool):
                key = "true" if key else "false"
            elif isinstance(key, int | float) or key is None:
                key = "null" if key is None else str(key)
            elif not isinstance(key, str):
                raise BadRequest(f"the request body has a key of type {type(key).__name__} at {path or '.'}; "
                                 "keys must be strings")
            key = _json_data(key, path, depth)
            checked[key] = _json_data(item, f"{path}.{key}" if path else key, depth + 1)
        return checked
    raise BadRequest(f"the request body holds a {type(value).__name__} value at {path or '.'}, which is not JSON "
                     "data; quote it as a string")


def decode_body(raw: bytes, content_type: str | None) -> Any:
    """Parse a request body as JSON or YAML into plain JSON data, saying where it is malformed."""
    kind = media_type(content_type)
    if not raw.strip():
        raise BadRequest("the request body is empty; send the object as JSON or YAML")
    if kind in _YAML_TYPES or kind == "application/apply-patch+yaml":
        try:
            return _json_data(yaml.load(raw, Loader=_JsonYamlLoader), "")  # noqa: S506 - a SafeLoader
        except yaml.YAMLError as exc:
            raise BadRequest(f"the request body is not valid YAML: {exc}") from exc
        except RecursionError as exc:
            raise BadRequest(f"the request body nests deeper than {_MAX_DEPTH} levels") from exc
    if kind in ("", "application/json") or kind.endswith("+json"):
        try:
            return _json_data(json.loads(raw, parse_constant=_no_constant), "")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(
                f"the request body is not valid JSON: {exc.msg if isinstance(exc, json.JSONDecodeError) else exc}"
                + (f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "")
            ) from exc
        except RecursionError as exc:
            raise BadRequest(f"the request body nests deeper than {_MAX_DEPTH} levels") from exc
    if kind == PROTOBUF_MEDIA_TYPE:
        return decode_protobuf_object(raw)
    raise UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml (not {kind})"
    )


def _no_constant(name: str) -> Any:
    raise BadRequest(f"the request body is not valid JSON: {name} is not a JSON value")


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
