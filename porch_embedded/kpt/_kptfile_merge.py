"""The Kptfile's three-way merge and comparisons, as every kpt update strategy does them (kpt.md §5.7, §5.9).

kpt merges the local, updated and original Kptfiles with list-key inference on, so
pipeline functions pair by ``name``; when no function of any of the three has a name
and no list repeats an image (tag ignored) or exec, each function is paired by a
synthetic ``_kpt-merge_<image>`` name for the merge only. Only annotations, labels,
info, pipeline, inventory and status are merged; name and namespace stay local's;
``upstream``/``upstreamLock`` are copied from updated where kpt copies them.

kpt rewrites the Kptfile from its struct (comments lost, canonical order); here the
local Kptfile keeps its comments and order, and is kept byte for byte when the merge
changes nothing. Every Kptfile is validated first, with kpt's messages.
"""

from __future__ import annotations

import copy
from typing import Any

from porch_embedded.kpt._kptfile import KPTFILE, kptfile_from_object, scalar_text
from porch_embedded.kpt._merge3 import MISSING, merge_resource
from porch_embedded.kpt._resource_merge import load_tree
from porch_embedded.kpt._resourcelist import UPSTREAM_IDENTIFIER
from porch_embedded.kpt._yaml import dump_document, new_map, to_plain

__all__ = ["clear_render_status", "kptfile_changed", "merge_kptfiles", "read_kptfile", "render_kptfile"]

_ORDER = ("apiVersion", "kind", "metadata", "upstream", "upstreamLock", "info", "pipeline", "inventory", "status")
_MERGED = ("info", "pipeline", "inventory", "status")
_SYNTHETIC = "_kpt-merge_"


def read_kptfile(path: str, text: str | None) -> Any:
    """The Kptfile's round-trip tree (an empty one if absent), validated as kpt decodes it."""
    if text is None:
        return new_map()
    tree = load_tree(path, text)
    kptfile_from_object(tree, path)
    return tree


def _functions(kptfile: Any) -> list[list[Any]]:
    pipeline = kptfile.get("pipeline") if isinstance(kptfile, dict) else None
    if not isinstance(pipeline, dict):
        return []
    return [fns for fns in (pipeline.get("mutators"), pipeline.get("validators")) if isinstance(fns, list)]


def _function_key(fn: Any) -> str:
    exec_ = scalar_text(fn.get("exec"))
    return exec_ or scalar_text(fn.get("image")).split(":")[0]


def _needs_synthetic_names(kptfiles: list[Any]) -> bool:
    for kptfile in kptfiles:
        for fns in _functions(kptfile):
            keys: set[str] = set()
            for fn in fns:
                if not isinstance(fn, dict) or scalar_text(fn.get("name")):
                    return False
                key = _function_key(fn)
                if key in keys:
                    return False
                keys.add(key)
    return True


def _name_functions(kptfile: Any) -> None:
    for fns in _functions(kptfile):
        for fn in fns:
            fn["name"] = _SYNTHETIC + _function_key(fn)


def _unname_functions(kptfile: Any) -> None:
    for fns in _functions(kptfile):
        for fn in fns:
            if isinstance(fn, dict) and scalar_text(fn.get("name")).startswith(_SYNTHETIC):
                del fn["name"]


def _place(kptfile: Any, key: str, value: Any) -> None:
    """Set a top-level field, inserting a new one at its canonical position."""
    if key in kptfile:
        kptfile[key] = value
        return
    rank = _ORDER.index(key)
    position = sum(1 for k in kptfile if k in _ORDER and _ORDER.index(k) < rank)
    kptfile.insert(position, key, value)


def _merge_field(local: Any, origin: Any, updated: Any, key: str) -> Any:
    result, _ = merge_resource(
        local.get(key, MISSING), origin.get(key, MISSING), updated.get(key, MISSING), None, infer=True
    )
    return result


def _set_or_drop(target: Any, key: str, value: Any, *, top: bool) -> None:
    if value is MISSING or value is None or (isinstance(value, (dict, list)) and not value):
        target.pop(key, None)
    elif top:
        _place(target, key, value)
    else:
        target[key] = value


