"""What a request is about, parsed from its path and method as the apiserver does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RequestInfo", "parse_request_info"]

_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class RequestInfo:
    """A resource request (group/version/resource/...) or a non-resource one (``path``)."""

    path: str
    verb: str
    is_resource_request: bool = False
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def qualified_resource(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


def parse_request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Split ``/apis/{group}/{version}/namespaces/{ns}/{resource}/{name}/{subresource}``.

    The verb follows Kubernetes: GET on a collection is ``list`` (``watch`` with
    ``?watch=true``), DELETE on a collection ``deletecollection``. Paths that name no
    resource (discovery, OpenAPI, health) are non-resource requests with the lowercase
    HTTP method as verb.
    """
    method = method.upper()
    parts = [p for p in path.split("/") if p]
    plain = RequestInfo(path=path, verb=method.lower())
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return plain
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return plain
        group, version, rest = parts[1], parts[2], parts[3:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 2:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            namespace = ""
            rest = ["namespaces", *rest[1:]]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces" and name and not namespace:
        namespace = ""
    watching = query.get("watch", "").lower() in ("1", "true")
    if method in ("GET", "HEAD"):
        verb = "watch" if watching else ("get" if name else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return RequestInfo(
        path=path, verb=verb, is_resource_request=True, group=group, version=version,
        resource=resource, subresource=subresource, namespace=namespace, name=name,
    )
