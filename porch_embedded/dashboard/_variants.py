"""PackageVariants and PackageVariantSets: upstream, downstream, conditions and downstream drafts."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, render_template

from porch_embedded.dashboard._services import services, visible_namespaces
from porch_embedded.dashboard._services import index as revision_index
from porch_embedded.kinds import PACKAGE_VARIANT, PACKAGE_VARIANT_SET, Body
from porch_embedded.store import ListQuery

__all__ = ["blueprint"]

blueprint = Blueprint("variants", __name__)

SET_LABEL = "config.porch.kpt.dev/packagevariantset"
"""The label the PackageVariantSet controller puts on the PackageVariants it owns (the set's uid)."""


def _upstream(spec: Body) -> str:
    upstream = spec.get("upstream") or {}
    which = upstream.get("workspaceName") or (f"v{upstream['revision']}" if upstream.get("revision") else "latest")
    return f"{upstream.get('repo', '?')}/{upstream.get('package', '?')} @ {which}"


def _variant(body: Body) -> dict[str, Any]:
    metadata, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    downstream = spec.get("downstream") or {}
    targets = []
    for target in status.get("downstreamTargets") or ():
        row = revision_index().get(metadata.get("namespace", ""), target.get("name", ""))
        targets.append({"name": target.get("name", ""), "row": row,
                        "render_error": ((target.get("renderStatus") or {}).get("error") or "")})
    return {"namespace": metadata.get("namespace", ""), "name": metadata["name"], "upstream": _upstream(spec),
            "downstream": f"{downstream.get('repo', '?')}/{downstream.get('package', '?')}",
            "set": (metadata.get("labels") or {}).get(SET_LABEL, ""), "set_name": "",
            "conditions": status.get("conditions") or [], "targets": targets}


def _variant_set(body: Body, variants: list[dict[str, Any]]) -> dict[str, Any]:
    metadata, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    upstream = spec.get("upstream") or {}
    which = upstream.get("workspaceName") or (f"v{upstream['revision']}" if upstream.get("revision") else "latest")
    owned = [v for v in variants if v["namespace"] == metadata.get("namespace", "") and v["set"] == metadata.get("uid")]
    for variant in owned:
        variant["set_name"] = metadata["name"]
    return {"namespace": metadata.get("namespace", ""), "name": metadata["name"],
            "upstream": f"{upstream.get('repo', '?')}/{upstream.get('package', '?')} @ {which}",
            "targets": len(spec.get("targets") or ()), "conditions": status.get("conditions") or [],
            "variants": owned}


async def _listed(kind: Any) -> list[Body]:
    namespaces = await visible_namespaces(kind)
    page = await services().store.list(ListQuery(kind.resource))
    return [item for item in page.items if namespaces is None or item["metadata"].get("namespace") in namespaces]


@blueprint.get("/variants")
async def show() -> Any:
    variants = [_variant(body) for body in await _listed(PACKAGE_VARIANT)]
    variants.sort(key=lambda variant: (variant["namespace"], variant["name"]))
    sets = [_variant_set(body, variants) for body in await _listed(PACKAGE_VARIANT_SET)]
    return await render_template("variants.html", variants=variants, sets=sets,
                                 resource_version=await services().store.resource_version(),
                                 live="packagevariants,packagevariantsets,packagerevisions")
