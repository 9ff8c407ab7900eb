"""Which objects an object names as its source: the references the store keeps as rows.

A PackageRevision made by a clone or moved by an upgrade follows another revision, its
upstream; Porch refuses to delete a revision that others follow. Finding those followers
must not mean reading every revision of a namespace, so the store keeps one row per
(object, referenced name), written in the same transaction as the object, and answers
"who references X" with an indexed lookup. This module says, per resource, which names
an object references; it is pure data about the kinds, as field selectors are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from porch_embedded.kinds._porch import PACKAGE_REVISION

__all__ = ["REFERENCING_RESOURCES", "references_of", "upstream_names"]

Body = dict[str, Any]


def upstream_names(body: Body) -> frozenset[str]:
    """The PackageRevisions this one follows as its upstream, as in Porch's delete check.

    A clone's ``upstreamRef.upstreamRef.name`` and an upgrade's ``newUpstreamRef.name``
    count (an upgrade's oldUpstreamRef is what it moved away from); a branch placeholder
    (revision -1), which repeats the tasks of its package's latest published revision,
    references nothing of its own.
    """
    spec = body.get("spec") or {}
    try:
        if int(spec.get("revision", 0) or 0) == -1:
            return frozenset()
    except (TypeError, ValueError):
        pass
    names: set[str] = set()
    for task in spec.get("tasks") or ():
        if not isinstance(task, dict):
            continue
        clone = ((task.get("clone") or {}).get("upstreamRef") or {}).get("upstreamRef") or {}
        upgrade = (task.get("upgrade") or {}).get("newUpstreamRef") or {}
        for name in (clone.get("name"), upgrade.get("name")):
            if isinstance(name, str) and name:
                names.add(name)
    return frozenset(names)


_REFERENCES: Mapping[str, Callable[[Body], frozenset[str]]] = {PACKAGE_REVISION.resource: upstream_names}

REFERENCING_RESOURCES = frozenset(_REFERENCES)
"""The store keys (``plural.group``) of the kinds whose objects reference others."""


def references_of(resource: str, body: Body) -> frozenset[str]:
    """The names (same resource, same namespace) that ``body`` of ``resource`` references."""
    extract = _REFERENCES.get(resource)
    return extract(body) if extract is not None else frozenset()
