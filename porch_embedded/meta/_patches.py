"""PATCH bodies: JSON merge patch, JSON patch, and strategic merge patch.

JSON patch (RFC 6902) is delegated to the ``jsonpatch`` library. JSON merge patch
(RFC 7386) is ten lines. Strategic merge patch is the Kubernetes dialect kubectl sends
for core kinds: a merge patch that also honours the ``$patch: replace|delete`` and
``$retainKeys`` directives and drops ``$setElementOrder`` hints. Porch's own types
declare no merge keys, so their lists are replaced whole; ObjectMeta's two merging
lists merge as in a kube-apiserver: ``metadata.finalizers`` as a set (items leave
through ``$deleteFromPrimitiveList/finalizers``) and ``metadata.ownerReferences`` by
``uid`` (an item leaves with ``$patch: delete``). A patch that adds a finalizer thus
never drops the ones other controllers hold.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from porch_embedded.errors import BadRequest, Invalid, UnsupportedMediaType

__all__ = ["PATCH_TYPES", "apply_patch", "json_merge_patch"]

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


_MERGE_KEYS: dict[tuple[str, ...], str | None] = {
    ("metadata", "finalizers"): None,  # a set of strings
    ("metadata", "ownerReferences"): "uid",
}
"""Lists that merge instead of being replaced, by path from the object root: ObjectMeta's."""


def _merge_list(target: Any, patch: list[Any], key: str | None, removed: Any) -> list[Any]:
    """Merge a strategic-merge list: by ``key`` for objects, as a set for strings."""
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    result = copy.deepcopy(target) if isinstance(target, list) else []
    if key is None:
        drop = removed if isinstance(removed, list) else []
        result = [item for item in result if item not in drop]
        return result + [item for item in patch if item not in result and item not in drop]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise BadRequest(f"every item of a strategic merge patch of this list must be an object with {key!r}")
        index = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            result[index] = _strategic_merge(result[index], item)
    return result


def _strategic_merge(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if not k.startswith("$")}
    if directive == "replace":
        return {k: _strategic_merge(None, v) for k, v in body.items() if v is not None}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for name in _MERGE_KEYS:
        if path == name[:-1] and f"$deleteFromPrimitiveList/{name[-1]}" in patch:
            body.setdefault(name[-1], [])
    for key, value in body.items():
        child = (*path, key)
        if value is None:
            result.pop(key, None)
            continue
        if child in _MERGE_KEYS and isinstance(value, list):
            removed = patch.get(f"$deleteFromPrimitiveList/{key}")
            result[key] = _merge_list(result.get(key), value, _MERGE_KEYS[child], removed)
            continue
        merged = _strategic_merge(result.get(key), value, child)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    return result


def apply_patch(target: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """Apply a PATCH body of the given media type; raise BadRequest/Invalid saying what is wrong."""
    if content_type == "application/merge-patch+json":
        if not isinstance(patch, dict):
            raise BadRequest("a merge patch must be a JSON object")
        return json_merge_patch(target, patch)
    if content_type == "application/strategic-merge-patch+json":
        if not isinstance(patch, dict):
            raise BadRequest("a strategic merge patch must be a JSON object")
        return _strategic_merge(target, patch)
    if content_type == "application/json-patch+json":
        if not isinstance(patch, list):
            raise BadRequest("a JSON patch must be a JSON array of operations")
        try:
            result = jsonpatch.JsonPatch(patch).apply(target)
        except jsonpatch.JsonPatchConflict as exc:
            raise Invalid(f"the JSON patch cannot be applied: {exc}") from exc
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
            raise BadRequest(f"the JSON patch is malformed: {exc}") from exc
        if not isinstance(result, dict):
            raise Invalid("the JSON patch must leave an object, not replace it with another type")
        return result
    raise UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(PATCH_TYPES)}, application/apply-patch+yaml"
    )
