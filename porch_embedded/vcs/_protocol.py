"""The ``RepositoryAdapter`` protocol: what the engine calls to read and write a package repository.

Porch's repository interface separates three things, and so does this one: listing what a
repository holds (``snapshot``: every package revision the storage describes), reading one
revision's files (``read_package``), and changing it, where a draft is a unit of work that
lands as one write (``save_draft``), and every lifecycle move is one atomic write.
The adapter knows the storage layout (git: refs, commit messages, trailers) and nothing of
the lifecycle rules: the engine decides *whether* a move is allowed and which number an
approval takes; the adapter only makes the move land atomically or raises.

The engine knows nothing of the storage either: a revision's ``locator`` is opaque to it,
the ``selfLock`` and ``upstreamLock`` bodies the API shows come from the adapter, and so
does the answer to "is this the placeholder". A ``Storage`` stands for one Repository
``spec.type`` (git, oci): it parses that type's spec, opens its adapters, and
reads unregistered upstreams of that type for clone tasks.

Everything here is plain data: the engine builds the Kubernetes objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = [
    "Author",
    "Credentials",
    "DraftWrite",
    "Lifecycle",
    "RepositoryAdapter",
    "Revision",
    "Snapshot",
    "Storage",
    "StorageLocation",
    "StorageSpec",
    "Upstream",
]

Lifecycle = Literal["Draft", "Proposed", "Published", "DeletionProposed"]


@dataclass(frozen=True)
class Author:
    """Who a commit is attributed to; Porch uses the Kubernetes user name for both fields."""

    name: str
    email: str

    @classmethod
    def from_user(cls, username: str) -> Author:
        """The author Porch records for a Kubernetes user: name and email both the username."""
        return cls(username, username)


@dataclass(frozen=True, repr=False)
class Credentials:
    """What a Repository's Secret holds: basic-auth username/password, or a bearer token,
    and optionally the CA bundle (PEM) that the server's TLS certificate is verified with."""

    username: str = ""
    password: str = ""
    bearer_token: str = ""
    ca_bundle: str = ""

    @classmethod
    def from_secret(cls, data: Mapping[str, str]) -> Credentials:
        """The credentials of a decoded Secret: keys ``username``, ``password``, ``bearerToken``,
        and ``ca.crt`` (the key Porch reads CA bundles from)."""
        return cls(data.get("username", ""), data.get("password", ""), data.get("bearerToken", ""),
                   data.get("ca.crt", ""))

    def __repr__(self) -> str:
        kind = "bearer" if self.bearer_token else "basic" if self.username else "none"
        return f"Credentials(<{kind}, redacted>)"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.username or self.password or self.bearer_token)

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be printed."""
        return tuple(s for s in (self.password, self.bearer_token) if s)


@dataclass(frozen=True)
class Revision:
    """One package revision as storage describes it.

    ``package`` is the package path relative to the repository's directory (the API's
    ``spec.packageName``); ``path`` is its full path in the repository. ``revision`` is
    N >= 1 for a published ``v<N>``, -1 for the placeholder and other published versions,
    0 for drafts and proposals. ``commit`` is the version the storage holds (git: the
    commit the ref points at), the optimistic-concurrency token every write takes back;
    ``tree`` the id of the package's content at that version (equal trees mean equal
    files). ``tasks`` holds at most the first task recorded in storage.
    ``published_by``/``published_at`` are who published it and when, set for published
    revisions only.
    """

    package: str
    path: str
    workspace: str
    revision: int
    lifecycle: Lifecycle
    locator: str
    """Where the adapter finds this revision, opaque to the engine: it keeps it (in the
    ``selfLock`` the adapter writes, see ``RepositoryAdapter.revision_at``) and hands it
    back. Git: the full ref name, ``refs/heads/drafts/<path>/<ws>``, ``refs/tags/<path>/v1``."""
    commit: str
    tree: str
    tasks: tuple[dict[str, Any], ...] = ()
    published_by: str = ""
    published_at: datetime | None = None
    placeholder: bool = False
    """True for the revision that stands for the package as the registered branch (or
    the storage's equivalent) holds it: Porch's placeholder, revision -1."""


@dataclass(frozen=True)
class Snapshot:
    """Everything a repository holds at one version, read from the local cache."""

    version: str
    """The refs hash this snapshot was read at; equal to ``version()`` when nothing changed."""
    branch_commit: str
    """The registered branch's HEAD, or ``""`` when the branch does not exist."""
    packages: tuple[str, ...]
    """Packages (relative paths) present on the branch."""
    revisions: tuple[Revision, ...]
    warnings: tuple[str, ...] = ()
    """Refs that were skipped, each with the reason (a tag whose path has no Kptfile, ...)."""


@dataclass(frozen=True)
class DraftWrite:
    """One commit of a draft's complete file set.

    With ``parent=None`` a new draft branch is created on top of the registered branch's
    HEAD; it is a Conflict if that draft already exists. Otherwise the commit goes on top
    of ``parent`` (a Draft or Proposed revision), and it is a Conflict if its ref no longer
    points at ``parent.commit``. ``files`` replaces the package's directory entirely.
    ``task`` is recorded in the ``kpt:`` trailer and its type picks Porch's commit message
    (``init`` -> "Creating new empty revision", ``render`` -> "Rendering package", none ->
    "Intermediate commit", ...).
    """

    package: str
    workspace: str
    files: Mapping[str, str]
    task: Mapping[str, Any] | None = None
    parent: Revision | None = None
    author: Author | None = None
    message: str = ""
    """Overrides the message picked from the task type when not empty."""


class RepositoryAdapter(Protocol):
    """A package repository: list, read, and change it one atomic write at a time.

    Every async method may raise (from ``porch_embedded.errors``) RepositoryUnavailable when
    the server failed us, RepositoryAuthFailed when it refused the credentials,
    RepositoryNotFound (BranchNotFound for a missing branch) when the repository is gone,
    and Conflict when a revision moved under a write. The plain methods do no I/O.
    """

    def self_lock(self, revision: Revision) -> dict[str, Any]:
        """Porch's ``status.selfLock`` body for the revision (git: ``{type: git, git: {repo,
        directory, ref, commit}}``); it holds all that ``revision_at`` needs to find it again."""
        ...

    def revision_at(
        self,
        lock: Mapping[str, Any],
        *,
        package: str,
        workspace: str,
        revision: int,
        lifecycle: Lifecycle,
        tasks: Sequence[Mapping[str, Any]] = (),
    ) -> Revision:
        """The revision a stored ``selfLock`` of this adapter stands for, with the facts the API
        object keeps beside it; no I/O (its ``tree`` is unknown, so it serves writes, not reads)."""
        ...

    def placeholder_after(self, published: Revision) -> Revision | None:
        """The placeholder revision that approving ``published`` moved along, or None when this
        storage has no placeholder."""
        ...

    async def version(self) -> str:
        """A cheap hash of what the remote holds (git: its refs); unchanged means nothing needs re-listing."""
        ...

    async def fetch(self) -> str:
        """Bring the local cache up to date with the remote; return the fetched version."""
        ...

    async def snapshot(self) -> Snapshot:
        """Every revision the local cache holds (call ``fetch`` first for fresh data)."""
        ...

    async def read_package(self, revision: Revision) -> dict[str, str]:
        """The revision's files: path relative to the package -> text."""
        ...

    async def read_packages(self, revisions: Sequence[Revision]) -> list[dict[str, str]]:
        """Several revisions' files at once, in the order given: what a sync reads.

        Exactly ``[await self.read_package(r) for r in revisions]`` (the same results, and
        the same error for the first revision that cannot be read), which is also the
        implementation for an adapter with no cheaper way; git reads them all in one
        worker-thread call, reading each distinct tree once.
        """
        ...

    async def highest_revision(self, package: str) -> int:
        """The highest published number N of the package in the cache (git: its ``v<N>`` tags), 0 when
        none: O(package)."""
        ...

    async def save_draft(self, write: DraftWrite) -> Revision:
        """Commit a draft's files on its draft (or proposed) ref; create the draft if new."""
        ...

    async def propose(self, revision: Revision) -> Revision:
        """Move a Draft to Proposed."""
        ...

    async def reject(self, revision: Revision) -> Revision:
        """Move a Proposed revision back to Draft."""
        ...

    async def approve(self, revision: Revision, number: int, *, author: Author | None = None) -> Revision:
        """Publish a Proposed (or Draft) revision as ``v<number>`` of its package."""
        ...

    async def propose_deletion(self, revision: Revision) -> Revision:
        """Mark a Published revision DeletionProposed."""
        ...

    async def restore(self, revision: Revision) -> Revision:
        """Take a DeletionProposed revision back to Published."""
        ...

    async def delete(self, revision: Revision, *, author: Author | None = None) -> None:
        """Remove a revision from storage (draft/proposal: its ref; published: as Porch does)."""
        ...

    async def check(self) -> None:
        """Health check: the server answers, accepts the credentials, and the branch exists."""
        ...

    async def aclose(self) -> None:
        """Release what this handle holds; the shared cache stays on disk."""
        ...


@dataclass(frozen=True)
class Upstream:
    """An unregistered upstream package read for a clone: its files and Porch's ``upstreamLock`` body."""

    files: dict[str, str]
    lock: dict[str, Any]


@dataclass(frozen=True)
class StorageLocation:
    """Where a registered Repository's packages live, so that two registrations can be compared.

    Two Repositories whose ``store`` is equal and whose directories are equal or nested
    (or one of which is at the root) would serve the same packages. The storage
    normalises both, so two spellings of one place compare equal.
    """

    store: str
    """The unit packages are written to, with its type: ``git:<url>#<branch>``, ``oci:<host>``."""
    directory: str
    """The path under ``store`` that holds the packages, without slashes at either end; ``""``: all of it."""
    overlap: str = field(default="", compare=False)
    """For a refusal's message: what two overlapping registrations share."""
    advice: str = field(default="", compare=False)
    """For a refusal's message: what to change so that they no longer overlap."""


class StorageSpec(Protocol):
    """What a ``Storage`` parsed from a Repository's spec (or a clone task's upstream).

    The engine reads only which Secret holds the credentials, and the field that named it
    (for messages); everything else is the storage's own.
    """

    @property
    def secret_name(self) -> str: ...

    @property
    def secret_field(self) -> str: ...


class Storage(Protocol):
    """One Repository ``spec.type``: parses its spec, opens its adapters, reads upstreams.

    The composition root holds one per type it serves, keyed by ``spec.type``.
    """

    type: str
    """The ``spec.type`` it serves: ``git``, ``oci``."""

    def parse(self, repository: Mapping[str, Any]) -> StorageSpec:
        """The adapter's spec from a Repository object; raises BadRequest naming the bad field."""
        ...

    def location(self, spec: Any) -> StorageLocation:
        """Where the packages of a registered repository (``spec`` from ``parse``) live."""
        ...

    def open(self, spec: Any, credentials: Credentials) -> AbstractAsyncContextManager[RepositoryAdapter]:
        """Open a registered repository (``spec`` from ``parse``); leaving the context closes it."""
        ...

    def parse_upstream(self, upstream: Mapping[str, Any]) -> StorageSpec:
        """The upstream of a clone task (``clone.upstreamRef``); raises BadRequest naming the bad field."""
        ...

    async def read_upstream(self, upstream: Any, credentials: Credentials) -> Upstream:
        """The files and lock of an unregistered upstream (``upstream`` from ``parse_upstream``).

        Raises NotFound when no package is there, and what ``RepositoryAdapter`` raises.
        """
        ...
