"""The cache behind one ``Store`` protocol (SQLite by default, PostgreSQL for larger deployments),
and the informer that follows it."""

from porch_embedded.store._informer import Backoff, Handler, Informer
from porch_embedded.store._messages import (
    conflict,
    forbidden,
    invalid,
    method_not_supported,
    not_found,
    precondition_failed,
    stale_resource_version,
)
from porch_embedded.store._migrate import MigrationReport, migrate_store
from porch_embedded.store._open import open_store
from porch_embedded.store._protocol import (
    DEFAULT_LOCK_TIMEOUT_S,
    Change,
    Create,
    Delete,
    EncodedListPage,
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
    "EncodedListPage",
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
    "conflict",
    "forbidden",
    "invalid",
    "method_not_supported",
    "migrate_store",
    "not_found",
    "open_store",
    "precondition_failed",
    "stale_resource_version",
]
