"""Index-key rows: derived keys kept beside the objects, so that a keyed lookup needs no scan.

For every object of a kind that has index keys (``kinds.index_keys``: a PackageRevision's
``upstream:<name>`` per revision it follows, and ``package:<repository>/<package>``), the
store keeps one row (resource, namespace, key, name), written in the same transaction as
the object and removed with it, so the rows are exactly as fresh as the objects. A
resync that rewrites the objects rewrites their rows; a database written before the
rows existed gets them from its schema migration, which reads the objects. The SQL per
database lives with each store; the rows' content is decided here, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from porch_embedded.kinds import INDEXED_RESOURCES, index_keys
from porch_embedded.store._bodies import Body

__all__ = ["INDEXED_RESOURCES", "KeyRow", "key_rows", "key_rows_of_stored"]

KeyRow = tuple[str, str, str, str]
"""(resource, namespace, key, name): the object ``name`` has the index key ``key``."""


def key_rows(resource: str, namespace: str, name: str, body: Body | None) -> list[KeyRow]:
    """The rows of an object written as ``body`` (none once it is deleted: ``body`` None)."""
    if body is None or resource not in INDEXED_RESOURCES:
        return []
    return [(resource, namespace, key, name) for key in sorted(index_keys(resource, body))]


def key_rows_of_stored(rows: Iterable[tuple[str, str, str, str]]) -> Iterator[KeyRow]:
    """The rows of stored objects given as (resource, namespace, name, body JSON): for migrations."""
    for resource, namespace, name, body in rows:
        yield from key_rows(resource, namespace, name, json.loads(body))
