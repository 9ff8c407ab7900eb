"""A served kind as data: names, verbs, schema, printer columns, field selectors, rules.

Everything the API layer needs to serve a kind generically (discovery, OpenAPI,
Table output, field selectors, strict decoding) and everything the engine needs to
default and validate it lives on one ``Kind`` value, so adding a kind is adding data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from porch_embedded.errors import Cause
from porch_embedded.meta import JsonPath

__all__ = ["Body", "Conversion", "Kind", "PrinterColumn", "SelectableField", "Validator", "UpdateValidator"]

Body = dict[str, Any]
Validator = Callable[[Body], list[Cause]]
UpdateValidator = Callable[[Body, Body], list[Cause]]


@dataclass(frozen=True)
class PrinterColumn:
    """A column of ``kubectl get`` (server-side Table), as a CRD's additionalPrinterColumns."""

    name: str
    type: str
    json_path: str
    """kubectl JSONPath (meta.JsonPath): ``.spec.git.repo``, ``.status.conditions[?(@.type=="Ready")].status``."""
    description: str = ""
    priority: int = 0
    format: str = ""
    default: Any = None
    """Shown when the path is absent (Porch prints revision 0 and latest false, not <none>)."""

    path: JsonPath = field(init=False, repr=False, compare=False)
    """``json_path`` parsed when the kind is defined, so a column outside the dialect breaks
    the import (and the tests) rather than a request."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", JsonPath.parse(self.json_path))


@dataclass(frozen=True)
class SelectableField:
    """A field a field selector may name, beyond metadata.name and metadata.namespace."""

    path: tuple[str, ...]
    """The body path; for a map-entry field (``labels[]``) the path of the map."""
    missing: str = ""
    """What an absent value reads as (Porch serves a Draft's absent spec.revision as 0)."""
    values: tuple[str, ...] = ()
    """When set, the only values a selector may ask for (Porch refuses an unknown lifecycle)."""
    canonical: Callable[[str], str] | None = None
    """Rewrites a requested value to the stored form (Porch reads spec.revision=v1 as 1)."""
    twin: str = ""
    """The store resource whose same-named object holds the path, when this kind lacks the field
    (a PackageRevisionResources selects on its PackageRevision's lifecycle)."""


@dataclass(frozen=True)
class Conversion:
    """How a served version that is not stored converts to and from the stored one.

    The API converts at its edge: request bodies ``to_storage`` before the engine sees
    them, stored bodies ``from_storage`` before a client does, so the engine, the store
    and the controllers only ever see the storage version.
    """

    storage: Kind
    to_storage: Callable[[Body], Body]
    from_storage: Callable[[Body], Body]


def _no_causes(_: Body) -> list[Cause]:
    return []


def _no_update_causes(_: Body, __: Body) -> list[Cause]:
    return []


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    schema: Mapping[str, Any]
    """OpenAPI v3 schema of the whole object (apiVersion, kind, metadata, spec, status)."""
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    field_selectors: Mapping[str, SelectableField] = field(default_factory=dict)
    """Extra selectable fields (beyond metadata.name/namespace).

    A key ending in ``[]`` (``spec.packageMetadata.labels[]``) selects a map entry:
    ``spec.packageMetadata.labels[app]=x`` becomes the path ``(..., "labels", "app")``.
    """
    field_selector_rules: Literal["kubernetes", "porch"] = "kubernetes"
    """Whose answers a field selector gets: kube-apiserver's (core kinds, CRDs: ``=``, ``==``,
    ``!=``, any value) or Porch's aggregated API server's (equality only, no empty values,
    its messages)."""
    subresources: tuple[str, ...] = ()
    """``status`` splits spec and status writes; others (``approval``) are engine verbs."""
    defaults: Callable[[Body], None] | None = None
    validate: Validator = _no_causes
    validate_update: UpdateValidator = _no_update_causes
    sealed_fields: tuple[str, ...] = ()
    """Top-level fields the store encrypts at rest (Secret data)."""
    refusal: str = "the server does not allow this method on the requested resource"
    """Why verbs outside ``verbs`` are refused, for the 405 message (e.g. read-only kinds)."""
    refused_actions: Mapping[str, str] = field(default_factory=dict)
    """Per refused verb, the action Porch names in its MethodNotSupported message
    (``<action> is not supported on resources of kind "<resource>"``); other refused
    verbs get ``refusal``."""
    has_spec_generation: bool = True
    """Whether spec changes bump metadata.generation (kinds without a spec bump on any change)."""
    conversion: Conversion | None = None
    """Set on a version served by converting to another (stored) version of the same kind."""

    @property
    def resource(self) -> str:
        """The store's key for this kind: ``plural.group``, or the bare plural for core kinds."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def selectable(self, name: str) -> SelectableField | None:
        """The field a field selector name refers to, or None if it is not selectable."""
        if name == "metadata.name":
            return SelectableField(("metadata", "name"))
        if name == "metadata.namespace" and self.namespaced:
            return SelectableField(("metadata", "namespace"))
        if name in self.field_selectors:
            return self.field_selectors[name]
        if name.endswith("]") and "[" in name:
            prefix, _, key = name[:-1].partition("[")
            base = self.field_selectors.get(prefix + "[]")
            if base is not None and key:
                return SelectableField((*base.path, key), base.missing, base.values, base.canonical, base.twin)
        return None

    def selectable_fields(self) -> list[str]:
        names = ["metadata.name"] + (["metadata.namespace"] if self.namespaced else [])
        return names + [name.replace("[]", "[KEY]") for name in self.field_selectors]
