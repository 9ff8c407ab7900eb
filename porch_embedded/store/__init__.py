"""The cache behind one ``Store`` protocol (SQLite by default, PostgreSQL for larger deployments),
and the informer that follows it."""

from porch_embedded.store._informer import Backoff, Handler, Informer
from porch_embedded.store._messages import method_not_supported
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
    "Backoff",
    "Change",
    "Create",
    "DEFAULT_LOCK_TIMEOUT_S",
    "Delete",
    "FieldMatch",
    "Handler",
    "Informer",
    "ListPage",
    "ListQuery",
    "MigrationReport",
    "Store",
    "Update",
    "WatchEvent",
    "WatchQuery",
    "method_not_supported",
    "migrate_store",
    "open_store",
]
