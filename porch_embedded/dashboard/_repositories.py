"""The repositories page: each Repository's readiness, sync times, package count and commit."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, render_template

from porch_embedded.dashboard._services import authorize, services
from porch_embedded.kinds import REPOSITORY, Body
from porch_embedded.store import ListQuery

__all__ = ["blueprint", "repository_row"]

blueprint = Blueprint("repositories", __name__)


def _ready(repository: Body) -> dict[str, str]:
    conditions = (repository.get("status") or {}).get("conditions") or ()
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        return {"state": "Unknown", "message": "not synced yet"}
    return {"state": "Ready" if ready.get("status") == "True" else "Error", "message": ready.get("message", "")}


def repository_row(repository: Body) -> dict[str, Any]:
    """What the page shows of one Repository."""
    metadata, spec, status = repository["metadata"], repository.get("spec") or {}, repository.get("status") or {}
    kind = spec.get("type", "git")
    location = spec.get(kind) or {}
    return {
        "namespace": metadata.get("namespace", ""),
        "name": metadata["name"],
        "type": kind,
        "url": location.get("repo") or location.get("registry", ""),
        "branch": location.get("branch", ""),
        "directory": location.get("directory", ""),
        "deployment": bool(spec.get("deployment")),
        "ready": _ready(repository),
        "last_sync": status.get("lastFullSyncTime", ""),
        "next_sync": status.get("nextFullSyncTime", ""),
        "packages": status.get("packageCount", ""),
        "commit": (status.get("gitCommitHash") or "")[:12],
        "resource_version": metadata.get("resourceVersion", ""),
    }


@blueprint.get("/")
async def index() -> Any:
    await authorize("list", REPOSITORY)
    page = await services().store.list(ListQuery(REPOSITORY.resource))
    rows = [repository_row(item) for item in page.items]
    return await render_template("repositories.html", rows=rows, resource_version=page.resource_version)
