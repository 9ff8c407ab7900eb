"""Changing packages from the browser: edit a draft's files, clone a published revision, upgrade a clone.

Every change is previewed before it is made, and made through the engine exactly as the
API makes it:

- An edit is checked (YAML that parses, KRM documents, a Kptfile kpt accepts, in kpt's
  words) and can be rendered (the package's pipeline run on the edited files, nothing
  written) before it is saved as a PackageRevisionResources update carrying the
  resourceVersion the editor was opened at: a draft saved by someone else meanwhile is a
  409, explained, with the edited text kept and a reload offered.
- A clone or an upgrade is computed as its create would compute it (the upgrade's
  three-way merge included) and shown as a diff against what it copies or upgrades;
  the create then carries the preview's fingerprint and is refused (409) if what it
  would make is no longer what was shown.

A form's plain POST answers with the whole page (a refusal with its HTTP code), so the
pages work without script; htmx only boosts the confirmation of a create.
"""

from __future__ import annotations

import copy
from typing import Any

from quart import Blueprint, render_template, request, url_for

from porch_embedded.dashboard._diffs import LEVELS, VIEWS, diff_context, may_read
from porch_embedded.dashboard._flash import done
from porch_embedded.dashboard._services import authorize, current_user, services
from porch_embedded.dashboard._services import index as revision_index
from porch_embedded.engine import CreationPreview, RenderPreview, RevisionDiff
from porch_embedded.errors import BadRequest, Conflict, Invalid, StatusError
from porch_embedded.kinds import PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, REPOSITORY, Body
from porch_embedded.kpt import STRATEGIES
from porch_embedded.store import ListQuery

__all__ = ["blueprint", "edited_files"]

blueprint = Blueprint("edits", __name__)


