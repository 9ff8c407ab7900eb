"""The approval queue: every Proposed and DeletionProposed revision the user may see, oldest first.

Oldest means waiting longest: ordered by the resourceVersion of each revision's last
change (normally the move that put it in the queue), which orders changes exactly where
timestamps have one-second precision.

Across repositories and namespaces (those where the user may list revisions). Each row
says how big the change is (files added, changed or removed against the package's
latest published revision, from the stored resources) and how its last render went, and
offers the moves the user may make; the page's keys (j/k, a/r, ?) drive it.
"""

from __future__ import annotations

from typing import Any

import trio
from quart import Blueprint, render_template, request

from porch_embedded.dashboard._index import RevisionRow
from porch_embedded.dashboard._revisions import actions_for, render_summary
from porch_embedded.dashboard._services import services, visible_namespaces
from porch_embedded.dashboard._services import index as revision_index
from porch_embedded.errors import NotFound
from porch_embedded.kinds import PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, Body

__all__ = ["blueprint", "changed_files"]

blueprint = Blueprint("queue", __name__)

WAITING = ("Proposed", "DeletionProposed")
PER_PAGE = 50
"""Rows per page: each row reads two revisions' files from the store for its diff size."""


def changed_files(before: dict[str, str], after: dict[str, str]) -> dict[str, int]:
    """How many files ``after`` adds, changes and removes against ``before``."""
    return {"added": sum(1 for path in after if path not in before),
            "changed": sum(1 for path in after if path in before and before[path] != after[path]),
            "removed": sum(1 for path in before if path not in after)}


async def _resources(row: RevisionRow) -> Body | None:
    try:
        return await services().store.get(PACKAGE_REVISION_RESOURCES.resource, row.namespace, row.name)
    except NotFound:
        return None


def _files(body: Body | None) -> dict[str, str]:
    return dict(((body or {}).get("spec") or {}).get("resources") or {})


async def _queue_row(row: RevisionRow) -> dict[str, Any]:
    resources = await _resources(row)
    diff: dict[str, int] | None = None
    base = ""
    if row.lifecycle == "Proposed":
        published = [other for other in revision_index().of_package(row.namespace, row.repository, row.package)
                     if other.lifecycle == "Published" and other.revision > 0]
        previous = max(published, key=lambda other: other.revision, default=None)
        before = _files(await _resources(previous)) if previous is not None else {}
        base = f"v{previous.revision}" if previous is not None else "nothing published"
        diff = changed_files(before, _files(resources))
    body = await services().store.get(PACKAGE_REVISION.resource, row.namespace, row.name)
    return {"row": row, "diff": diff, "base": base, "render": render_summary(resources),
            "actions": await actions_for(body)}


@blueprint.get("/queue")
async def show() -> Any:
    namespaces = await visible_namespaces(PACKAGE_REVISION)
    waiting = sorted((row for row in revision_index().all()
                      if row.lifecycle in WAITING and (namespaces is None or row.namespace in namespaces)),
                     key=lambda row: row.resource_version)
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    pages = max(1, -(-len(waiting) // PER_PAGE))
    page = min(page, pages)
    shown = waiting[(page - 1) * PER_PAGE:page * PER_PAGE]
    rows: list[dict[str, Any]] = [{} for _ in shown]

    async def fill(position: int, row: RevisionRow) -> None:
        rows[position] = await _queue_row(row)

    async with trio.open_nursery() as nursery:  # the rows' store reads overlap (the store bounds its threads)
        for position, row in enumerate(shown):
            nursery.start_soon(fill, position, row)
    return await render_template("queue.html", rows=rows, total=len(waiting), page=page, pages=pages,
                                 resource_version=await services().store.resource_version(),
                                 live="packagerevisions,packagerevisionresources", next_url=request.full_path)
