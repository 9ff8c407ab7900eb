"""search-replace: find fields by value, regex, field path or file path; set values or comments.

Behaves as the catalog's ``search-replace`` image. The ConfigMap ``data`` holds matchers
(``by-value``, ``by-value-regex`` (whole-value match), ``by-path`` (``a.*.c``, ``a.**.c``,
``a.b[1]``, ``a.b[*]``), ``by-file-path`` (a ``**`` glob)) that are AND-ed, and mutators
(``put-value``, ``put-comment``; ``${N}`` takes regex capture groups). A simple ``by-path``
with ``put-value`` and no value matcher creates a missing field. Results: one per field,
``Mutated field value to "…"`` or ``Matched field value "…"``, else ``no matches``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from porch_embedded.kpt.functions._krm import add_result, config_data, item_path, scalar_like, set_line_comment
from porch_embedded.kpt.functions._registry import builtin

__all__ = ["file_glob_regex", "path_matches", "search_replace"]

_MATCHERS = ("by-value", "by-value-regex", "by-path", "put-value", "put-comment", "by-file-path")


class _SearchError(Exception):
    """The configuration or a capture group cannot be used; the message is the catalog's."""


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split(".") if segment != ""]


def _segment_regex(segment: str) -> re.Pattern[str]:
    out = []
    position = 0
    while position < len(segment):
        if segment.startswith("[*]", position):
            out.append(r"\[[0-9]+\]")
            position += 3
        elif segment[position] == "*":
            out.append(r"[^\[\]]*")
            position += 1
        else:
            out.append(re.escape(segment[position]))
            position += 1
    return re.compile("".join(out))


