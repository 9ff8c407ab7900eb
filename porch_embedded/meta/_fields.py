"""Field-selector matching: the one rule for what ``field=value`` means on an object body.

A requirement that names a selectable field becomes a ``FieldMatch``: a path of dict
keys into the body, ``=`` or ``!=``, the wanted text, and what an absent value reads as.
``FieldMatch.matches`` is the rule itself (the API's watch filter uses it); each store
translates the same rule into its SQL and its contract tests hold the two together, so
a list and a watch with one selector always agree.

The rule: the value at the path reads as text: a string as itself, ``true``/``false``
for a boolean, the JSON text of any other value (``1``, ``{"a":1}``); a missing value or
JSON null reads as ``missing`` (``""`` unless the kind says otherwise: Porch serves a
Draft's absent ``spec.revision`` as 0). ``=`` holds when that text equals the value,
``!=`` when it does not.

A match may name a ``twin``: the resource whose object of the same namespace and name
holds the path (a PackageRevisionResources' lifecycle is its PackageRevision's). Only a
store can follow it, by looking the twin up in the same query; ``matches`` refuses one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FieldMatch", "FieldOperator", "field_text", "text_matches", "value_text"]

FieldOperator = Literal["=", "!="]


def value_text(value: Any) -> str:
    """A JSON value as text, as Go's fmt prints it: ``true``, ``1``, compact JSON for structures.

    The text a field selector compares and kubectl prints in columns; None is ``""``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def field_text(body: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
    """The text of the value at ``path`` (dict keys only), or None if absent or null."""
    value: Any = body
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return None if value is None else value_text(value)


def text_matches(actual: str | None, operator: FieldOperator, value: str, missing: str = "") -> bool:
    """Whether ``actual`` (None when absent) satisfies ``operator value``."""
    equal = (missing if actual is None else actual) == value
    return equal if operator == "=" else not equal


@dataclass(frozen=True)
class FieldMatch:
    """A field-selector requirement mapped to a path in the body; see the module's rule.

    ``path`` walks dict keys, e.g. ``("spec", "packageName")`` or
    ``("metadata", "labels", "app")``.
    """

    path: tuple[str, ...]
    operator: FieldOperator
    value: str
    missing: str = ""
    """What an absent (or null) value reads as."""
    twin: str = ""
    """When set, the store resource whose same-named object in the same namespace holds the path."""

    def matches(self, body: Mapping[str, Any]) -> bool:
        """Whether ``body`` satisfies the match; a twin match cannot be decided from one body."""
        if self.twin:
            raise ValueError(f"a match on {self.twin} needs that object, not only this body")
        return text_matches(field_text(body, self.path), self.operator, self.value, self.missing)
