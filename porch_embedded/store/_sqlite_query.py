"""Label and field selectors compiled to SQLite SQL over the JSON body column.

Values are read with ``json_type``/``json_extract`` and the ``->`` operator, so that a
string compares by its value and a number or boolean by its JSON text (``1``, ``true``),
as the field-matching rule says (meta.FieldMatch; this module only translates it).
Everything user-supplied travels as a bound parameter;
only JSON paths built from validated keys are spliced in, and those as parameters too.
"""

from __future__ import annotations

from typing import Any

from porch_embedded.errors import BadRequest
from porch_embedded.meta import FieldMatch, LabelRequirement
from porch_embedded.store._protocol import ListQuery
from porch_embedded.store._query import list_filter

__all__ = ["compile_list_filter"]


def _json_path(path: tuple[str, ...]) -> str:
    """``("metadata", "labels", "a.b/c")`` -> ``$."metadata"."labels"."a.b/c"``."""
    if not path:
        raise BadRequest("a field selector needs a non-empty path")
    for part in path:
        if '"' in part or "\\" in part:
            raise BadRequest(f"field path element {part!r} cannot be selected on (quote or backslash)")
    return "$" + "".join(f'."{part}"' for part in path)


def _text_of(path: str, params: list[Any], alias: str = "o") -> str:
    """SQL for the value at ``path`` of ``alias``'s body as text: strings as-is, other scalars as JSON text.

    NULL when the path is missing or holds JSON null.
    """
    params.extend([path, path, path])
    return (
        f"(CASE json_type({alias}.body, ?) WHEN 'text' THEN json_extract({alias}.body, ?) "
        f"WHEN 'null' THEN NULL ELSE {alias}.body -> ? END)"
    )


def _label_sql(req: LabelRequirement, params: list[Any]) -> str:
    path = _json_path(("metadata", "labels", req.key))
    if req.operator in ("exists", "!"):
        params.append(path)
        return f"json_type(o.body, ?) IS {'NOT ' if req.operator == 'exists' else ''}NULL"
    value = _text_of(path, params)
    match req.operator:
        case "=":
            params.append(req.values[0])
            return f"{value} = ?"
        case "!=":
            params.append(req.values[0])
            return f"{value} IS NOT ?"  # a missing label is "not equal", as in Kubernetes
        case "in" | "notin":
            marks = ", ".join("?" for _ in req.values)
            if req.operator == "in":
                params.extend(req.values)
                return f"{value} IN ({marks})"
            inner = _text_of(path, params)
            params.extend(req.values)
            return f"({value} IS NULL OR {inner} NOT IN ({marks}))"
        case "gt" | "lt":
            # Only an integer label value (optional '-', digits) takes part, as in Go.
            texts = [value, *(_text_of(path, params) for _ in range(3))]
            params.append(int(req.values[0]))
            op = ">" if req.operator == "gt" else "<"
            return (
                f"(({texts[0]} GLOB '[0-9]*' OR {texts[1]} GLOB '-[0-9]*') "
                f"AND substr({texts[2]}, 2) NOT GLOB '*[^0-9]*' "
                f"AND CAST({texts[3]} AS INTEGER) {op} ?)"
            )
    raise AssertionError(req.operator)


def _field_sql(match: FieldMatch, params: list[Any], alias: str) -> str:
    """meta.FieldMatch's rule: the text at the path, ``missing`` when absent, compared."""
    value = _text_of(_json_path(match.path), params, alias)
    params += [match.missing, match.value]
    return f"COALESCE({value}, ?) {'=' if match.operator == '=' else '<>'} ?"


def compile_list_filter(query: ListQuery) -> tuple[str, list[Any]]:
    """The WHERE condition (over table alias ``o``) and its parameters for a list."""
    return list_filter(query, "?", _label_sql, _field_sql, "objects")