def path_matches(pattern: str, traversed: str) -> bool:
    """Whether a field path like ``a.c[0].d`` matches a ``by-path`` pattern like ``a.**.d``."""
    wanted = _segments(pattern)
    actual = _segments(traversed)

    def match(i: int, j: int) -> bool:
        if i == len(wanted):
            return j == len(actual)
        if wanted[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and bool(_segment_regex(wanted[i]).fullmatch(actual[j])) and match(i + 1, j + 1)

    return match(0, 0)


def file_glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a doublestar glob over slash paths (``**``, ``*``, ``?``, ``[...]``, ``{a,b}``)."""
    out: list[str] = []
    position = 0
    depth = 0
    while position < len(pattern):
        char = pattern[position]
        if pattern.startswith("**/", position):
            out.append(r"(?:.*/)?")
            position += 3
            continue
        if pattern.startswith("**", position):
            out.append(r"[^/]*" if out else r".*")
            position += 2
            continue
        if char == "\\" and position + 1 < len(pattern):
            out.append(re.escape(pattern[position + 1]))
            position += 2
            continue
        if char == "*":
            out.append(r"[^/]*")
        elif char == "?":
            out.append(r"[^/]")
        elif char == "[":
            end = pattern.find("]", position + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[position + 1:end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                position = end
        elif char == "{":
            out.append("(?:")
            depth += 1
        elif char == "}" and depth:
            out.append(")")
            depth -= 1
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        position += 1
    return re.compile("".join(out))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flow_text(sequence: list[Any]) -> str:
    return "[" + ", ".join(_text(value) for value in sequence) + "]"


class _Search:
    """One configured search over the items, collecting (file, field path, value) results."""

    def __init__(self, data: Mapping[str, str]) -> None:
        for key in data:
            if key not in _MATCHERS:
                raise _SearchError(f"invalid matcher {json.dumps(key)}, must be one of {_go_list(_MATCHERS)}")
        self.by_value = data.get("by-value", "")
        self.by_regex = data.get("by-value-regex", "")
        self.by_path = data.get("by-path", "")
        self.by_file = data.get("by-file-path", "")
        self.put_value = data.get("put-value", "")
        self.put_comment = data.get("put-comment", "")
        if self.by_value and self.by_regex:
            raise _SearchError('only one of ["by-value", "by-value-regex"] can be provided')
        self.regex: re.Pattern[str] | None = None
        if self.by_regex:
            try:
                self.regex = re.compile(self.by_regex)
            except re.error as exc:
                raise _SearchError(f"failed to compile input pattern {json.dumps(self.by_regex)}: {exc}") from exc
        self.file_regex = file_glob_regex(self.by_file) if self.by_file else None
        self.results: list[tuple[str, str, str]] = []

    @property
    def mutates(self) -> bool:
        return bool(self.put_value or self.put_comment)

    def run(self, item: Any) -> None:
        path = item_path(item)
        if self.file_regex is not None and not self.file_regex.fullmatch(path):
            return
        if not (self.by_value or self.by_regex or self.by_path or self.by_file):
            return
        before = len(self.results)
        self._walk(item, "", path)
        if len(self.results) == before and self._creates:
            self._create(item, path)

    @property
    def _creates(self) -> bool:
        return bool(
            self.by_path and self.put_value and not self.by_value and not self.by_regex
            and "*" not in self.by_path and "[" not in self.by_path
        )

    def _create(self, item: Any, file_path: str) -> None:
        node = item
        keys = _segments(self.by_path)
        for key in keys[:-1]:
            child = node.get(key)
            if child is None:
                child = CommentedMap()
                node[key] = child
            if not isinstance(child, CommentedMap):
                return
            node = child
        if keys[-1] in node:
            return
        node[keys[-1]] = scalar_like(None, self.put_value)
        self.results.append((file_path, self.by_path, self.put_value))

    def _walk(self, node: Any, path: str, file_path: str) -> None:
        if isinstance(node, CommentedMap):
            for key in list(node.keys()):
                child_path = f"{path}.{key}" if path else str(key)
                value = node[key]
                if isinstance(value, CommentedSeq) and self._sequence(node, key, child_path, file_path):
                    continue
                if isinstance(value, (dict, list)):
                    self._walk(value, child_path, file_path)
                else:
                    self._scalar(node, key, child_path, file_path)
        elif isinstance(node, CommentedSeq):
            for index, value in enumerate(node):
                child_path = f"{path}[{index}]"
                if isinstance(value, (dict, list)):
                    self._walk(value, child_path, file_path)
                else:
                    self._scalar(node, index, child_path, file_path)

    def _sequence(self, container: CommentedMap, key: Any, path: str, file_path: str) -> bool:
        """put-comment on a sequence selected by path alone: comment on its key, block style."""
        if not (self.by_path and self.put_comment) or self.by_value or self.by_regex:
            return False
        if not path_matches(self.by_path, path):
            return False
        sequence: CommentedSeq = container[key]
        value = _flow_text(sequence)
        if sequence:
            sequence.fa.set_block_style()
        set_line_comment(container, key, self.put_comment)
        self.results.append((file_path, f"{path} # {self.put_comment}", value))
        return True

    def _scalar(self, container: Any, key: Any, path: str, file_path: str) -> None:
        old = container[key]
        value = _text(old)
        if self.by_path and not path_matches(self.by_path, path):
            return
        if self.by_value and value != self.by_value:
            return
        groups: tuple[str, ...] = ()
        if self.regex is not None:
            match = self.regex.fullmatch(value)
            if match is None:
                return
            groups = tuple(group or "" for group in match.groups())
        new_value = value
        if self.put_value:
            new_value = _expand(self.put_value, groups)
            container[key] = scalar_like(old, new_value)
        if self.put_comment:
            set_line_comment(container, key, _expand(self.put_comment, groups))
        self.results.append((file_path, path, new_value))


def _expand(template: str, groups: tuple[str, ...]) -> str:
    result = template
    for index, group in enumerate(groups, start=1):
        result = result.replace(f"${{{index}}}", group)
    if re.search(r"\$\{[0-9]+\}", result):
        raise _SearchError("unable to resolve capture groups")
    return result


def _go_list(values: tuple[str, ...]) -> str:
    return "[" + " ".join(json.dumps(value) for value in values) + "]"


@builtin("search-replace")
def search_replace(resource_list: Any) -> None:
    """Search the items' fields with the ConfigMap's matchers and apply its mutators."""
    try:
        search = _Search(config_data(resource_list.get("functionConfig")))
        for item in resource_list.get("items") or []:
            search.run(item)
    except _SearchError as exc:
        add_result(
            resource_list, f"failed to perform search-replace operation: {json.dumps(str(exc))}", severity="error"
        )
        return
    if not search.results:
        add_result(resource_list, "no matches")
        return
    verb = "Mutated field value to" if search.mutates else "Matched field value"
    for file_path, field_path, value in search.results:
        add_result(
            resource_list,
            f"{verb} {json.dumps(value, ensure_ascii=False)}",
            field_path=field_path,
            file={"path": file_path} if file_path else None,
        )
