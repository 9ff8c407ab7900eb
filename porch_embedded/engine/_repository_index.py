"""An index of registered Repositories by the storage they write to, fed by an informer.

Refusing a conflicting registration must compare a new Repository with the others of
the same storage only (one git repository's branch, one OCI registry); listing every
Repository for each registration would make registering N repositories cost O(N^2).
Where a Repository's packages live is its storage's answer (``Storage.location``), so
the index knows no ``spec.type``. The engine's Repository informer keeps the index
(``apply`` each event); the engine waits for its own writes to reach it, so a request
that follows another through the same process sees it.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from porch_embedded.kinds import Body
from porch_embedded.store import WatchEvent
from porch_embedded.vcs import StorageLocation

__all__ = ["Locate", "RepositoryIndex"]

Locate = Callable[[Body], StorageLocation | None]
"""Where a Repository's packages live, or None when its spec does not say (validation reports why)."""

Name = tuple[str, str]


def _name(body: Body) -> Name:
    return body["metadata"].get("namespace", ""), body["metadata"]["name"]


class RepositoryIndex:
    """Registered Repositories by ``StorageLocation.store``; ``ready`` once the first list is in."""

    def __init__(self, locate: Locate) -> None:
        self._locate = locate
        self._by_store: dict[str, dict[Name, tuple[StorageLocation, Body]]] = {}
        self._store_of: dict[Name, str] = {}
        self.ready = trio.Event()

    def _record(self, body: Body) -> None:
        self._forget(*_name(body))
        location = self._locate(body)
        if location is not None:
            self._by_store.setdefault(location.store, {})[_name(body)] = location, body
            self._store_of[_name(body)] = location.store

    def _forget(self, namespace: str, name: str) -> None:
        store = self._store_of.pop((namespace, name), None)
        if store is not None:
            self._by_store.get(store, {}).pop((namespace, name), None)

    def same_storage(self, body: Body) -> tuple[StorageLocation | None, list[tuple[StorageLocation, Body]]]:
        """Where ``body``'s packages live, and the registered Repositories in that same storage."""
        location = self._locate(body)
        if location is None:
            return None, []
        return location, list(self._by_store.get(location.store, {}).values())

    def apply(self, event: WatchEvent) -> None:
        """Follow one informer event of a Repository."""
        if event.type == "DELETED":
            self._forget(*_name(event.object))
        else:
            self._record(event.object)
