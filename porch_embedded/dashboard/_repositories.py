"""The repositories page: readiness, sync times, package count and commit; sync now; register one."""

from __future__ import annotations

import copy
import datetime as _dt
from typing import Any

from quart import Blueprint, render_template, request, url_for

from porch_embedded.dashboard._flash import done
from porch_embedded.dashboard._services import authorize, current_user, may, services, visible_namespaces
from porch_embedded.dashboard._services import index as revision_index
from porch_embedded.errors import Conflict, Invalid, StatusError
from porch_embedded.kinds import REPOSITORY, SECRET, Body
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


async def _rows() -> tuple[list[dict[str, Any]], int]:
    """The Repositories the user may list: all of them, or those of the namespaces where they may."""
    namespaces = await visible_namespaces(REPOSITORY)
    page = await services().store.list(ListQuery(REPOSITORY.resource))
    rows = [repository_row(item) for item in page.items
            if namespaces is None or item["metadata"].get("namespace") in namespaces]
    for row in rows:
        row["revisions"] = sum(1 for _ in revision_index().of_repository(row["namespace"], row["name"]))
        row["can_sync"] = await may("update", REPOSITORY, row["namespace"], row["name"])
    return rows, page.resource_version


@blueprint.get("/")
async def index() -> Any:
    rows, resource_version = await _rows()
    return await render_template("repositories.html", rows=rows, resource_version=resource_version,
                                 live="repositories",
                                 can_register=await may("create", REPOSITORY, "default"))


@blueprint.post("/repositories/<namespace>/<name>/sync")
async def sync_now(namespace: str, name: str) -> Any:
    """Ask for a full sync now, as ``porchctl repo sync`` does: set ``spec.sync.runOnceAt``."""
    await authorize("update", REPOSITORY, namespace, name)
    engine, stamp = services().engine, _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for _ in range(3):
        current = await services().store.get(REPOSITORY.resource, namespace, name)
        body = copy.deepcopy(current)
        body.setdefault("spec", {}).setdefault("sync", {})["runOnceAt"] = stamp
        try:
            await engine.update(REPOSITORY, body, user=current_user(), current=current)
            break
        except Conflict:
            continue  # the sync controller wrote its status meanwhile: ask again on the new version
    return done(f"Sync of {namespace}/{name} requested", url_for("repositories.index"))


@blueprint.get("/repositories/new")
async def register_form() -> Any:
    await authorize("create", REPOSITORY, request.args.get("namespace", "default"))
    return await render_template("register.html", form={"namespace": "default", "branch": "main"}, error="")


@blueprint.post("/repositories")
async def register() -> Any:
    """Register a git repository (and, when given credentials, its basic-auth Secret) through the engine."""
    form = {key: value.strip() for key, value in (await request.form).items()}
    namespace, name = form.get("namespace") or "default", form.get("name", "")
    try:
        await authorize("create", REPOSITORY, namespace)
        if not name or not form.get("repo"):
            raise Invalid("give the repository a name and the URL of its git repository")
        git: Body = {"repo": form["repo"], "branch": form.get("branch") or "main",
                     "directory": form.get("directory", ""), "createBranch": bool(form.get("create_branch"))}
        if form.get("username") or form.get("password"):
            await authorize("create", SECRET, namespace)
            secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
                      "metadata": {"name": f"{name}-auth", "namespace": namespace},
                      "stringData": {"username": form.get("username", ""), "password": form.get("password", "")}}
            await services().engine.create(SECRET, secret, user=current_user())
            git["secretRef"] = {"name": f"{name}-auth"}
        elif form.get("secret"):
            git["secretRef"] = {"name": form["secret"]}
        body = {"apiVersion": REPOSITORY.api_version, "kind": REPOSITORY.kind,
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"type": "git", "deployment": bool(form.get("deployment")), "git": git}}
        if form.get("description"):
            body["spec"]["description"] = form["description"]
        await services().engine.create(REPOSITORY, body, user=current_user())
    except StatusError as error:
        if error.code == 403:
            raise
        form.pop("password", None)
        page = await render_template("register.html", form=form, error=error.message)
        return page, error.code
    return done(f"Repository {namespace}/{name} registered; it syncs now", url_for("repositories.index"))
