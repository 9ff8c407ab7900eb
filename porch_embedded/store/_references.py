"""Reference rows: who names whom, kept beside the objects so "who references X" is an index lookup.

For every object of a kind that references others (``kinds.references_of``: a
PackageRevision names the revisions it follows as upstream), the store keeps one row
(resource, namespace, target, name) per referenced ``target``, written in the same
transaction as the object and removed with it, so the rows are exactly as fresh as the
objects. A resync that rewrites the objects rewrites their rows; a database written
before the rows existed gets them from its schema migration, which reads the objects.
The SQL per database lives with each store; the rows' content is decided here, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from porch_embedded.kinds import REFERENCING_RESOURCES, references_of
from porch_embedded.store._bodies import Body

__all__ = ["REFERENCING_RESOURCES", "ReferenceRow", "reference_rows", "reference_rows_of_stored"]

ReferenceRow = tuple[str, str, str, str]
"""(resource, namespace, target, name): the object ``name`` references ``target``."""


def reference_rows(resource: str, namespace: str, name: str, body: Body | None) -> list[ReferenceRow]:
    """The rows an object written as ``body`` has (none once it is deleted: ``body`` None)."""
    if body is None or resource not in REFERENCING_RESOURCES:
        return []
    return [(resource, namespace, target, name) for target in sorted(references_of(resource, body))]


def reference_rows_of_stored(rows: Iterable[tuple[str, str, str, str]]) -> Iterator[ReferenceRow]:
    """The rows of stored objects given as (resource, namespace, name, body JSON): for migrations."""
    for resource, namespace, name, body in rows:
        yield from reference_rows(resource, namespace, name, json.loads(body))
