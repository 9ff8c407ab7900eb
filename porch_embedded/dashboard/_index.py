"""An in-memory index of every PackageRevision, fed by an informer on the store.

The packages page filters, sorts and pages a repository's revisions on the server, and
the approval queue gathers Proposed and DeletionProposed revisions across repositories
and namespaces. Asking the store for all of a repository's revisions on each request
would read and decode every body (tens of milliseconds per thousand revisions); the index
keeps one small row per revision instead, built from the store's list and kept current by
its watch (the same informer the engine and the controllers use), so a page of a
repository holding 10,000 revisions is a filter and a sort over small tuples. The store
stays the only source: a write through the dashboard waits (``wait_handled``) until the
index holds it, so the page shown next includes it.

The index starts on the first page that needs it (``want``) and is kept from then on:
listing and decoding every revision costs a server nobody browses start time and memory
it has no use for (an edge machine that only serves the API never pays for it).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import trio

from porch_embedded.kinds import PACKAGE_REVISION, Body
from porch_embedded.store import Informer, Store, WatchEvent

__all__ = ["IndexPage", "RevisionIndex", "RevisionRow", "SORTS"]

log = logging.getLogger("porch_embedded.dashboard")

FOLLOW_BUDGET_S = 5.0
"""How long a write through the dashboard waits for the index to see it before answering anyway."""


@dataclass(frozen=True, slots=True)
class RevisionRow:
    """What lists show of one PackageRevision.

    Slots and interned strings (namespace, repository, package, lifecycle repeat across
    thousands of rows) keep 10,000 rows to a few megabytes.
    """

    namespace: str
    name: str
    repository: str
    package: str
    workspace: str
    revision: int
    lifecycle: str
    created: str
    latest: bool
    resource_version: int
    search: str = ""
    """Package and workspace names, lowercased once here rather than on every filtered request."""

    @classmethod
    def of(cls, body: Body) -> RevisionRow:
        metadata, spec = body["metadata"], body.get("spec") or {}
        return cls(
            namespace=_interned(metadata.get("namespace", "")), name=metadata["name"],
            repository=_interned(spec.get("repository", "")), package=_interned(spec.get("packageName", "")),
            workspace=_interned(spec.get("workspaceName", "")), revision=int(spec.get("revision") or 0),
            lifecycle=_interned(spec.get("lifecycle", "Draft")), created=metadata.get("creationTimestamp", ""),
            latest=(metadata.get("labels") or {}).get("kpt.dev/latest-revision") == "true",
            resource_version=int(metadata.get("resourceVersion") or 0),
            search=f"{spec.get('packageName', '')}\n{spec.get('workspaceName', '')}".lower(),
        )


def _interned(value: str) -> str:
    return sys.intern(str(value))


Sort = Literal["name", "-name", "revision", "-revision", "lifecycle", "-lifecycle", "created", "-created"]
SORTS: dict[str, Callable[[RevisionRow], Any]] = {
    "name": lambda row: (row.package, row.revision, row.workspace),
    "revision": lambda row: (row.revision, row.package, row.workspace),
    "lifecycle": lambda row: (row.lifecycle, row.package, row.revision),
    "created": lambda row: (row.created, row.package, row.revision),
}


@dataclass(frozen=True)
class IndexPage:
    rows: list[RevisionRow]
    total: int
    """How many rows matched the filter, across every page."""
    page: int
    pages: int


class RevisionIndex:
    """Every PackageRevision's row by (namespace, name); ``run`` keeps it current."""

    def __init__(self, store: Store) -> None:
        self._rows: dict[tuple[str, str], RevisionRow] = {}
        self._by_repository: dict[tuple[str, str], dict[str, RevisionRow]] = {}
        self._by_package: dict[tuple[str, str, str], dict[str, RevisionRow]] = {}
        self._sorted: dict[tuple[str, str, str], list[RevisionRow]] = {}
        """A repository's rows in each order asked for, until one of its revisions changes: sorting
        10,000 rows is most of a page's time, and a repository changes far less often than it is read."""
        self._informer = Informer(store, PACKAGE_REVISION.resource, self._changed, name="dashboard: revisions")
        self.wanted = trio.Event()
        """Set by the first page that needs the index (``want``); ``run`` lists the store only then."""
        self.ready = trio.Event()
        """Set once the first list is indexed; pages wait for it so that none shows a partial index."""

    def want(self) -> None:
        """Ask ``run`` to build the index (once; later calls change nothing)."""
        self.wanted.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Wait until a page wants the index, then follow the store until cancelled.

        Reports started at once: nothing is read before ``want``; ``ready`` tells when the
        first list is indexed.
        """
        task_status.started()
        await self.wanted.wait()
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            await nursery.start(self._informer.run)
            log.info("revision index built on first use: %d revisions in %.2f s", len(self._rows),
                     time.perf_counter() - started)
            self.ready.set()

    async def wait_handled(self, body: Body) -> None:
        """Return once the index holds ``body`` (a write's result), or after FOLLOW_BUDGET_S."""
        metadata = body["metadata"]
        with trio.move_on_after(FOLLOW_BUDGET_S):
            await self._informer.wait_handled(metadata.get("namespace", ""), metadata["name"],
                                              int(metadata.get("resourceVersion") or 0))

    async def _changed(self, event: WatchEvent) -> None:
        row = RevisionRow.of(event.object)
        key, repository = (row.namespace, row.name), (row.namespace, row.repository)
        old = self._rows.pop(key, None)
        if old is not None:
            self._by_repository.get((old.namespace, old.repository), {}).pop(old.name, None)
            self._by_package.get((old.namespace, old.repository, old.package), {}).pop(old.name, None)
            self._forget_order(old.namespace, old.repository)
        self._forget_order(*repository)
        if event.type != "DELETED":
            self._rows[key] = row
            self._by_repository.setdefault(repository, {})[row.name] = row
            self._by_package.setdefault((*repository, row.package), {})[row.name] = row

    def _forget_order(self, namespace: str, repository: str) -> None:
        for sort in SORTS:
            self._sorted.pop((namespace, repository, sort), None)

    def sorted_of_repository(self, namespace: str, repository: str, sort: str) -> list[RevisionRow]:
        """The repository's rows in ascending ``sort`` order (a key of SORTS), kept until it changes."""
        key = (namespace, repository, sort)
        rows = self._sorted.get(key)
        if rows is None:
            rows = self._sorted[key] = sorted(self.of_repository(namespace, repository), key=SORTS[sort])
        return rows

    def page_of_repository(self, namespace: str, repository: str, *, lifecycles: Collection[str] = (),
                           text: str = "", sort: str = "name", page: int = 1, per_page: int = 50) -> IndexPage:
        """``page`` over one repository, from its kept order instead of a sort per request."""
        order = sort.lstrip("-") if sort.lstrip("-") in SORTS else "name"
        rows = self.sorted_of_repository(namespace, repository, order)
        return self.page(reversed(rows) if sort.startswith("-") else rows, lifecycles=lifecycles, text=text,
                         sort="", page=page, per_page=per_page)

    def get(self, namespace: str, name: str) -> RevisionRow | None:
        return self._rows.get((namespace, name))

    def of_repository(self, namespace: str, repository: str) -> Iterable[RevisionRow]:
        return self._by_repository.get((namespace, repository), {}).values()

    def of_package(self, namespace: str, repository: str, package: str) -> list[RevisionRow]:
        return list(self._by_package.get((namespace, repository, package), {}).values())

    def all(self) -> Iterable[RevisionRow]:
        return self._rows.values()

    def page(self, rows: Iterable[RevisionRow], *, lifecycles: Collection[str] = (), text: str = "",
             sort: str = "name", page: int = 1, per_page: int = 50) -> IndexPage:
        """Filter by lifecycle and by a substring of the package or workspace name, sort (unless
        ``sort`` is empty: the rows come in order), cut one page."""
        text = text.strip().lower()
        matched = [row for row in rows
                   if (not lifecycles or row.lifecycle in lifecycles)
                   and (not text or text in row.search)]
        if sort:
            matched.sort(key=SORTS.get(sort.lstrip("-"), SORTS["name"]), reverse=sort.startswith("-"))
        pages = max(1, -(-len(matched) // per_page))
        page = min(max(1, page), pages)
        return IndexPage(matched[(page - 1) * per_page:page * per_page], len(matched), page, pages)
