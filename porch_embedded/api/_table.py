"""Server-side Table output (``kubectl get``) from a kind's printer columns."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from porch_embedded.kinds import Body, Kind, PrinterColumn
from porch_embedded.meta import parse_time

__all__ = ["human_age", "table", "table_row"]


def human_age(timestamp: str, now: _dt.datetime | None = None) -> str:
    """Kubernetes' HumanDuration: ``45s``, ``12m``, ``5h3m``, ``4d``, ``2y``."""
    now = now or _dt.datetime.now(_dt.UTC)
    seconds = int((now - parse_time(timestamp)).total_seconds())
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    days = hours // 24
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _cell(body: Body, column: PrinterColumn) -> Any:
    column_type = column.type
    values = column.path.values(body)
    if not values:
        return column.default
    value = values[0]
    if column_type == "date" and isinstance(value, str):
        try:
            return human_age(value)
        except ValueError:
            return value
    if column_type == "integer" and isinstance(value, bool):
        return int(value)
    if column_type == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    return value


def _column_definitions(kind: Kind) -> list[dict[str, Any]]:
    columns = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                "description": "Name must be unique within a namespace."}]
    for column in kind.printer_columns:
        columns.append({"name": column.name, "type": "string" if column.type == "date" else column.type,
                        "format": column.format, "priority": column.priority,
                        "description": column.description or column.json_path})
    return columns


def table_row(kind: Kind, body: Body, include_object: str) -> dict[str, Any]:
    cells = [body.get("metadata", {}).get("name")]
    cells += [_cell(body, c) for c in kind.printer_columns]
    row: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        row["object"] = body
    elif include_object != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": body.get("metadata", {}),
        }
    return row


def table(kind: Kind, items: list[Body], list_metadata: dict[str, Any], include_object: str) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of ``items`` with the kind's columns after Name."""
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": _column_definitions(kind),
        "rows": [table_row(kind, item, include_object) for item in items],
    }
