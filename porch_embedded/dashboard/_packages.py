"""A repository's package revisions: filtered, sorted and paged on the server."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, render_template, request

from porch_embedded.dashboard._index import SORTS
from porch_embedded.dashboard._services import authorize, may, services
from porch_embedded.dashboard._services import index as revision_index
from porch_embedded.kinds import LIFECYCLES, PACKAGE_REVISION, REPOSITORY

__all__ = ["blueprint"]

blueprint = Blueprint("packages", __name__)

PER_PAGE = 50


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


@blueprint.get("/repositories/<namespace>/<name>/packages")
async def browse(namespace: str, name: str) -> Any:
    await authorize("list", PACKAGE_REVISION, namespace)
    repository = await services().store.get(REPOSITORY.resource, namespace, name)
    lifecycles = [value for value in request.args.getlist("lifecycle") if value in LIFECYCLES]
    sort = request.args.get("sort", "name")
    if sort.lstrip("-") not in SORTS:
        sort = "name"
    text = request.args.get("q", "")
    found = revision_index().page_of_repository(
        namespace, name, lifecycles=lifecycles, text=text, sort=sort, page=_int(request.args.get("page"), 1),
        per_page=min(max(_int(request.args.get("per_page"), PER_PAGE), 1), 500))
    return await render_template(
        "packages.html", repository=repository, namespace=namespace, name=name, found=found,
        lifecycles=lifecycles, all_lifecycles=LIFECYCLES, sort=sort, text=text, sorts=sorted(SORTS),
        resource_version=await services().store.resource_version(), live="packagerevisions",
        can_create=await may("create", PACKAGE_REVISION, namespace))
