"""create-setters: add ``# kpt-set:`` comments where field values contain setter values.

Behaves as the catalog's ``create-setters`` image: the ConfigMap ``data`` maps setter names
to values; a value that parses as a YAML list is an array setter, anything else a scalar
setter. A single-line scalar containing scalar setter values gets
``# kpt-set: <value with each match replaced by ${name}>`` (longer values win, scanning left
to right); a sequence whose values equal an array setter's (order ignored) gets
``# kpt-set: ${name}`` on its key. A flow sequence that gets a comment turns block style.
"""

from __future__ import annotations

import json
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from porch_embedded.kpt.functions._krm import (
    FieldWalker,
    add_result,
    config_data,
    item_path,
    load_yaml,
    set_line_comment,
)
from porch_embedded.kpt.functions._registry import builtin

__all__ = ["create_setters"]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _go_quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Creator(FieldWalker):
    """Adds setter comments to one item, recording (field path, comment, value) for results."""

    def __init__(self, scalars: list[tuple[str, str]], arrays: list[tuple[str, list[str]]]) -> None:
        self.scalars = scalars
        self.arrays = arrays
        self.changes: list[tuple[str, str, str]] = []

    def replace(self, value: str) -> str:
        """Each occurrence of a scalar setter value replaced by ``${name}``, Go Replacer style."""
        out: list[str] = []
        position = 0
        while position < len(value):
            for name, setter_value in self.scalars:
                if setter_value and value.startswith(setter_value, position):
                    out.append(f"${{{name}}}")
                    position += len(setter_value)
                    break
            else:
                out.append(value[position])
                position += 1
        return "".join(out)

    def sequence(self, container: CommentedMap, key: Any, path: str) -> bool:
        if isinstance(container[key], CommentedSeq):
            self._sequence(container, key, path)
        return False

    def scalar(self, container: Any, key: Any, path: str) -> None:
        value = _text(container[key])
        if "\n" in value:
            return
        replaced = self.replace(value)
        if replaced == value:
            return
        comment = f"kpt-set: {replaced}"
        set_line_comment(container, key, comment)
        self.changes.append((path, comment, value))

    def _sequence(self, container: CommentedMap, key: Any, path: str) -> None:
        sequence: CommentedSeq = container[key]
        values = sorted(_text(value) for value in sequence if not isinstance(value, (dict, list)))
        flow = sequence.fa.flow_style()
        if flow and any(self.replace(value) != value for value in values):
            sequence.fa.set_block_style()
            flow = False
        for name, array_values in self.arrays:
            if values == array_values:
                comment = f"kpt-set: ${{{name}}}"
                if flow and values:
                    sequence.fa.set_block_style()
                set_line_comment(container, key, comment)
                self.changes.append((path, comment, "[" + " ".join(values) + "]"))
                return


@builtin("create-setters")
def create_setters(resource_list: Any) -> None:
    """Parameterise the items' fields that hold the ConfigMap's setter values."""
    data = config_data(resource_list.get("functionConfig"))
    if not data:
        add_result(resource_list, "failed to create setters: config map cannot be empty", severity="error")
        return
    scalars: list[tuple[str, str]] = []
    arrays: list[tuple[str, list[str]]] = []
    for name, value in data.items():
        try:
            parsed = load_yaml(value) if value.strip() else value
        except Exception:  # noqa: BLE001 - the image reports any parse failure the same way
            add_result(resource_list, "failed to create setters: parsing error", severity="error")
            return
        if isinstance(parsed, list):
            arrays.append((name, sorted(_text(element) for element in parsed)))
        elif not isinstance(parsed, dict):
            scalars.append((name, value))
    scalars.sort(key=lambda setter: -len(setter[1]))
    changes: list[tuple[str, str, str, str]] = []
    for item in resource_list.get("items") or []:
        creator = _Creator(scalars, arrays)
        creator.walk(item, "")
        changes.extend((*change, item_path(item)) for change in creator.changes)
    if not changes:
        add_result(
            resource_list, "failed to create setters: no matches for the input list of setters", severity="error"
        )
        return
    for path, comment, value, file_path in changes:
        add_result(
            resource_list,
            f"Added line comment {_go_quote(comment)} for field with value {_go_quote(value)}",
            field_path=path,
            file={"path": file_path} if file_path else None,
        )
