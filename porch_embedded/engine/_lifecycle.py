"""The package revision lifecycle as tables: which moves exist, how each is asked for, what it asks of git.

Draft -> Proposed (update) -> Published (approval) -> DeletionProposed (update or
approval) -> deleted; Proposed -> Draft and DeletionProposed -> Published are the
rejections. ``move_for`` answers, for an old lifecycle, a requested one and the
endpoint used, which ``Move`` that is, or raises with Porch's message; ``ADAPTER_CALLS``
says which repository adapter call carries each move out. Also here: the one rule for
which revision is a package's latest. Nothing here does I/O itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from typing import Literal

from porch_embedded.errors import Cause, Invalid
from porch_embedded.vcs import Author, RepositoryAdapter, Revision

__all__ = [
    "ADAPTER_CALLS",
    "PUBLISHED",
    "Move",
    "MoveCall",
    "Via",
    "carries_latest_label",
    "latest_revision",
    "move_for",
]

PUBLISHED = frozenset({"Published", "DeletionProposed"})
"""The lifecycles of a revision that has a number (v<N>) and counts for "latest"."""

Via = Literal["update", "approval"]


class Move(Enum):
    NONE = "none"
    PROPOSE = "propose"
    REJECT = "reject"
    APPROVE = "approve"
    PROPOSE_DELETION = "propose-deletion"
    RESTORE = "restore"


_TABLE: dict[tuple[str, str], tuple[Move, frozenset[str]]] = {
    ("Draft", "Draft"): (Move.NONE, frozenset({"update"})),
    ("Draft", "Proposed"): (Move.PROPOSE, frozenset({"update"})),
    ("Proposed", "Proposed"): (Move.NONE, frozenset({"update"})),
    ("Proposed", "Draft"): (Move.REJECT, frozenset({"update", "approval"})),
    ("Proposed", "Published"): (Move.APPROVE, frozenset({"approval"})),
    ("Published", "Published"): (Move.NONE, frozenset({"update", "approval"})),
    ("Published", "DeletionProposed"): (Move.PROPOSE_DELETION, frozenset({"update", "approval"})),
    ("DeletionProposed", "DeletionProposed"): (Move.NONE, frozenset({"update", "approval"})),
    ("DeletionProposed", "Published"): (Move.RESTORE, frozenset({"update", "approval"})),
}


MoveCall = Callable[[RepositoryAdapter, Revision, "Author | None"], Awaitable[Revision]]
"""Carry a move out in storage: (adapter, the revision as it is, the author) -> the revision moved."""


async def _stay(adapter: RepositoryAdapter, revision: Revision, author: Author | None) -> Revision:
    return revision


async def _approve(adapter: RepositoryAdapter, revision: Revision, author: Author | None) -> Revision:
    """Publish as the next v<N>: numbering happens under the repository's write lock, with the push."""
    number = await adapter.highest_revision(revision.package) + 1
    return await adapter.approve(revision, number, author=author)


ADAPTER_CALLS: dict[Move, MoveCall] = {
    Move.NONE: _stay,
    Move.PROPOSE: lambda adapter, revision, author: adapter.propose(revision),
    Move.REJECT: lambda adapter, revision, author: adapter.reject(revision),
    Move.APPROVE: _approve,
    Move.PROPOSE_DELETION: lambda adapter, revision, author: adapter.propose_deletion(revision),
    Move.RESTORE: lambda adapter, revision, author: adapter.restore(revision),
}


def _invalid(message: str) -> Invalid:
    return Invalid(message, causes=[Cause(message, "spec.lifecycle")])


def move_for(old: str, new: str, via: Via) -> Move:
    """The move from ``old`` to ``new`` through ``via``; raise Invalid with Porch's message."""
    new = new or "Draft"
    entry = _TABLE.get((old, new))
    if entry is not None and via in entry[1]:
        return entry[0]
    if via == "approval":
        if old in ("Draft",) and new == "Published":
            raise _invalid(f"cannot approve package with {old} lifecycle value; only Proposed packages can be approved")
        if old == "Proposed":
            raise _invalid("value for approval can be only one of Draft,Published")
        if old == "Published":
            raise _invalid("package with Published lifecycle value can only be updated to 'ProposeDeletion'")
        if old == "DeletionProposed":
            raise _invalid("package with DeletionProposed lifecycle value can only be updated to 'Published'")
        raise _invalid(f"cannot approve package with {old} lifecycle value; only Proposed packages can be approved")
    if old in ("Draft", "Proposed"):
        if new == "Published":
            raise _invalid("value can be only updated to Draft,Proposed; approve through the approval subresource")
        raise _invalid("value can be only updated to Draft,Proposed")
    raise _invalid(f"package with {old} lifecycle value can only be updated to "
                   f"{'DeletionProposed' if old == 'Published' else 'Published'}")


def latest_revision(revisions: Iterable[tuple[str, int]]) -> int:
    """The number labelled latest among a package's (lifecycle, revision) pairs; 0 if none.

    The one rule for ``kpt.dev/latest-revision`` and a Package's ``status.latestRevision``:
    the highest revision number among Published and DeletionProposed revisions (the
    placeholder, -1, and unpublished ones, 0, never count).
    """
    return max((number for lifecycle, number in revisions if lifecycle in PUBLISHED and number >= 1), default=0)


def carries_latest_label(lifecycle: str, revision: int, latest: int) -> bool:
    """Whether a revision carries the latest label, ``latest`` being its package's latest_revision."""
    return latest >= 1 and revision == latest and lifecycle in PUBLISHED
