"""The kubectl JSONPath dialect, once: printer columns, ``-o custom-columns`` and ``-o jsonpath``.

Parsed once into steps (``JsonPath.parse``), then evaluated against any JSON value;
each step maps every current value to the values it selects, in order, so a path that
selects nothing yields an empty list (kubectl prints ``<none>``, a Table cell its default).

Steps: ``.key`` (``\\.`` escapes a dot in a key, ``kpt\\.dev/x``), ``..key`` (recursive
descent), ``.*`` and ``[*]`` (every child), ``['key']`` or ``["key"]``, unions
``['a','b']``, ``[N]`` (negative from the end), filters ``[?(@.a.b==x)]`` and ``!=``
(the value bare or quoted, compared as kubectl prints it), and ``.@count``: the number
of entries of a map or list, which printer columns use (Secret's Data column). A
leading ``$`` and a missing leading dot are accepted, as kubectl does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porch_embedded.errors import BadRequest
from porch_embedded.meta._fields import value_text

__all__ = ["JsonPath", "jsonpath"]

_KEY = r"(?:[A-Za-z0-9_@/-]|\\\.)+"
_QUOTED = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""
_STEP = re.compile(
    rf"""\.\.(?P<recursive>{_KEY})
      | \.(?P<name>{_KEY})
      | \.\*(?P<star>)
      | \[\?\(@(?P<fpath>(?:\.{_KEY})+)\s*(?P<op>==|!=)\s*(?P<fval>{_QUOTED}|[^)\s]+)\)\]
      | \[(?P<union>(?:{_QUOTED})(?:\s*,\s*(?:{_QUOTED}))*)\]
      | \[(?P<index>-?\d+)\]
      | \[\*\](?P<all>)
    """,
    re.VERBOSE,
)
_QUOTED_RE = re.compile(_QUOTED)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _unquote(text: str) -> str:
    return _unescape(text[1:-1])


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _recursive(value: Any, key: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, Mapping) and key in value:
        found.append(value[key])
    for child in _children(value):
        found.extend(_recursive(child, key))
    return found


def _keys(value: Any, keys: tuple[str, ...]) -> list[Any]:
    return [value[key] for key in keys if isinstance(value, Mapping) and key in value]


@dataclass(frozen=True)
class _Step:
    kind: str
    """recursive, keys, count, children, index or filter."""
    keys: tuple[str, ...] = ()
    index: int = 0
    filter_path: JsonPath | None = None
    filter_equal: bool = True
    filter_value: str = ""

    def apply(self, value: Any) -> list[Any]:
        match self.kind:
            case "keys":
                return _keys(value, self.keys)
            case "count":
                return [len(value) if isinstance(value, (Mapping, list)) else 0]
            case "recursive":
                return _recursive(value, self.keys[0])
            case "children":
                return _children(value)
            case "index":
                in_range = isinstance(value, list) and -len(value) <= self.index < len(value)
                return [value[self.index]] if in_range else []
        assert self.filter_path is not None
        selected = []
        for item in value if isinstance(value, list) else []:
            got = self.filter_path.values(item)
            if (bool(got) and value_text(got[0]) == self.filter_value) == self.filter_equal:
                selected.append(item)
        return selected


def _step(match: re.Match[str]) -> _Step:
    if match.group("recursive") is not None:
        return _Step("recursive", (_unescape(match.group("recursive")),))
    if match.group("name") is not None:
        name = match.group("name")
        return _Step("count") if name == "@count" else _Step("keys", (_unescape(name),))
    if match.group("star") is not None or match.group("all") is not None:
        return _Step("children")
    if match.group("union") is not None:
        return _Step("keys", tuple(_unquote(q) for q in _QUOTED_RE.findall(match.group("union"))))
    if match.group("index") is not None:
        return _Step("index", index=int(match.group("index")))
    wanted = match.group("fval")
    if wanted[:1] in ("'", '"'):
        wanted = _unquote(wanted)
    return _Step("filter", filter_path=JsonPath.parse(match.group("fpath")),
                 filter_equal=match.group("op") == "==", filter_value=wanted)


@dataclass(frozen=True)
class JsonPath:
    """A parsed kubectl JSONPath expression (without the template's braces)."""

    expression: str
    steps: tuple[_Step, ...]

    @classmethod
    def parse(cls, expression: str) -> JsonPath:
        """Parse ``expression``; BadRequest names the part that is not in the dialect."""
        path = expression.strip()
        if path.startswith("$"):
            path = path[1:]
        if path and not path.startswith((".", "[")):
            path = "." + path
        steps: list[_Step] = []
        position = 0
        while position < len(path):
            match = _STEP.match(path, position)
            if not match:
                raise BadRequest(f"unsupported JSONPath {expression!r} at {path[position:]!r}")
            steps.append(_step(match))
            position = match.end()
        return cls(expression, tuple(steps))

    def values(self, body: Any) -> list[Any]:
        """Every value the expression selects in ``body``, in order."""
        current = [body]
        for step in self.steps:
            current = [selected for value in current for selected in step.apply(value)]
        return current


def jsonpath(body: Any, expression: str) -> list[Any]:
    """Every value ``expression`` selects in ``body``; BadRequest if it is not in the dialect."""
    return JsonPath.parse(expression).values(body)
