"""A list's WHERE condition, assembled once; each store's dialect translates one requirement.

The SQLite and PostgreSQL compilers differ only in how one label or field requirement
becomes SQL (and in their placeholder); the conjunction of resource, namespace, label
and field clauses, and the order of their parameters, is the same for both. A field
match with a ``twin`` is read from the twin's row (alias ``t``, same namespace and name)
through an EXISTS on the primary key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from porch_embedded.meta import FieldMatch, LabelRequirement
from porch_embedded.store._protocol import ListQuery

__all__ = ["list_filter"]


def list_filter(query: ListQuery, mark: str, label_sql: Callable[[LabelRequirement, list[Any]], str],
                field_sql: Callable[[FieldMatch, list[Any], str], str], table: str) -> tuple[str, list[Any]]:
    """The WHERE condition (over ``table`` as alias ``o``) and its parameters, ``mark`` the placeholder.

    ``field_sql(match, params, alias)`` reads the match's path from the body of ``alias``.
    """
    params: list[Any] = [query.resource]
    clauses = [f"o.resource = {mark}"]
    if query.namespace:
        clauses.append(f"o.namespace = {mark}")
        params.append(query.namespace)
    clauses += [label_sql(requirement, params) for requirement in query.labels.requirements]
    for match in query.fields:
        if not match.twin:
            clauses.append(field_sql(match, params, "o"))
            continue
        params.append(match.twin)
        clauses.append(f"EXISTS (SELECT 1 FROM {table} t WHERE t.resource = {mark} AND t.namespace = o.namespace "
                       f"AND t.name = o.name AND {field_sql(match, params, 't')})")
    return " AND ".join(f"({clause})" for clause in clauses), params
