"""The ``Store`` protocol: the cache every layer above reads and the engine writes.

A store keeps JSON object bodies keyed by (resource, namespace, name), stamps each
write with the next value of one monotonic counter (the resourceVersion), and writes
the row and its watch event in one transaction. It enforces resourceVersion matches
and name uniqueness, and nothing else: defaulting, validation and lifecycle rules
belong to the engine. The store knows no kinds; ``resource`` is the plural with its
group (``repositories.config.porch.kpt.dev``; core kinds are bare, ``secrets``).

Several replicas may share one PostgreSQL store; for them the store also offers leader
leases (``acquire_lease``) for singleton work and named locks (``lock``) that serialise
writers across processes. The SQLite store is one process by construction and gives the
same semantics in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from porch_embedded.meta import FieldMatch, LabelSelector

__all__ = [
    "Change",
    "Create",
    "DEFAULT_LOCK_TIMEOUT_S",
    "Delete",
    "FieldMatch",
    "ListPage",
    "ListQuery",
    "Store",
    "Update",
    "WatchEvent",
    "WatchQuery",
]

Body = dict[str, Any]

DEFAULT_LOCK_TIMEOUT_S = 30.0
"""How long ``Store.lock`` waits for a held lock before raising Conflict."""


@dataclass(frozen=True)
class ListQuery:
    """What to list. ``namespace=""`` lists every namespace (and cluster-scoped objects)."""

    resource: str
    namespace: str = ""
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: tuple[FieldMatch, ...] = ()
    limit: int = 0
    """0 means everything; otherwise at most ``limit`` items and a continue token."""
    continue_token: str = ""


@dataclass(frozen=True)
class ListPage:
    items: list[Body]
    resource_version: int
    """The store's resourceVersion when the first page of this list was read."""
    continue_token: str = ""
    """Empty on the last page."""
    remaining: int | None = None
    """How many more items matched after this page, when known."""


@dataclass(frozen=True)
class EncodedListPage:
    """A list page whose items are each object's JSON text, as the store keeps it (sealed fields
    opened): what a list answer splices into its body without decoding and re-encoding every object."""

    items: list[str]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


@dataclass(frozen=True)
class WatchQuery:
    resource: str
    namespace: str = ""
    since: int = 0
    """Deliver events with resourceVersion > since. Raise Expired if compacted away."""


@dataclass(frozen=True)
class WatchEvent:
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    object: Body
    resource_version: int
    object_json: str | None = field(default=None, compare=False, repr=False)
    """``object`` as the store logged it, when the event came from its log: one string shared
    by every in-process watcher, which a watcher that keeps objects as JSON keeps instead of
    encoding its own copy. Never changes when ``object`` is mutated."""


@dataclass(frozen=True)
class Create:
    resource: str
    body: Body


@dataclass(frozen=True)
class Update:
    resource: str
    body: Body
    expect_rv: str
    """The resourceVersion the caller read; a different stored one is Conflict."""


@dataclass(frozen=True)
class Delete:
    resource: str
    namespace: str
    name: str
    expect_rv: str | None = None
    expect_uid: str | None = None


Change = Create | Update | Delete


class Store(Protocol):
    """A transactional object cache with a watch log.

    Errors (from ``porch_embedded.errors``): NotFound, AlreadyExists and Conflict with
    Kubernetes' messages (``repositories.config.porch.kpt.dev "x" not found``, ``Operation
    cannot be fulfilled on ...: the object has been modified; please apply your changes to
    the latest version and try again``), Expired for compacted history, BadRequest for a
    malformed continue token, StoreUnavailable when the database fails.
    """

    async def apply(self, changes: Sequence[Change]) -> list[Body]:
        """Apply all changes in one transaction, or none of them.

        Each result is the stored body with ``metadata.resourceVersion`` set to the new
        counter value of that change (a Delete returns the last body, stamped with the
        resourceVersion of its DELETED event). Every change appends one watch event.
        """
        ...

    async def create(self, resource: str, body: Body) -> Body: ...

    async def update(self, resource: str, body: Body, *, expect_rv: str) -> Body: ...

    async def delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        *,
        expect_rv: str | None = None,
        expect_uid: str | None = None,
    ) -> Body: ...

    async def get(self, resource: str, namespace: str, name: str) -> Body: ...

    async def list(self, query: ListQuery) -> ListPage:
        """Items ordered by (namespace, name), filtered by selectors inside the database."""
        ...

    async def indexed(self, resource: str, namespace: str, key: str) -> list[Body]:
        """The ``resource`` objects in ``namespace`` that have the index key ``key``, ordered by name.

        An object's keys are ``kinds.index_keys`` (a PackageRevision: ``upstream:<name>``
        per revision it follows, ``package:<repository>/<package>``); the store keeps them
        as rows written in the same transaction as the object, so this is an index
        lookup whatever the namespace holds, never a scan.
        """
        ...

    async def list_encoded(self, query: ListQuery) -> EncodedListPage:
        """``list``, with each item as its JSON text: the same items, order, pages and counts."""
        ...

    def watch(self, query: WatchQuery) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]:
        """Open a stream of events after ``query.since``, in resourceVersion order.

        Raises Expired on entry if ``since`` is older than the retained history. The
        iterator never ends by itself; the caller cancels it.
        """
        ...

    async def resource_version(self) -> int:
        """The counter's current value (the resourceVersion of the newest write)."""
        ...

    async def compact(self, *, keep: int) -> int:
        """Drop all but the newest ``keep`` watch events; return the oldest retained rv."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable if the database cannot answer (for /readyz)."""
        ...

    async def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl_s`` seconds; True if held.

        A lease is free when it was never taken, was released, or its expiry has passed;
        ``holder`` then takes it. The holder renews by calling again before the expiry
        (every ttl/3 or so); any other holder gets False until it lapses. Expiry is measured
        by the database's clock (PostgreSQL), so replicas' clocks need not agree. A holder
        must treat the lease as lost ``ttl_s`` after the start of its last successful call
        (a duration on its own monotonic clock), and stop singleton work then, whether or
        not it could reach the database. BadRequest for an empty name or holder or a
        ttl_s <= 0; StoreUnavailable if the database fails.
        """
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease ``name`` up now if ``holder`` has it (else do nothing), so that
        another replica takes over without waiting for the expiry (e.g. on SIGTERM)."""
        ...

    def lock(
        self, name: str, *, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
    ) -> AbstractAsyncContextManager[None]:
        """Hold the named mutual-exclusion lock across every process sharing this store.

        E.g. ``async with store.lock(f"repository/{namespace}/{name}"):`` around each git
        write, so that replicas write one repository one at a time. Waiters queue; one that
        waits longer than ``timeout_s`` gets Conflict (another writer holds it; retry) and
        StoreUnavailable if the database fails. Not reentrant: a task that holds a lock
        and asks for it again gets RuntimeError (a bug, caught at once). On PostgreSQL the lock
        lives in a database session (an advisory lock on a connection of its own), so a
        process that dies or loses its connection loses the lock and the others go on.
        The lock serialises writers; it does not replace compare-and-swap checks on the
        data (resourceVersion, git ref updates), which still catch a lost lock.
        """
        ...