def _text(value: str) -> str:
    """A textarea's value as the file's text: browsers send CRLF line ends; files keep LF."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def edited_files(form: Any) -> dict[str, str]:
    """The package's files as the editor form gives them: each file's path and text, minus the
    removed ones, plus one new file when it has a path. A path given twice is a 400."""
    files: dict[str, str] = {}
    removed = set(form.getlist("remove"))
    pairs = list(zip(form.getlist("path"), form.getlist("content"), strict=False))
    new_path = (form.get("new_path") or "").strip().strip("/")
    if new_path:
        pairs.append((new_path, form.get("new_content") or ""))
    for path, text in pairs:
        if path in removed:
            continue
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise BadRequest(f"{path!r} is not a file path inside the package: give a relative path such as "
                             "app/config.yaml")
        if path in files:
            raise BadRequest(f"{path} is given twice: rename the new file")
        files[path] = _text(text)
    return files


def _choice(value: str | None, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else allowed[0]


# ---- edit ----------------------------------------------------------------------------------

async def _draft(namespace: str, name: str) -> tuple[Body, Body, str]:
    """The revision, its resources, and why its files cannot be edited ("" for a Draft; the engine refuses
    a save of any other lifecycle too)."""
    revision = await services().store.get(PACKAGE_REVISION.resource, namespace, name)
    resources = await services().store.get(PACKAGE_REVISION_RESOURCES.resource, namespace, name)
    lifecycle = (revision.get("spec") or {}).get("lifecycle", "")
    refusal = "" if lifecycle == "Draft" else (
        f"{name} is {lifecycle}: only a Draft's files can be edited; reject it back to Draft, or copy it into a "
        "new draft")
    return revision, resources, refusal


async def _edit_page(revision: Body, files: dict[str, str], resource_version: str, *, code: int = 200,
                     **extra: Any) -> Any:
    page = await render_template("edit.html", body=revision, spec=revision.get("spec") or {}, files=files,
                                 resource_version=resource_version, view=extra.pop("view", "unified"),
                                 level=extra.pop("level", "resources"), **extra)
    return page, code


@blueprint.get("/revisions/<namespace>/<name>/edit")
async def edit_form(namespace: str, name: str) -> Any:
    await authorize("update", PACKAGE_REVISION_RESOURCES, namespace, name)
    await may_read(namespace, name)
    revision, resources, refusal = await _draft(namespace, name)
    if refusal:
        raise Invalid(refusal)
    files = dict((resources.get("spec") or {}).get("resources") or {})
    return await _edit_page(revision, files, resources["metadata"]["resourceVersion"])


@blueprint.post("/revisions/<namespace>/<name>/edit")
async def edit(namespace: str, name: str) -> Any:
    """``action=check``/``preview`` show problems or the render without writing; ``action=save`` saves."""
    await authorize("update", PACKAGE_REVISION_RESOURCES, namespace, name)
    form = await request.form
    revision, current, refusal = await _draft(namespace, name)
    seen = form.get("resource_version", "")
    view, level = _choice(form.get("view"), VIEWS), _choice(form.get("level"), LEVELS)
    files = edited_files(form)
    if refusal:  # proposed (or published) after the editor was opened: keep the user's text
        return await _edit_page(revision, files, seen, code=409, error=f"Not saved: {refusal}. Your text is kept "
                                "below.")
    if form.get("action") == "preview":
        preview = await services().engine.previews.preview_render(files)
        shown = diff_context(_as_revision_diff(preview), view, level) if preview.ran else {"view": view, "level": level}
        return await _edit_page(revision, files, seen, preview=preview, problems=preview.problems, **shown)
    problems = await services().engine.previews.check(files)
    if form.get("action") != "save":
        return await _edit_page(revision, files, seen, problems=problems, checked=True, view=view, level=level,
                                code=422 if problems else 200)
    if problems:
        return await _edit_page(revision, files, seen, problems=problems, code=422,
                                error="Not saved: fix the problems below first.")
    body = copy.deepcopy(current)
    body["metadata"]["resourceVersion"] = seen
    body.setdefault("spec", {})["resources"] = files
    try:
        await services().engine.update(PACKAGE_REVISION_RESOURCES, body, user=current_user(), current=current)
    except Conflict as error:
        now = await services().store.get(PACKAGE_REVISION_RESOURCES.resource, namespace, name)
        return await _edit_page(revision, files, seen, code=409, conflict={
            "message": error.message, "seen": seen, "now": now["metadata"]["resourceVersion"]})
    except StatusError as error:
        if error.code in (401, 403, 404):
            raise
        return await _edit_page(revision, files, seen, code=error.code, error=f"Not saved: {error.message}")
    saved = await services().store.get(PACKAGE_REVISION.resource, namespace, name)
    await revision_index().wait_handled(saved)
    return done(f"{name}: files saved and rendered", url_for("revisions.show", namespace=namespace, name=name))


def _as_revision_diff(preview: RenderPreview) -> RevisionDiff:
    """What a render changes in the edited files, as the diff macros read a comparison."""
    return RevisionDiff(None, None, "your edit", "after the render", preview.diff)


# ---- clone and upgrade -----------------------------------------------------------------------

def _new_revision(namespace: str, repository: str, package: str, workspace: str, task: Body) -> Body:
    return {"apiVersion": PACKAGE_REVISION.api_version, "kind": PACKAGE_REVISION.kind,
            "metadata": {"namespace": namespace},
            "spec": {"repository": repository, "packageName": package, "workspaceName": workspace, "tasks": [task]}}


async def _published(namespace: str, name: str) -> Body:
    await may_read(namespace, name)
    body = await services().store.get(PACKAGE_REVISION.resource, namespace, name)
    spec = body.get("spec") or {}
    if spec.get("lifecycle") not in ("Published", "DeletionProposed") or int(spec.get("revision") or 0) < 1:
        raise Invalid(f"{name} is not a published revision: only published revisions can be cloned or upgraded")
    return body


async def _preview_or_create(body: Body, form: Any, template: str, **page: Any) -> Any:
    """Preview ``body``'s creation (action=preview) or create it (action=create, the preview's fingerprint)."""
    namespace = body["metadata"]["namespace"]
    await authorize("create", PACKAGE_REVISION, namespace)
    view, level = _choice(form.get("view"), VIEWS), _choice(form.get("level"), LEVELS)
    form_values = {key: form.get(key, "") for key in form}
    try:
        preview: CreationPreview = await services().engine.previews.preview_creation(body)
    except StatusError as error:
        if error.code in (401, 403):
            raise
        return await render_template(template, form=form_values, error=error.message, view=view, level=level,
                                     **page), error.code
    if form.get("action") == "create":
        if form.get("digest") != preview.digest:
            raise Conflict("what would be created is no longer what the preview showed (a revision it reads changed "
                           "meanwhile): preview again, then create")
        created = await services().engine.create(PACKAGE_REVISION, body, user=current_user())
        await revision_index().wait_handled(created)
        name = created["metadata"]["name"]
        return done(f"{name} created as a Draft", url_for("revisions.show", namespace=namespace, name=name))
    return await render_template(template, form=form_values, preview=preview, **diff_context(preview.diff, view, level),
                                 **page)


async def _repositories(namespace: str) -> list[str]:
    page = await services().store.list(ListQuery(REPOSITORY.resource, namespace))
    return sorted(item["metadata"]["name"] for item in page.items)


@blueprint.route("/revisions/<namespace>/<name>/clone", methods=["GET", "POST"])
async def clone(namespace: str, name: str) -> Any:
    """Clone published revision ``name`` into a new package of a registered repository."""
    source = await _published(namespace, name)
    spec = source.get("spec") or {}
    page = {"source": source, "repositories": await _repositories(namespace)}
    if request.method == "GET":
        await authorize("create", PACKAGE_REVISION, namespace)
        form = {"repository": "", "package": spec.get("packageName", "").rsplit("/", 1)[-1], "workspace": "v1"}
        return await render_template("clone.html", form=form, view="unified", level="resources", **page)
    form = await request.form
    task = {"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": name}}}}
    body = _new_revision(namespace, form.get("repository", ""), form.get("package", "").strip(),
                         form.get("workspace", "").strip(), task)
    return await _preview_or_create(body, form, "clone.html", **page)


@blueprint.route("/revisions/<namespace>/<name>/upgrade", methods=["GET", "POST"])
async def upgrade(namespace: str, name: str) -> Any:
    """Upgrade published clone ``name`` to a newer revision of its upstream, shown as the merge's diff first."""
    local = await _published(namespace, name)
    previews = services().engine.previews
    old = await previews.followed(local)
    if old is None:
        raise BadRequest(f"{name} follows no upstream package: only a clone (or a copy of one) can be upgraded")
    await may_read(namespace, old["metadata"]["name"])
    old_number = int((old.get("spec") or {}).get("revision") or 0)
    targets = [r for r in await previews.upstream_revisions(old) if int(r["spec"].get("revision") or 0) > old_number]
    page = {"local": local, "old": old, "targets": targets, "strategies": STRATEGIES}
    if request.method == "GET":
        await authorize("create", PACKAGE_REVISION, namespace)
        newest = targets[0] if targets else None
        form = {"target": newest["metadata"]["name"] if newest else "", "strategy": "resource-merge",
                "workspace": f"upgrade-v{newest['spec']['revision']}" if newest else ""}
        return await render_template("upgrade.html", form=form, view="unified", level="resources", **page)
    form = await request.form
    target = form.get("target", "")
    if target not in {r["metadata"]["name"] for r in targets}:
        raise BadRequest(f"{target!r} is not a newer published revision of {name}'s upstream package: pick one of "
                         "the list")
    await may_read(namespace, target)
    local_spec = local.get("spec") or {}
    task = {"type": "upgrade", "upgrade": {
        "oldUpstreamRef": {"name": old["metadata"]["name"]}, "newUpstreamRef": {"name": target},
        "localPackageRevisionRef": {"name": name}, "strategy": form.get("strategy") or "resource-merge"}}
    body = _new_revision(namespace, local_spec.get("repository", ""), local_spec.get("packageName", ""),
                         form.get("workspace", "").strip(), task)
    return await _preview_or_create(body, form, "upgrade.html", **page)

