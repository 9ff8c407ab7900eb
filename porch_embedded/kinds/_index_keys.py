"""Index keys: the derived values the store keeps as rows so that a few lookups need no scan.

Two questions are asked of PackageRevisions on every write, and answering them by
reading every revision of a namespace made writes grow with the repository:

- which revisions follow a given one as their upstream (delete refuses while any
  does, as Porch's checkIfUpstreamIsReferenced does): key ``upstream:<name>``;
- which revisions belong to one package of one repository (numbering, the latest
  label, the Package object): key ``package:<repository>/<packageName>``.

The store keeps one row per (object, key), written in the same transaction as the
object, and answers ``Store.indexed`` with an index lookup. This module says, per
resource, which keys an object has; it is pure data about the kinds, as field
selectors are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from porch_embedded.kinds._kind import Body
from porch_embedded.kinds._porch import PACKAGE_REVISION

__all__ = ["INDEXED_RESOURCES", "index_keys", "package_key", "upstream_key", "upstream_names"]


def upstream_key(name: str) -> str:
    """The key of the revisions that follow the revision ``name`` as upstream."""
    return f"upstream:{name}"


def package_key(repository: str, package: str) -> str:
    """The key of the revisions of ``package`` in ``repository`` (a repository name has no '/')."""
    return f"package:{repository}/{package}"


def upstream_names(body: Body) -> frozenset[str]:
    """The PackageRevisions this one follows as its upstream, as in Porch's delete check.

    A clone's ``upstreamRef.upstreamRef.name`` and an upgrade's ``newUpstreamRef.name``
    count (an upgrade's oldUpstreamRef is what it moved away from); a branch placeholder
    (revision -1), which repeats the tasks of its package's latest published revision,
    follows nothing of its own.
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


def _package_revision_keys(body: Body) -> frozenset[str]:
    spec = body.get("spec") or {}
    keys = {upstream_key(name) for name in upstream_names(body)}
    repository, package = spec.get("repository"), spec.get("packageName")
    if isinstance(repository, str) and isinstance(package, str) and repository and package:
        keys.add(package_key(repository, package))
    return frozenset(keys)


_INDEX_KEYS: Mapping[str, Callable[[Body], frozenset[str]]] = {PACKAGE_REVISION.resource: _package_revision_keys}

INDEXED_RESOURCES = frozenset(_INDEX_KEYS)
"""The store keys (``plural.group``) of the kinds whose objects have index keys."""


def index_keys(resource: str, body: Body) -> frozenset[str]:
    """The index keys of ``body``, an object of ``resource`` (none for most kinds)."""
    extract = _INDEX_KEYS.get(resource)
    return extract(body) if extract is not None else frozenset()