def merge_kptfiles(local: Any, updated: Any, origin: Any, *, update_upstream: bool) -> Any:
    """Merge three Kptfile trees into ``local`` (changed in place and returned)."""
    local, updated, origin = (k if isinstance(k, dict) else new_map() for k in (local, updated, origin))
    updated, origin = copy.deepcopy(updated), copy.deepcopy(origin)
    if not local:
        for key in ("apiVersion", "kind"):
            if key in updated:
                local[key] = updated[key]
    synthetic = _needs_synthetic_names([local, updated, origin])
    if synthetic:
        for kptfile in (local, updated, origin):
            _name_functions(kptfile)
    metas = [k.get("metadata") if isinstance(k.get("metadata"), dict) else new_map() for k in (local, origin, updated)]
    for key in ("annotations", "labels"):
        merged = _merge_field(metas[0], metas[1], metas[2], key)
        if merged is not MISSING or key in metas[0]:
            if "metadata" not in local:
                _place(local, "metadata", metas[0])
            _set_or_drop(metas[0], key, merged, top=False)
    for key in _MERGED:
        _set_or_drop(local, key, _merge_field(local, origin, updated, key), top=True)
    if synthetic:
        _unname_functions(local)
    if update_upstream:
        for key in ("upstream", "upstreamLock"):
            if isinstance(updated.get(key), dict):
                _place(local, key, updated[key])
    return local


def clear_render_status(kptfile: Any) -> None:
    """Drop kpt's render status and Rendered condition (what fast-forward does after copying)."""
    status = kptfile.get("status") if isinstance(kptfile, dict) else None
    if not isinstance(status, dict):
        return
    status.pop("renderStatus", None)
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        kept = [c for c in conditions if not (isinstance(c, dict) and scalar_text(c.get("type")) == "Rendered")]
        if kept:
            conditions[:] = kept
        else:
            del status["conditions"]
    if not status:
        del kptfile["status"]


def _comparable(tree: Any, *, render_status: bool, name: str | None) -> Any:
    plain = to_plain(tree) if isinstance(tree, dict) else {}
    plain.pop("upstream", None)
    plain.pop("upstreamLock", None)
    metadata = plain.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if isinstance(annotations, dict) and UPSTREAM_IDENTIFIER in annotations:
        del annotations[UPSTREAM_IDENTIFIER]  # what a clone adds is not a local change
        if not annotations:
            del metadata["annotations"]
    if render_status:
        clear_render_status(plain)
    if name is not None:
        plain.setdefault("metadata", {})["name"] = name
    return plain


def kptfile_changed(local: str | None, origin: str | None, *, root: bool, package: str) -> bool:
    """Whether the local Kptfile differs from origin's, as kpt's fast-forward checks it.

    upstream, upstreamLock and the upstream-identifier annotation a clone adds never count;
    for the root package the render status and
    the name do not count either, and a missing original counts as kpt's default
    Kptfile (apiVersion, kind and name only).
    """
    if local == origin:
        return False
    path = f"{package}/{KPTFILE}" if package else KPTFILE
    local_tree = read_kptfile(path, local) if local is not None else None
    if origin is None:
        if not root or local_tree is None:
            return True
        default = {"apiVersion": local_tree.get("apiVersion"), "kind": local_tree.get("kind"),
                   "metadata": {"name": scalar_text((local_tree.get("metadata") or {}).get("name"))}}
        return _comparable(local_tree, render_status=True, name=None) != default
    origin_tree = read_kptfile(path, origin)
    name = scalar_text((local_tree or {}).get("metadata", {}).get("name")) if root else None
    return (_comparable(local_tree, render_status=root, name=name)
            != _comparable(origin_tree, render_status=root, name=name))


def render_kptfile(tree: Any, before: str | None) -> str:
    """The Kptfile's text: ``before`` itself if the tree still reads the same, else a fresh dump."""
    text = dump_document(tree, "wide")
    if before is not None and text == dump_document(load_tree(KPTFILE, before), "wide"):
        return before
    return text
