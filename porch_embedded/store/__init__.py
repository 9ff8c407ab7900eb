"""The cache behind one ``Store`` protocol: SQLite by default, PostgreSQL for larger deployments."""

from porch_embedded.store._migrate import MigrationReport, migrate_store
from porch_embedded.store._open import open_store
from porch_embedded.store._protocol import (
    DEFAULT_LOCK_TIMEOUT_S,
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
    "DEFAULT_LOCK_TIMEOUT_S",
    "Delete",
    "FieldMatch",
    "ListPage",
    "ListQuery",
    "MigrationReport",
    "Store",
    "Update",
    "WatchEvent",
    "WatchQuery",
    "migrate_store",
    "open_store",
]
