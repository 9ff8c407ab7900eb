"""Label and field selectors compiled to PostgreSQL over the ``json`` body column.

``body #>> path`` yields a string's value and any other scalar's JSON text (``1``,
``true``), which is exactly the text meta.FieldMatch's rule compares (this module only
translates that rule); paths travel as ``text[]``
parameters, so no key needs quoting. Placeholders are psycopg's ``%s``.
"""

from __future__ import annotations

from typing import Any

from porch_embedded.errors import BadRequest
from porch_embedded.meta import FieldMatch, LabelRequirement
from porch_embedded.store._protocol import ListQuery
from porch_embedded.store._query import list_filter

__all__ = ["compile_list_filter"]


def _text_of(path: list[str], params: list[Any], alias: str = "o") -> str:
    params.append(path)
    return f"({alias}.body #>> %s::text[])"


def _label_sql(req: LabelRequirement, params: list[Any]) -> str:
    path = ["metadata", "labels", req.key]
    match req.operator:
        case "exists" | "!":
            params.append(path)
            return f"(o.body #> %s::text[]) IS {'NOT ' if req.operator == 'exists' else ''}NULL"
        case "=":
            value = _text_of(path, params)
            params.append(req.values[0])
            return f"{value} = %s"
        case "!=":
            value = _text_of(path, params)
            params.append(req.values[0])
            return f"{value} IS DISTINCT FROM %s"  # a missing label is "not equal"
        case "in":
            value = _text_of(path, params)
            params.append(list(req.values))
            return f"{value} = ANY(%s::text[])"
        case "notin":
            first = _text_of(path, params)
            second = _text_of(path, params)
            params.append(list(req.values))
            return f"{first} IS NULL OR NOT ({second} = ANY(%s::text[]))"
        case "gt" | "lt":
            first = _text_of(path, params)
            second = _text_of(path, params)
            params.append(int(req.values[0]))
            op = ">" if req.operator == "gt" else "<"
            # CASE fixes the evaluation order: only Go-style integers are cast.
            return f"CASE WHEN {first} ~ '^[+-]?[0-9]{{1,18}}$' THEN {second}::bigint {op} %s ELSE false END"
    raise AssertionError(req.operator)


def _field_sql(match: FieldMatch, params: list[Any], alias: str) -> str:
    """meta.FieldMatch's rule: the text at the path, ``missing`` when absent, compared."""
    if not match.path:
        raise BadRequest("a field selector needs a non-empty path")
    value = _text_of(list(match.path), params, alias)
    params += [match.missing, match.value]
    return f"COALESCE({value}, %s) {'=' if match.operator == '=' else '<>'} %s"


def compile_list_filter(query: ListQuery) -> tuple[str, list[Any]]:
    """The WHERE condition (over table alias ``o``) and its parameters for a list."""
    return list_filter(query, "%s", _label_sql, _field_sql, "porch_objects")
