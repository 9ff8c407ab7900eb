"""apply-setters: set the fields that ``# kpt-set:`` comments parameterise.

Behaves as the catalog's ``apply-setters`` image: the functionConfig is a ConfigMap whose
``data`` maps setter names to values; a scalar whose line comment is
``# kpt-set: <pattern>`` gets the pattern with ``${name}`` replaced (setters not given are
read back from the current value), and a sequence whose key carries
``# kpt-set: ${name}`` is replaced by the YAML list in the setter value. Results use the
legacy kyaml framework shape (no severity); errors are one ``error`` result.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from porch_embedded.kpt.functions._krm import (
    FieldWalker,
    add_result,
    config_data,
    get_line_comment,
    item_path,
    load_yaml,
    scalar_like,
    set_line_comment,
)
from porch_embedded.kpt.functions._registry import builtin

__all__ = ["apply_setters", "setter_pattern"]

_MARKER = "kpt-set:"
_SETTER = re.compile(r"\$\{([^}]*)\}")


class _SetterError(Exception):
    """A setter cannot be applied; the message is the catalog's."""


def setter_pattern(comment: str) -> str:
    """The pattern of a ``kpt-set:`` line comment, or '' if the comment is not a setter."""
    text = comment.strip()
    if not text.startswith(_MARKER):
        return ""
    return text[len(_MARKER):].strip()


def _derive(pattern: str, value: str) -> dict[str, str]:
    """Setter values read back from ``value`` by matching it against ``pattern``.

    Two setters next to each other cannot be told apart, so nothing is derived then.
    """
    parts = _SETTER.split(pattern)  # literal, name, literal, name, ..., literal
    names = parts[1::2]
    literals = parts[0::2]
    if any(literal == "" for literal in literals[1:-1]):
        return {}
    regex = "".join(
        re.escape(part) if index % 2 == 0 else "(.*)" for index, part in enumerate(parts)
    )
    match = re.fullmatch(regex, value, flags=re.DOTALL)
    if not match:
        return {}
    return dict(zip(names, match.groups()))


def _should_set(pattern: str, setters: dict[str, str]) -> bool:
    return any(f"${{{name}}}" in pattern for name in setters)


def _scalar_value(pattern: str, current: str, setters: dict[str, str]) -> str:
    derived = _derive(pattern, current)
    missing = [
        f"${{{name}}}"
        for name in dict.fromkeys(_SETTER.findall(pattern))
        if name not in setters and name not in derived
    ]
    if missing:
        raise _SetterError(f"values for setters [{' '.join(missing)}] must be provided")
    return _SETTER.sub(lambda m: setters.get(m.group(1), derived.get(m.group(1), "")), pattern)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Applier(FieldWalker):
    """Walks one item, applying the setters and collecting (field path, value) changes."""

    def __init__(self, setters: dict[str, str]) -> None:
        self.setters = setters
        self.changes: list[tuple[str, str]] = []

    def sequence(self, container: CommentedMap, key: Any, path: str) -> bool:
        return self._array(container, key, path)

    def scalar(self, container: Any, key: Any, path: str) -> None:
        pattern = setter_pattern(get_line_comment(container, key))
        if not pattern or not _should_set(pattern, self.setters):
            return
        old = container[key]
        new = _scalar_value(pattern, _text(old), self.setters)
        container[key] = scalar_like(old, new)
        self.changes.append((path, new))

    def _array(self, container: CommentedMap, key: Any, path: str) -> bool:
        """Apply an array setter on ``container[key]``; True when the key had a setter comment."""
        comment = get_line_comment(container, key)
        pattern = setter_pattern(comment)
        if not pattern or not _should_set(pattern, self.setters):
            return False
        if not re.fullmatch(r"\$\{[^}]*\}", pattern):
            raise _SetterError(f"invalid setter pattern for array node: {_quote(pattern)}")
        raw = self.setters.get(pattern[2:-1], "")
        sequence = CommentedSeq()
        if raw == "":
            sequence.fa.set_flow_style()
        else:
            try:
                parsed = load_yaml(raw)
            except Exception:  # noqa: BLE001 - any parse failure means "not a list"
                parsed = None
            if not isinstance(parsed, list):
                raise _SetterError(f'input to array setter must be an array of values, but found "{raw}"')
            sequence.extend(parsed)
            sequence.fa.set_block_style()
        container[key] = sequence
        set_line_comment(container, key, comment)
        self.changes.append((path, raw))
        return True


@builtin("apply-setters")
def apply_setters(resource_list: Any) -> None:
    """Apply the ConfigMap's setter values to every ``# kpt-set:`` field of every item."""
    setters = config_data(resource_list.get("functionConfig"))
    changes: list[tuple[str, str, str]] = []
    for item in resource_list.get("items") or []:
        applier = _Applier(setters)
        try:
            applier.walk(item, "")
        except _SetterError as exc:
            add_result(resource_list, f"failed to apply setters: {exc}", severity="error")
            return
        changes.extend((path, value, item_path(item)) for path, value in applier.changes)
    if not changes:
        add_result(resource_list, "no matches for input setter(s)")
        return
    for path, value, file_path in changes:
        add_result(
            resource_list,
            f"set field value to {_quote(value)}",
            field_path=path,
            file={"path": file_path} if file_path else None,
        )


def _quote(value: str) -> str:
    """Go's %q for the strings setters produce (double quotes, backslash escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'
