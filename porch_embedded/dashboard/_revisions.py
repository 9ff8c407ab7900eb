"""One package revision: its resources, pipeline, tasks, locks, conditions and render results;
and the lifecycle moves a reviewer makes on it (propose, approve, reject, propose deletion).

Moves go through the engine exactly as the API's PUT on the revision (or on its
``approval`` subresource) and DELETE do: the same lifecycle table, the same messages.
Each carries the resourceVersion the user saw, so a move on a revision that changed in
the meantime is a 409, which the page explains (what it is now, against what they saw).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml
from quart import Blueprint, render_template, request, url_for

from porch_embedded.dashboard._flash import done
from porch_embedded.dashboard._services import authorize, current_user, may, services
from porch_embedded.dashboard._services import index as revision_index
from porch_embedded.errors import BadRequest, Conflict, NotFound
from porch_embedded.kinds import PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, Body

__all__ = ["ACTIONS", "Action", "actions_for", "blueprint", "move", "render_summary"]

blueprint = Blueprint("revisions", __name__)


@dataclass(frozen=True)
class Action:
    """One move a reviewer can make from a lifecycle: how the API would be asked for it."""

    key: str
    label: str
    verb: str
    """The RBAC verb: update, or delete for approving a deletion."""
    subresource: str
    """"approval" when the API takes it on /approval."""
    target: str
    """The lifecycle it moves to ("" for a deletion)."""
    confirm: str
    danger: bool = False


ACTIONS: dict[str, dict[str, Action]] = {
    "Draft": {"propose": Action("propose", "Propose", "update", "", "Proposed", "")},
    "Proposed": {
        "approve": Action("approve", "Approve", "update", "approval", "Published",
                          "Approve and publish {name}?"),
        "reject": Action("reject", "Reject", "update", "", "Draft", "Reject {name} and send it back to Draft?"),
    },
    "Published": {
        "propose-deletion": Action("propose-deletion", "Propose deletion", "update", "", "DeletionProposed",
                                   "Propose deleting {name}? An approver must then approve the deletion.",
                                   danger=True),
    },
    "DeletionProposed": {
        "approve": Action("approve", "Approve deletion", "delete", "", "",
                          "Delete {name} for good? Its tag is removed from git.", danger=True),
        "reject": Action("reject", "Reject deletion", "update", "approval", "Published",
                         "Keep {name} published and reject its deletion?"),
    },
}


async def actions_for(body: Body) -> list[Action]:
    """The moves the current user may make on this revision now (hidden, not only disabled, otherwise)."""
    metadata, lifecycle = body["metadata"], (body.get("spec") or {}).get("lifecycle", "Draft")
    allowed = []
    for action in ACTIONS.get(lifecycle, {}).values():
        if await may(action.verb, PACKAGE_REVISION, metadata["namespace"], metadata["name"], action.subresource):
            allowed.append(action)
    return allowed


def _kptfile(resources: dict[str, str]) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(resources.get("Kptfile", "")) or {}
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def render_summary(resources_body: Body | None) -> dict[str, Any]:
    """The stored render result: per function, its exit code and results with severity and file."""
    recorded = (resources_body or {}).get("status") or {}
    status = recorded.get("renderStatus") or {}
    if not status:
        return {"state": "none", "error": "", "functions": [], "errors": 0, "warnings": 0, "refused": False}
    functions = []
    errors = warnings = 0
    for item in ((status.get("result") or {}).get("items") or ()):
        results = []
        for result in item.get("results") or ():
            severity = result.get("severity", "info")
            errors += severity == "error"
            warnings += severity == "warning"
            results.append({"severity": severity, "message": result.get("message", ""),
                            "file": ((result.get("file") or {}).get("path", "")),
                            "resource": result.get("resourceRef") or {}})
        functions.append({"image": item.get("image") or item.get("exec", ""), "exit_code": item.get("exitCode", 0),
                          "stderr": item.get("stderr", ""), "results": results})
    error = status.get("error") or ""
    state = "failed" if error else ("warnings" if errors or warnings else "passed")
    # A refused update's render is recorded with the resourceVersion its retry may carry: the
    # files shown are still the last accepted ones, and the page says so.
    return {"state": state, "error": error, "functions": functions, "errors": errors, "warnings": warnings,
            "refused": "retryResourceVersion" in recorded}


async def _resources(namespace: str, name: str) -> Body | None:
    try:
        return await services().store.get(PACKAGE_REVISION_RESOURCES.resource, namespace, name)
    except NotFound:
        return None


@blueprint.get("/revisions/<namespace>/<name>")
async def show(namespace: str, name: str) -> Any:
    await authorize("get", PACKAGE_REVISION, namespace, name)
    store = services().store
    body = await store.get(PACKAGE_REVISION.resource, namespace, name)
    resources_body = await _resources(namespace, name) if await may("get", PACKAGE_REVISION_RESOURCES, namespace,
                                                                     name) else None
    files: dict[str, str] = dict(((resources_body or {}).get("spec") or {}).get("resources") or {})
    kptfile = _kptfile(files)
    spec, status = body.get("spec") or {}, body.get("status") or {}
    gates = [gate.get("conditionType", "") for gate in spec.get("readinessGates") or ()]
    conditions = status.get("conditions") or []
    readiness = [{"type": gate, "condition": next((c for c in conditions if c.get("type") == gate), None)}
                 for gate in gates]
    return await render_template(
        "revision.html", body=body, spec=spec, status=status, files=files, kptfile=kptfile,
        pipeline=kptfile.get("pipeline") or {}, tasks=spec.get("tasks") or [], readiness=readiness,
        conditions=conditions, render=render_summary(resources_body), actions=await actions_for(body),
        self_lock=((status.get("selfLock") or {}).get("git") or {}), upstream_lock=status.get("upstreamLock") or {},
        siblings=sorted(revision_index().of_package(namespace, spec.get("repository", ""),
                                                    spec.get("packageName", "")),
                        key=lambda row: (row.revision, row.workspace)),
        resource_version=await store.resource_version(), live="packagerevisions,packagerevisionresources",
        dump=lambda value: yaml.safe_dump(value, sort_keys=False))


async def move(namespace: str, name: str, key: str, seen_rv: str, seen_lifecycle: str) -> Body:
    """Make the move ``key`` on the revision as the user saw it (resourceVersion and lifecycle).

    Raises Forbidden if the user may not, BadRequest for a move the lifecycle they saw has
    not, Conflict (explained: what it is now) if the revision changed since.
    """
    action = ACTIONS.get(seen_lifecycle, {}).get(key)
    if action is None:
        raise BadRequest(f"there is no {key!r} move from {seen_lifecycle or 'an unknown lifecycle'}: reload the page")
    await authorize(action.verb, PACKAGE_REVISION, namespace, name, action.subresource)
    engine, user = services().engine, current_user()
    current = await services().store.get(PACKAGE_REVISION.resource, namespace, name)
    try:
        if action.verb == "delete":
            result = await engine.delete(PACKAGE_REVISION, namespace, name, user=user, expect_rv=seen_rv)
        else:
            body = copy.deepcopy(current)
            body["metadata"]["resourceVersion"] = seen_rv
            body["spec"]["lifecycle"] = action.target
            result = await engine.update(PACKAGE_REVISION, body, subresource=action.subresource, user=user,
                                         current=current)
    except Conflict as error:
        raise await _explained(namespace, name, seen_lifecycle, error) from error
    await revision_index().wait_handled(result)
    return result


async def _explained(namespace: str, name: str, seen_lifecycle: str, error: Conflict) -> Conflict:
    """A 409 that says what changed: the revision's lifecycle now against the one the user saw."""
    try:
        now = await services().store.get(PACKAGE_REVISION.resource, namespace, name)
    except NotFound:
        return Conflict(f"{name} was deleted since you loaded the page. Reload to see the current state.")
    lifecycle = (now.get("spec") or {}).get("lifecycle", "")
    what = (f"it is now {lifecycle} (you saw {seen_lifecycle})" if lifecycle != seen_lifecycle
            else f"it is still {lifecycle}, but was modified (resourceVersion "
                 f"{now['metadata'].get('resourceVersion')})")
    return Conflict(f"{name} changed since you loaded the page: {what}. Reload to see the current state and "
                    f"decide again. ({error.message})")


@blueprint.post("/revisions/<namespace>/<name>/<key>")
async def act(namespace: str, name: str, key: str) -> Any:
    form = await request.form
    result = await move(namespace, name, key, form.get("resource_version", ""), form.get("lifecycle", ""))
    target = form.get("next", "")
    if not target.startswith("/ui/"):
        target = url_for("revisions.show", namespace=namespace, name=name)
    lifecycle = (result.get("spec") or {}).get("lifecycle", "")
    verb = {"propose": "proposed", "approve": "approved", "reject": "rejected",
            "propose-deletion": "proposed for deletion"}.get(key, key)
    if key == "approve" and form.get("lifecycle") == "DeletionProposed":
        if "/revisions/" in target:
            repository = (result.get("spec") or {}).get("repository", "")
            target = url_for("packages.browse", namespace=namespace, name=repository)
        return done(f"{name}: deletion approved; the revision is gone", target)
    return done(f"{name} {verb}; it is now {lifecycle}", target)
