"""kubectl's printers, as porchctl uses them: server-side tables, custom columns, JSONPath, YAML, JSON.

Tables are laid out as kubectl's tabwriter does (cells padded by three spaces,
columns at least six wide, the last cell unpadded), so scripts that cut kubectl
output cut ours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import yaml

from porch_embedded.errors import BadRequest
from porch_embedded.meta import JsonPath
from porch_embedded.meta import value_text as format_value

__all__ = ["OutputError", "format_value", "jsonpath", "print_objects", "print_table", "render_rows"]

_MIN_WIDTH, _PADDING = 6, 3

class OutputError(ValueError):
    """An output format or template that cannot be used."""


def jsonpath(body: Any, expression: str) -> list[Any]:
    """Every value the kubectl JSONPath ``expression`` (without braces) selects, in order.

    The dialect is meta.JsonPath's, the one printer columns use; OutputError on anything else.
    """
    try:
        return JsonPath.parse(expression).values(body)
    except BadRequest as error:
        raise OutputError(error.message) from error


def render_rows(rows: Sequence[Sequence[str]]) -> str:
    """Lay rows out as kubectl's tabwriter: width = max(longest + 3, 6), last column unpadded."""
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    widths = [0] * columns
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(cell) + _PADDING, _MIN_WIDTH)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[index]) for index, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return "\n".join(lines) + "\n"


def _labels(metadata: Mapping[str, Any]) -> str:
    labels = metadata.get("labels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def print_table(table: Mapping[str, Any], out: TextIO, *, wide: bool = False, no_headers: bool = False,
                with_namespace: bool = False, show_labels: bool = False) -> int:
    """Print a server-side Table as kubectl does; returns the number of rows printed."""
    definitions = list(table.get("columnDefinitions") or [])
    shown = [i for i, column in enumerate(definitions) if wide or int(column.get("priority", 0)) == 0]
    rows: list[list[str]] = []
    if not no_headers:
        header = [str(definitions[i]["name"]).upper() for i in shown]
        rows.append((["NAMESPACE"] if with_namespace else []) + header + (["LABELS"] if show_labels else []))
    count = 0
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        metadata = (row.get("object") or {}).get("metadata") or {}
        line = [format_value(cells[i]) if i < len(cells) else "" for i in shown]
        if with_namespace:
            line.insert(0, str(metadata.get("namespace", "")))
        if show_labels:
            line.append(_labels(metadata))
        rows.append(line)
        count += 1
    if count:
        out.write(render_rows(rows))
    return count


def _custom_columns(spec: str, items: Sequence[Mapping[str, Any]], out: TextIO, *, no_headers: bool) -> None:
    columns: list[tuple[str, str]] = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header:
            raise OutputError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        columns.append((header, path.strip().strip("{}")))
    if not items:
        return
    rows = [] if no_headers else [[header for header, _ in columns]]
    for item in items:
        row = []
        for _, path in columns:
            values = jsonpath(item, path)
            row.append(",".join(format_value(v) for v in values) if values else "<none>")
        rows.append(row)
    out.write(render_rows(rows))


_TEMPLATE = re.compile(r"\{([^{}]*)\}")


def _jsonpath_template(template: str, item: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner.startswith(('"', "'")) and inner.endswith(('"', "'")):
            return inner[1:-1].encode().decode("unicode_escape")
        return " ".join(format_value(v) for v in jsonpath(item, inner))

    return _TEMPLATE.sub(replace, template)


def _go_json(item: Mapping[str, Any]) -> str:
    """An object as Go's json.MarshalIndent writes an Unstructured: sorted keys, 4 spaces, HTML-escaped."""
    text = json.dumps(item, indent=4, sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def print_objects(items: Sequence[Mapping[str, Any]], output: str, out: TextIO, *, no_headers: bool = False,
                  kind_name: str = "") -> None:
    """Print full objects as ``yaml``, ``json``, ``name``, ``custom-columns=...`` or ``jsonpath=...``.

    Each object prints on its own, as porchctl hands them to kubectl's printers one by
    one: YAML documents separated by ``---``, JSON documents one after another, JSONPath
    results run together (no newline added, as kubectl), custom columns under one
    header. No objects print nothing at all.
    """
    if output == "yaml":
        out.write("---\n".join(yaml.safe_dump(dict(item), sort_keys=True, default_flow_style=False,
                                               allow_unicode=True, width=1 << 30) for item in items))
    elif output == "json":
        out.write("".join(_go_json(item) for item in items))
    elif output == "name":
        for item in items:
            out.write(f"{kind_name}/{item.get('metadata', {}).get('name', '')}\n")
    elif output.startswith("custom-columns="):
        _custom_columns(output.removeprefix("custom-columns="), items, out, no_headers=no_headers)
    elif output.startswith("jsonpath="):
        template = output.removeprefix("jsonpath=").strip("'")
        for item in items:
            out.write(_jsonpath_template(template, item))
    else:
        raise OutputError(f'unable to match a printer suitable for the output format "{output}", allowed formats '
                          "are: custom-columns,json,jsonpath,name,wide,yaml")
