"""The served kinds as data: schemas, defaults, validation, printer columns, selectors."""

from __future__ import annotations

from porch_embedded.kinds._config import PACKAGE_VARIANT, REPOSITORY, package_variant_causes
from porch_embedded.kinds._core import CONFIG_MAP, NAMESPACE, SECRET
from porch_embedded.kinds._crd import CLUSTER_KINDS, custom_resource_definition
from porch_embedded.kinds._field_selectors import field_matches
from porch_embedded.kinds._kind import Body, Conversion, Kind, PrinterColumn, SelectableField
from porch_embedded.kinds._porch import (
    LIFECYCLES,
    PACKAGE,
    PACKAGE_REVISION,
    PACKAGE_REVISION_RESOURCES,
)
from porch_embedded.kinds._index_keys import INDEXED_RESOURCES, index_keys, package_key, upstream_key, upstream_names
from porch_embedded.kinds._schema import prune_unknown, schema_causes
from porch_embedded.kinds._cel import CEL_VARIABLES, CelError, evaluate_string
from porch_embedded.kinds._variant_set import PACKAGE_VARIANT_SET, variant_set_causes
from porch_embedded.kinds._variant_set_v1alpha1 import PACKAGE_VARIANT_SET_V1ALPHA1

__all__ = [
    "ALL_KINDS",
    "Body",
    "CEL_VARIABLES",
    "CLUSTER_KINDS",
    "CONFIG_MAP",
    "CelError",
    "INDEXED_RESOURCES",
    "Conversion",
    "Kind",
    "LIFECYCLES",
    "NAMESPACE",
    "PACKAGE",
    "PACKAGE_REVISION",
    "PACKAGE_REVISION_RESOURCES",
    "PACKAGE_VARIANT",
    "PACKAGE_VARIANT_SET",
    "PACKAGE_VARIANT_SET_V1ALPHA1",
    "PrinterColumn",
    "REPOSITORY",
    "SECRET",
    "SERVED_KINDS",
    "SelectableField",
    "custom_resource_definition",
    "field_matches",
    "index_keys",
    "package_key",
    "package_variant_causes",
    "prune_unknown",
    "schema_causes",
    "evaluate_string",
    "upstream_key",
    "upstream_names",
    "variant_set_causes",
]

ALL_KINDS: tuple[Kind, ...] = (
    NAMESPACE,
    SECRET,
    CONFIG_MAP,
    PACKAGE_REVISION,
    PACKAGE_REVISION_RESOURCES,
    PACKAGE,
    REPOSITORY,
    PACKAGE_VARIANT,
    PACKAGE_VARIANT_SET,
)
"""Every kind there is; the composition root decides which ones the API serves."""

SERVED_KINDS: tuple[Kind, ...] = (*ALL_KINDS, PACKAGE_VARIANT_SET_V1ALPHA1)
"""What the API serves in standalone mode: every kind, and the versions it serves by conversion."""
