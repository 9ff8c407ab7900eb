"""The cache behind one ``Store`` protocol: SQLite by default, PostgreSQL for larger deployments."""

from porch_embedded.store._open import open_store
from porch_embedded.store._protocol import (
    Change,
    Create,
    Delete,
    FieldMatch,
    ListPage,
    ListQuery,
    Store,
    Update,
    WatchEvent,
    WatchQuery,
)

__all__ = [
    "Change",
    "Create",
    "Delete",
    "FieldMatch",
    "ListPage",
    "ListQuery",
    "Store",
    "Update",
    "WatchEvent",
    "WatchQuery",
    "open_store",
]
