"""The diff page: a revision against where it came from, its newest upstream, or any revision.

The engine fetches both sides and the kpt layer compares them (``engine.previews``); this
page only picks the comparison (``against``: origin, upstream, or a revision's name), the
level (files, or resources keyed by apiVersion/kind/namespace/name) and the view
(unified, or split side by side), all GET parameters, so a diff is a link one can share.
The user must be allowed to read both revisions and both sides' resources.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, render_template, request, url_for

from porch_embedded.dashboard._services import authorize, may, services
from porch_embedded.engine import RevisionDiff
from porch_embedded.errors import BadRequest
from porch_embedded.kinds import PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, Body

__all__ = ["LEVELS", "VIEWS", "blueprint", "diff_context", "may_read", "review_links"]

blueprint = Blueprint("diffs", __name__)

VIEWS = ("unified", "split")
LEVELS = ("resources", "files")


async def may_read(namespace: str, name: str) -> None:
    """Refuse (403) unless the user may get the revision and its resources."""
    await authorize("get", PACKAGE_REVISION, namespace, name)
    await authorize("get", PACKAGE_REVISION_RESOURCES, namespace, name)


def _choice(value: str | None, allowed: tuple[str, ...]) -> str:
    if value is None or value == "":
        return allowed[0]
    if value not in allowed:
        raise BadRequest(f"{value!r} is not one of {', '.join(allowed)}")
    return value


def diff_context(compared: RevisionDiff, view: str, level: str) -> dict[str, Any]:
    """What the ``_diff.html`` macros read: the comparison, its figures, the chosen view and level."""
    diff = compared.diff
    return {"compared": compared, "diff": diff, "view": view, "level": level,
            "figures": {"files": len(diff.files), "added": diff.added, "removed": diff.removed,
                        "resources": len(diff.resources)}}


def _option(body: Body) -> dict[str, str]:
    spec = body.get("spec") or {}
    number = int(spec.get("revision") or 0)
    version = f" (v{number})" if number > 0 else ""
    return {"name": body["metadata"]["name"],
            "label": f"{spec.get('repository', '')}/{spec.get('packageName', '')} {spec.get('workspaceName', '')}"
                     f"{version} · {spec.get('lifecycle', '')}"}


@blueprint.get("/revisions/<namespace>/<name>/diff")
async def show(namespace: str, name: str) -> Any:
    """The revision against ``against`` (origin unless told), at the chosen level and view."""
    view = _choice(request.args.get("view"), VIEWS)
    level = _choice(request.args.get("level"), LEVELS)
    await may_read(namespace, name)
    previews = services().engine.previews
    choices = await previews.comparisons(namespace, name)
    against = (request.args.get("other") or "").strip() or request.args.get("against") or (
        "origin" if choices.origin is not None else "upstream" if choices.upstream is not None else "")
    compared = None
    if against:
        other = {"origin": choices.origin, "upstream": choices.upstream}.get(against)
        other_name = other["metadata"]["name"] if other is not None else against
        await may_read(namespace, other_name)
        compared = await previews.diff(namespace, name, against)
    body = await services().store.get(PACKAGE_REVISION.resource, namespace, name)
    context = diff_context(compared, view, level) if compared is not None else {"view": view, "level": level}
    return await render_template(
        "diff.html", body=body, spec=body.get("spec") or {}, against=against, origin=choices.origin,
        upstream=choices.upstream, others=[_option(o) for o in choices.others], **context,
        unlisted=against not in ("", "origin", "upstream", *(o["metadata"]["name"] for o in choices.others)))


async def review_links(body: Body) -> list[dict[str, str]]:
    """The review pages a revision's page links to, those the current user may use: its changes, the
    editor (a Draft), clone and upgrade (a published revision; upgrade when it follows an upstream)."""
    metadata, spec = body["metadata"], body.get("spec") or {}
    namespace, name = metadata["namespace"], metadata["name"]
    lifecycle, number = spec.get("lifecycle", ""), int(spec.get("revision") or 0)
    links = []
    if number >= 0 and await may("get", PACKAGE_REVISION_RESOURCES, namespace, name):
        links.append({"key": "diff", "label": "Changes", "url": url_for("diffs.show", namespace=namespace, name=name)})
    if lifecycle == "Draft" and await may("update", PACKAGE_REVISION_RESOURCES, namespace, name):
        links.append({"key": "edit", "label": "Edit files",
                      "url": url_for("edits.edit_form", namespace=namespace, name=name)})
    if lifecycle in ("Published", "DeletionProposed") and number > 0 and \
            await may("create", PACKAGE_REVISION, namespace):
        links.append({"key": "clone", "label": "Clone",
                      "url": url_for("edits.clone", namespace=namespace, name=name)})
        if (body.get("status") or {}).get("upstreamLock"):
            links.append({"key": "upgrade", "label": "Upgrade",
                          "url": url_for("edits.upgrade", namespace=namespace, name=name)})
    return links


@blueprint.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"review_links": review_links}
