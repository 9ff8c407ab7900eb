"""What a change means against the stored row: the checks both stores make before writing.

A Create must find no row, an Update must find one at the expected resourceVersion, a
Delete must find one matching its preconditions. The SQL that reads and writes the
rows differs per database; the rules and their Kubernetes messages are here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from porch_embedded.store._bodies import Body, copy_body, key_of, uid_of
from porch_embedded.store._messages import (
    already_exists,
    not_found,
    precondition_failed,
    stale_resource_version,
)
from porch_embedded.store._protocol import Change, Create, Delete, Update

__all__ = ["ChangeShortcuts", "CheckedChange", "StoredRow", "check_change"]


@dataclass(frozen=True)
class StoredRow:
    rv: int
    body: Body | None = None
    """The decoded body, when the lookup was asked for it (deletes need it)."""


@dataclass(frozen=True)
class CheckedChange:
    namespace: str
    name: str
    body: Body
    """What to write (or, for a delete, the last body, to put in the DELETED event)."""
    kind: Literal["ADDED", "MODIFIED", "DELETED"]


Lookup = Callable[[str, str, str, bool], StoredRow | None]
"""``lookup(resource, namespace, name, with_body)``: the stored row, or None."""


def check_change(change: Change, lookup: Lookup) -> CheckedChange:
    """Validate ``change`` against the stored row; raise NotFound, AlreadyExists or Conflict."""
    resource = change.resource
    if isinstance(change, Delete):
        namespace, name = change.namespace, change.name
        row = lookup(resource, namespace, name, True)
        if row is None:
            raise not_found(resource, name)
        assert row.body is not None
        if change.expect_uid is not None and change.expect_uid != uid_of(row.body):
            raise precondition_failed(resource, name, "UID", change.expect_uid, uid_of(row.body))
        if change.expect_rv is not None and change.expect_rv != str(row.rv):
            raise precondition_failed(resource, name, "ResourceVersion", change.expect_rv, str(row.rv))
        return CheckedChange(namespace, name, row.body, "DELETED")
    body = copy_body(resource, change.body)
    namespace, name = key_of(resource, body)
    row = lookup(resource, namespace, name, False)
    if isinstance(change, Create):
        if row is not None:
            raise already_exists(resource, name)
        return CheckedChange(namespace, name, body, "ADDED")
    if row is None:
        raise not_found(resource, name)
    if change.expect_rv != str(row.rv):
        raise stale_resource_version(resource, name)
    return CheckedChange(namespace, name, body, "MODIFIED")


class ChangeShortcuts:
    """The one-object writes of the Store protocol, as single-change ``apply`` calls."""

    async def apply(self, changes: Sequence[Change]) -> list[Body]:
        raise NotImplementedError

    async def create(self, resource: str, body: Body) -> Body:
        return (await self.apply([Create(resource, body)]))[0]

    async def update(self, resource: str, body: Body, *, expect_rv: str) -> Body:
        return (await self.apply([Update(resource, body, expect_rv)]))[0]

    async def delete(self, resource: str, namespace: str, name: str, *, expect_rv: str | None = None,
                     expect_uid: str | None = None) -> Body:
        return (await self.apply([Delete(resource, namespace, name, expect_rv=expect_rv, expect_uid=expect_uid)]))[0]
