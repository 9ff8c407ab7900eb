"""Label and field selectors: parsed once, then matched in Python or compiled by a store.

The grammar and the matching rules are Kubernetes' own (apimachinery ``labels`` and
``fields`` packages): ``key!=v`` and ``key notin (..)`` also match objects that lack the
key, a set-based requirement needs parentheses, and a field selector only knows
equality. Parse errors raise BadRequest with the offending text so the user can fix it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from porch_embedded.errors import BadRequest
from porch_embedded.meta._fields import FieldOperator, text_matches

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelOperator",
    "LabelRequirement",
    "LabelSelector",
]

LabelOperator = Literal["=", "!=", "in", "notin", "exists", "!", "gt", "lt"]

_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_FIELD_TERM_RE = re.compile(r"^\s*([^=!\s]+)\s*(!=|==|=)(.*)$", re.DOTALL)
_INTEGER_RE = re.compile(r"^[+-]?[0-9]+$")
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<op>==|!=|=|\(|\)|,|!|>|<)|(?P<word>[^\s=!(),<>]+))"
)


@dataclass(frozen=True)
class LabelRequirement:
    """One clause of a label selector: ``key``, ``!key``, ``key=v``, ``key in (a,b)``..."""

    key: str
    operator: LabelOperator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "gt" | "lt":
                # Go's strconv.ParseInt: optional sign and ASCII digits only (Python's int()
                # would also take "1_0" and surrounding spaces, which Kubernetes does not).
                if value is None or not _INTEGER_RE.match(value):
                    return False
                number = int(value)
                bound = int(self.values[0])
                return number > bound if self.operator == "gt" else number < bound
        raise AssertionError(self.operator)

    def __str__(self) -> str:
        match self.operator:
            case "exists":
                return self.key
            case "!":
                return f"!{self.key}"
            case "=" | "!=":
                return f"{self.key}{self.operator}{self.values[0]}"
            case "gt":
                return f"{self.key}>{self.values[0]}"
            case "lt":
                return f"{self.key}<{self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of label requirements; the empty selector matches everything."""

    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the ``labelSelector`` query syntax; raise BadRequest saying what is wrong."""
        if not text or not text.strip():
            return cls()
        return cls(tuple(_LabelParser(text).parse()))

    @classmethod
    def from_json(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """Build from a metav1.LabelSelector object (matchLabels, matchExpressions)."""
        if not selector:
            return cls()
        requirements: list[LabelRequirement] = []
        for key, value in sorted((selector.get("matchLabels") or {}).items()):
            _check_key(key, str(selector))
            _check_value(str(value), str(selector))
            requirements.append(LabelRequirement(key, "=", (str(value),)))
        operators: dict[str, LabelOperator] = {
            "In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"
        }
        for expression in selector.get("matchExpressions") or []:
            key = expression.get("key", "")
            operator = operators.get(expression.get("operator", ""))
            if operator is None:
                raise BadRequest(
                    f"label selector operator {expression.get('operator')!r} is not one of "
                    "In, NotIn, Exists, DoesNotExist"
                )
            _check_key(key, str(selector))
            values = tuple(str(v) for v in expression.get("values") or ())
            if operator in ("in", "notin") and not values:
                raise BadRequest(
                    f"label selector expression on {key!r}: values must be non-empty when "
                    f"operator is {expression.get('operator')}"
                )
            if operator in ("exists", "!") and values:
                raise BadRequest(
                    f"label selector expression on {key!r}: values must be empty when "
                    f"operator is {expression.get('operator')}"
                )
            for value in values:
                _check_value(value, str(selector))
            requirements.append(LabelRequirement(key, operator, values))
        return cls(tuple(requirements))


def _check_key(key: str, text: str) -> None:
    prefix, _, name = key.rpartition("/")
    if not _KEY_RE.match(key) or len(name) > 63 or len(prefix) > 253:
        raise BadRequest(
            f"unable to parse requirement: invalid label key {key!r} in selector {text!r}: "
            "a label key is an optional DNS subdomain prefix and '/', then a name of at most "
            "63 characters of alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
        )


def _check_value(value: str, text: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise BadRequest(
            f"unable to parse requirement: invalid label value {value!r} in selector {text!r}: "
            "a label value is empty or at most 63 characters of alphanumerics, '-', '_' or '.', "
            "starting and ending alphanumeric"
        )


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        stripped = text.rstrip()
        while position < len(stripped):
            match = _TOKEN_RE.match(stripped, position)
            if not match or match.end() == position:
                raise BadRequest(f"unable to parse label selector {text!r} at position {position}")
            kind = "op" if match.group("op") else "word"
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def fail(self, what: str) -> BadRequest:
        return BadRequest(f"unable to parse label selector {self.text!r}: {what}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end of selector")
        self.index += 1
        return token

    def parse(self) -> list[LabelRequirement]:
        requirements = [self.requirement()]
        while self.peek() is not None:
            if self.take() != ("op", ","):
                raise self.fail("expected ',' between requirements")
            requirements.append(self.requirement())
        return requirements

    def requirement(self) -> LabelRequirement:
        kind, value = self.take()
        if (kind, value) == ("op", "!"):
            kind, key = self.take()
            if kind != "word":
                raise self.fail("expected a label key after '!'")
            _check_key(key, self.text)
            return LabelRequirement(key, "!")
        if kind != "word":
            raise self.fail(f"expected a label key, found {value!r}")
        key = value
        _check_key(key, self.text)
        token = self.peek()
        if token is None or token == ("op", ","):
            return LabelRequirement(key, "exists")
        kind, op = self.take()
        if kind == "op" and op in ("=", "==", "!="):
            following = self.peek()
            if following is None or following == ("op", ","):
                value = ""
            else:
                value_kind, value = self.take()
                if value_kind != "word":
                    raise self.fail(f"expected a value after {op!r}")
            _check_value(value, self.text)
            return LabelRequirement(key, "!=" if op == "!=" else "=", (value,))
        if kind == "op" and op in (">", "<"):
            value_kind, value = self.take()
            if value_kind != "word" or not _INTEGER_RE.match(value):
                raise self.fail(f"the value after {op!r} must be an integer")
            return LabelRequirement(key, "gt" if op == ">" else "lt", (value,))
        if kind == "word" and op in ("in", "notin"):
            if self.take() != ("op", "("):
                raise self.fail(f"expected '(' after {op!r}")
            return LabelRequirement(key, op, self.value_set(op))  # type: ignore[arg-type]
        raise self.fail(f"unknown operator {op!r} after key {key!r}")

    def value_set(self, op: str) -> tuple[str, ...]:
        """The values of ``(a,b)`` after its '('; as in Kubernetes, ``(a,)`` also holds ''."""
        if self.peek() == ("op", ")"):
            raise self.fail(f"{op!r} needs at least one value in its parentheses")
        values: list[str] = []
        while True:
            value = ""
            if (token := self.peek()) is not None and token[0] == "word":
                value = self.take()[1]
            _check_value(value, self.text)
            values.append(value)
            separator = self.take()
            if separator == ("op", ")"):
                return tuple(values)
            if separator != ("op", ","):
                raise self.fail(f"expected ',' or ')' in the value set, found {separator[1]!r}")


@dataclass(frozen=True)
class FieldRequirement:
    """``field=value`` or ``field!=value``; a store maps the field to a document path."""

    field: str
    operator: FieldOperator
    value: str

    def matches(self, actual: str | None) -> bool:
        """Whether a field's text (None when absent, read as ``""``) satisfies this requirement."""
        return text_matches(actual, self.operator, self.value)

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{self.value}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def value_of(self, field: str) -> str | None:
        """The value an equality requirement pins ``field`` to, if any."""
        for req in self.requirements:
            if req.field == field and req.operator == "=":
                return req.value
        return None

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse ``a=b,c!=d`` with Kubernetes' backslash escapes for ``,``, ``=`` and ``\\``."""
        if not text or not text.strip():
            return cls()
        requirements = []
        for part in _split_unescaped(text, ","):
            if not part.strip():
                continue  # Kubernetes skips empty terms, e.g. "a=b,,c=d"
            match = _FIELD_TERM_RE.match(part)
            if not match:
                raise BadRequest(
                    f"invalid field selector {text!r}: {part.strip()!r} is not of the form "
                    "field=value, field==value or field!=value"
                )
            field, op, value = match.groups()
            operator: FieldOperator = "!=" if op == "!=" else "="
            requirements.append(FieldRequirement(field, operator, _unescape(value.strip(), text)))
        return cls(tuple(requirements))


def _split_unescaped(text: str, sep: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if char == sep and not escaped:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        escaped = char == "\\" and not escaped
    pieces.append("".join(current))
    return pieces


def _unescape(value: str, text: str) -> str:
    r"""Kubernetes' field value unescaping: only ``\\``, ``\,`` and ``\=`` are escapes.

    An unescaped ``=`` (or ``,``) in a value and any other escape are errors, as in
    apimachinery, so that ``a=b=c`` is not silently read as the value ``b=c``.
    """
    out: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise BadRequest(
                    f"invalid field selector {text!r}: invalid escape sequence '\\{char}'; "
                    "only \\\\, \\, and \\= are escapes"
                )
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise BadRequest(
                f"invalid field selector {text!r}: unescaped {char!r} in value {value!r}; "
                f"write it as '\\{char}'"
            )
        else:
            out.append(char)
    if escaped:
        raise BadRequest(f"invalid field selector {text!r}: value {value!r} ends in a lone '\\'")
    return "".join(out)
