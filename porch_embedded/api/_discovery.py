"""Discovery (legacy and aggregated v2) and OpenAPI v2/v3 documents, built once from the kinds.

Every document is computed at start-up from the Kind data and served with an ETag,
so discovery answers in microseconds (an aggregator marks a slow backend unavailable)
and clients that cache by ETag get 304s.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from porch_embedded.kinds import Kind

__all__ = ["DISCOVERY_V2_CONTENT_TYPE", "Documents", "build_documents"]

DISCOVERY_V2_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "approval": ["get", "patch", "update"]}


@dataclass
class Documents:
    """Pre-rendered documents keyed by URL path, with their ETags."""

    json_docs: dict[str, bytes] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, Callable[[], bytes]] = field(default_factory=dict)
    """Documents encoded on first request (``materialize``), not at start-up: the protobuf form
    of OpenAPI v2 takes tens of milliseconds and only kubectl's ``explain`` in its v2 mode asks."""

    def materialize(self, path: str) -> None:
        """Encode a deferred document now (blocking, pure work: call it from a worker thread)."""
        build = self.deferred.get(path)
        if build is not None and path not in self.json_docs:
            self.put_encoded(path, build())

    def put(self, path: str, body: Any) -> None:
        self.put_encoded(path, json.dumps(body, separators=(",", ":"), sort_keys=False).encode())

    def put_encoded(self, path: str, raw: bytes) -> None:
        """A document already encoded (the protobuf form of OpenAPI v2, keyed ``/openapi/v2#protobuf``)."""
        self.json_docs[path] = raw
        self.etags[path] = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def _group_versions(kinds: Sequence[Kind]) -> dict[tuple[str, str], list[Kind]]:
    """Kinds by (group, version): groups in the order given, each group's versions in priority order."""
    grouped: dict[tuple[str, str], list[Kind]] = {}
    for kind in kinds:
        grouped.setdefault((kind.group, kind.version), []).append(kind)
    first_seen = {group: index for index, (group, _) in reversed(list(enumerate(grouped)))}
    return dict(sorted(grouped.items(), key=lambda item: (first_seen[item[0][0]], _version_priority(item[0][1]))))


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting the preferred version first, as kube-apiserver orders a group's versions:
    GA before beta before alpha, higher numbers first, others last by name (v1alpha2 before v1alpha1)."""
    match = _VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    stability = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    return (stability, -int(match.group(1)), -int(match.group(3) or 0), version)


def _legacy_resources(kinds: list[Kind]) -> list[dict[str, Any]]:
    resources = []
    for kind in kinds:
        entry: dict[str, Any] = {
            "name": kind.plural, "singularName": kind.singular, "namespaced": kind.namespaced,
            "kind": kind.kind, "verbs": list(kind.verbs),
        }
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        if kind.categories:
            entry["categories"] = list(kind.categories)
        resources.append(entry)
        for sub in kind.subresources:
            resources.append({"name": f"{kind.plural}/{sub}", "singularName": "", "namespaced": kind.namespaced,
                              "kind": kind.kind, "verbs": _SUBRESOURCE_VERBS.get(sub, ["get", "update"])})
    return resources


def _v2_resources(kinds: list[Kind]) -> list[dict[str, Any]]:
    resources = []
    for kind in kinds:
        response_kind = {"group": kind.group, "version": kind.version, "kind": kind.kind}
        entry: dict[str, Any] = {
            "resource": kind.plural, "responseKind": response_kind,
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "singularResource": kind.singular, "verbs": list(kind.verbs),
        }
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        if kind.categories:
            entry["categories"] = list(kind.categories)
        if kind.subresources:
            entry["subresources"] = [
                {"subresource": sub, "responseKind": response_kind,
                 "verbs": _SUBRESOURCE_VERBS.get(sub, ["get", "update"])}
                for sub in kind.subresources
            ]
        resources.append(entry)
    return resources


def build_documents(kinds: Sequence[Kind], *, version_info: dict[str, str]) -> Documents:
    """Render discovery, aggregated discovery and OpenAPI v2/v3 for ``kinds``.

    The OpenAPI modules are imported here, not at the top: the server builds these
    documents on the first request for one, so a start does not import them at all.
    """
    from porch_embedded.api._openapi import openapi_v2, openapi_v3
    from porch_embedded.api._openapi_protobuf import encode_openapi_v2

    docs = Documents()
    grouped = _group_versions(kinds)
    by_group: dict[str, list[tuple[str, list[Kind]]]] = {}
    for (group, version), members in grouped.items():
        group_version = f"{group}/{version}" if group else version
        docs.put(
            f"/apis/{group}/{version}" if group else f"/api/{version}",
            {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
             "resources": _legacy_resources(members)},
        )
        by_group.setdefault(group, []).append((version, members))
    groups = []
    v2_items = []
    for group, versions in by_group.items():
        v2_item = {"metadata": {"name": group}, "versions": [
            {"version": version, "freshness": "Current", "resources": _v2_resources(members)}
            for version, members in versions]}
        if group:
            entries = [{"groupVersion": f"{group}/{version}", "version": version} for version, _ in versions]
            group_doc = {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
                         "preferredVersion": entries[0]}
            docs.put(f"/apis/{group}", group_doc)
            groups.append({k: v for k, v in group_doc.items() if k not in ("kind", "apiVersion")})
            v2_items.append(v2_item)
        else:
            docs.put("/api", {"kind": "APIVersions", "versions": [version for version, _ in versions],
                              "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
            docs.put("/api#v2", {"apiVersion": "apidiscovery.k8s.io/v2", "kind": "APIGroupDiscoveryList",
                                 "metadata": {}, "items": [v2_item]})
    docs.put("/apis", {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    docs.put("/apis#v2", {"apiVersion": "apidiscovery.k8s.io/v2", "kind": "APIGroupDiscoveryList",
                          "metadata": {}, "items": v2_items})
    docs.put("/version", version_info)

    v3_root: dict[str, Any] = {"paths": {}}
    for (group, version), members in grouped.items():
        key = f"apis/{group}/{version}" if group else f"api/{version}"
        docs.put(f"/openapi/v3/{key}", openapi_v3(members, f"porch-embedded {key}"))
        v3_root["paths"][key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={docs.etags[f'/openapi/v3/{key}'][1:-1]}"}
    docs.put("/openapi/v3", v3_root)

    v2 = openapi_v2(kinds, "porch-embedded")
    docs.put("/openapi/v2", v2)
    docs.deferred["/openapi/v2#protobuf"] = lambda: encode_openapi_v2(v2)
    return docs
