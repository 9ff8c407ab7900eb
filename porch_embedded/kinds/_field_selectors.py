"""A parsed field selector resolved against a kind: its FieldMatches, or the refusal its server gives.

Two sets of rules, chosen by ``Kind.field_selector_rules``:

- ``kubernetes`` (core kinds and the CRD-backed config kinds): ``=``, ``==`` and ``!=``
  on metadata.name, metadata.namespace and the kind's selectable fields, any value.
- ``porch`` (PackageRevision, PackageRevisionResources, PorchPackage): what Porch's API
  server answers (pkg/registry/porch/fieldselector.go). First its scheme's field-label
  conversion refuses names it does not know (``"x" is not a known field selector``, or an
  empty ``labels[]`` key); then its list refuses any operator but equality, an empty
  value, and a lifecycle outside Draft, Proposed, Published, DeletionProposed. Like
  apimachinery, both passes visit the terms in sorted order, so the first refusal is the
  one Porch gives. Porch answers a namespace conflict with a 500; it is a 400 here, with
  Porch's words.

Matching itself is meta.FieldMatch's one rule; a SelectableField only adds what an absent
value reads as and the canonical form of a requested value.
"""

from __future__ import annotations

import json

from porch_embedded.errors import BadRequest
from porch_embedded.kinds._kind import Kind
from porch_embedded.meta import FieldMatch, FieldRequirement, FieldSelector

__all__ = ["field_matches"]


def _quoted(text: str) -> str:
    """Go's %q for the texts a selector carries."""
    return json.dumps(text, ensure_ascii=False)


def field_matches(kind: Kind, selector: FieldSelector, namespace: str = "") -> tuple[FieldMatch, ...]:
    """The matches ``selector`` asks for on ``kind`` in ``namespace`` ('' for all namespaces).

    Raises BadRequest, with the message the kind's server gives, for a field the kind does
    not select on, an operator or value it refuses, or a namespace other than the request's.
    """
    if kind.field_selector_rules == "porch":
        _check_porch(kind, selector, namespace)
    else:
        _check_kubernetes(kind, selector, namespace)
    matches = []
    for requirement in selector.requirements:
        field = kind.selectable(requirement.field)
        assert field is not None, "checked above"
        value = field.canonical(requirement.value) if field.canonical else requirement.value
        matches.append(FieldMatch(field.path, requirement.operator, value, field.missing, field.twin))
    return tuple(matches)


def _check_kubernetes(kind: Kind, selector: FieldSelector, namespace: str) -> None:
    for requirement in selector.requirements:
        if kind.selectable(requirement.field) is None:
            raise BadRequest(
                f'unable to parse requirement: field label not supported: "{requirement.field}" '
                f"(selectable fields of {kind.plural}: {', '.join(kind.selectable_fields())})"
            )
        if requirement.field == "metadata.namespace" and namespace and requirement.operator == "=" \
                and requirement.value != namespace:
            raise BadRequest(
                f"the namespace in the field selector ({requirement.value}) does not match the "
                f"namespace of the request ({namespace})"
            )


def _map_entry_key(kind: Kind, name: str) -> str | None:
    """The key of a ``prefix[key]`` name when ``prefix[]`` is a map-entry field, else None."""
    if not name.endswith("]") or "[" not in name:
        return None
    prefix, _, key = name[:-1].partition("[")
    return key if prefix + "[]" in kind.field_selectors else None


def _check_porch(kind: Kind, selector: FieldSelector, namespace: str) -> None:
    ordered: list[FieldRequirement] = sorted(selector.requirements, key=str)
    for requirement in ordered:
        if _map_entry_key(kind, requirement.field) == "":
            raise BadRequest(f"label key cannot be empty in field selector {_quoted(requirement.field)}")
        if kind.selectable(requirement.field) is None:
            raise BadRequest(f"{_quoted(requirement.field)} is not a known field selector")
    selected_namespace = ""
    for requirement in ordered:
        field_name, value = _quoted(requirement.field), _quoted(requirement.value)
        if requirement.operator != "=":
            raise BadRequest(
                f"unsupported fieldSelector operator {_quoted(requirement.operator)} for field {field_name}")
        if not requirement.value:
            raise BadRequest(
                f'unsupported fieldSelector value {value} for field {field_name} with operator "="')
        field = kind.selectable(requirement.field)
        if field is not None and field.values and requirement.value not in field.values:
            raise BadRequest(f"unsupported fieldSelector value {value} for field {field_name}")
        if requirement.field == "metadata.namespace":
            selected_namespace = requirement.value
    if namespace and selected_namespace and selected_namespace != namespace:
        raise BadRequest(f"conflicting namespaces specified: {_quoted(namespace)} and {_quoted(selected_namespace)}")
