"""A list's WHERE condition, assembled once; each store's dialect translates one requirement.

The SQLite and PostgreSQL compilers differ only in how one label or field requirement
becomes SQL (and in their placeholder); the conjunction of resource, namespace, label
and field clauses, and the order of their parameters, is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from porch_embedded.meta import FieldMatch, LabelRequirement
from porch_embedded.store._protocol import ListQuery

__all__ = ["list_filter"]


def list_filter(query: ListQuery, mark: str, label_sql: Callable[[LabelRequirement, list[Any]], str],
                field_sql: Callable[[FieldMatch, list[Any]], str]) -> tuple[str, list[Any]]:
    """The WHERE condition (over table alias ``o``) and its parameters, ``mark`` the placeholder."""
    params: list[Any] = [query.resource]
    clauses = [f"o.resource = {mark}"]
    if query.namespace:
        clauses.append(f"o.namespace = {mark}")
        params.append(query.namespace)
    clauses += [label_sql(requirement, params) for requirement in query.labels.requirements]
    clauses += [field_sql(match, params) for match in query.fields]
    return " AND ".join(f"({clause})" for clause in clauses), params
