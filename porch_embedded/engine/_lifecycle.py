"""The package revision lifecycle as one table: which moves exist and how each is asked for.

Draft -> Proposed (update) -> Published (approval) -> DeletionProposed (update or
approval) -> deleted; Proposed -> Draft and DeletionProposed -> Published are the
rejections. The table answers, for an old lifecycle, a requested one and the
endpoint used, which ``Move`` that is, or raises with Porch's message.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from porch_embedded.errors import Cause, Invalid

__all__ = ["Move", "Via", "move_for"]

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
