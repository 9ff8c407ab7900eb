"""Object bodies as the store sees them: copied on the way in, keyed, stamped."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from porch_embedded.errors import BadRequest

__all__ = ["Body", "copy_body", "encoded_items", "key_of", "stamp"]

Body = dict[str, Any]


def copy_body(resource: str, body: Body) -> Body:
    """A deep copy that is plain JSON, so the caller's dict is never aliased or mutated.

    Raises BadRequest when the body is not a JSON object (e.g. holds a datetime).
    """
    if not resource:
        raise BadRequest("a store change needs a resource (plural.group)")
    try:
        copied = json.loads(json.dumps(body))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{resource}: the object is not plain JSON: {exc}") from exc
    if not isinstance(copied, dict) or not isinstance(copied.get("metadata") or {}, dict):
        raise BadRequest(f"{resource}: the object must be a JSON object with a metadata object")
    return copied


def key_of(resource: str, body: Body) -> tuple[str, str]:
    """(namespace, name) of a body; raises BadRequest without a name."""
    metadata = body.get("metadata") or {}
    namespace, name = metadata.get("namespace") or "", metadata.get("name") or ""
    if not isinstance(name, str) or not name or not isinstance(namespace, str):
        raise BadRequest(f"{resource}: metadata.name is required and must be a string")
    return namespace, name


def stamp(body: Body, resource_version: int) -> Body:
    """Set metadata.resourceVersion (a string, as Kubernetes serialises it) in place."""
    body.setdefault("metadata", {})["resourceVersion"] = str(resource_version)
    return body


def uid_of(body: Body) -> str:
    return str((body.get("metadata") or {}).get("uid") or "")


def encoded_items(rows: Sequence[tuple[str, str | None]], decode: Callable[[str, str | None], Body]) -> list[str]:
    """Each stored row's JSON text as a list item: the stored text as it is, unless the row has
    sealed fields, which only decoding (opening them) can put back."""
    return [body if sealed is None else json.dumps(decode(body, sealed), separators=(",", ":"))
            for body, sealed in rows]
