"""A small synchronous HTTP client of the server's Kubernetes-style API.

Paths are built from the kinds table (group, version, plural, namespaced), so the
client needs no discovery round trip. Every non-2xx answer becomes the
``porch_embedded.errors`` class named after the Status reason, carrying the
server's message, so callers handle a 404 or a 409 as they would inside the server.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from porch_embedded import errors
from porch_embedded.client._kubeconfig import ClientConfig
from porch_embedded.kinds import Kind

__all__ = ["ConnectionFailed", "PorchClient", "TABLE_ACCEPT", "status_error"]

Body = dict[str, Any]

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

_BY_REASON: dict[str, type[errors.StatusError]] = {
    cls.reason: cls for cls in (
        errors.BadRequest, errors.Unauthorized, errors.Forbidden, errors.NotFound, errors.MethodNotAllowed,
        errors.NotAcceptable, errors.Conflict, errors.AlreadyExists, errors.Gone, errors.Expired,
        errors.RequestEntityTooLarge, errors.UnsupportedMediaType, errors.Invalid, errors.TooManyRequests,
        errors.Internal, errors.ServiceUnavailable, errors.Timeout)
}
_BY_CODE: dict[int, type[errors.StatusError]] = {}
for _cls in reversed(list(_BY_REASON.values())):
    _BY_CODE.setdefault(_cls.code, _cls)
_BY_CODE[409] = errors.Conflict


class ConnectionFailed(errors.ServiceUnavailable):
    """The server could not be reached at all (refused, DNS, TLS, timeout)."""


def status_error(response: httpx.Response) -> errors.StatusError:
    """The error class of a failed response's Status, with the server's message and details."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, Mapping) or body.get("kind") != "Status":
        text = response.text.strip() or response.reason_phrase
        return _BY_CODE.get(response.status_code, errors.StatusError)(
            f"the server responded {response.status_code}: {text}")
    cls = _BY_REASON.get(str(body.get("reason", ""))) or _BY_CODE.get(response.status_code, errors.StatusError)
    details = body.get("details") if isinstance(body.get("details"), Mapping) else {}
    causes = [errors.Cause(str(c.get("message", "")), str(c.get("field", "")), str(c.get("reason", "")))
              for c in (details or {}).get("causes") or [] if isinstance(c, Mapping)]
    return cls(str(body.get("message", "")), causes=causes, details=dict(details or {}))


class PorchClient:
    """Get, list, create, update, patch, delete and watch objects of the served kinds."""

    def __init__(self, config: ClientConfig, *, timeout_s: float = 120.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = {"User-Agent": "porchctl (porch-embedded)"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        verify: ssl.SSLContext | bool = False
        if not config.insecure:
            context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
            if config.cert_file and config.key_file:
                context.load_cert_chain(str(config.cert_file), str(config.key_file))
            verify = context
        self._http = httpx.Client(base_url=config.server, headers=headers, verify=verify, timeout=timeout_s,
                                  transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> PorchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths ------------------------------------------------------------------------

    def path(self, kind: Kind, namespace: str | None = None, name: str = "", subresource: str = "") -> str:
        """The URL path of a kind's collection or of one object (``namespace=None``: all namespaces)."""
        root = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        if kind.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        url = f"{root}/{kind.plural}"
        if name:
            url += f"/{name}"
        if subresource:
            url += f"/{subresource}"
        return url

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as error:
            raise ConnectionFailed(f"the server at {self.config.server} did not answer in time") from error
        except httpx.HTTPError as error:
            raise ConnectionFailed(f"cannot reach the server at {self.config.server}: {error}") from error
        if response.status_code >= 400:
            raise status_error(response)
        return response

    def _ns(self, namespace: str | None) -> str:
        return namespace if namespace is not None else self.config.namespace

    # -- verbs ------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, *, namespace: str | None = None, table: bool = False) -> Body:
        """One object (or its server-side Table when ``table``); NotFound when absent."""
        headers = {"Accept": TABLE_ACCEPT} if table else {}
        return dict(self._request("GET", self.path(kind, self._ns(namespace), name), headers=headers).json())

    def list(self, kind: Kind, *, namespace: str | None = None, all_namespaces: bool = False,
             label_selector: str = "", field_selector: str = "", table: bool = False) -> Body:
        """The List (or Table) of a kind in a namespace, or in all of them."""
        params = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        headers = {"Accept": TABLE_ACCEPT} if table else {}
        url = self.path(kind, None if all_namespaces else self._ns(namespace))
        return dict(self._request("GET", url, params=params, headers=headers).json())

    def create(self, kind: Kind, body: Mapping[str, Any], *, namespace: str | None = None) -> Body:
        """POST a new object; returns what the server stored."""
        return dict(self._request("POST", self.path(kind, self._ns(namespace)), json=body).json())

    def update(self, kind: Kind, body: Mapping[str, Any], *, subresource: str = "") -> Body:
        """PUT an object (its metadata names it); Conflict on a stale resourceVersion."""
        metadata = body.get("metadata") or {}
        url = self.path(kind, self._ns(metadata.get("namespace")), str(metadata.get("name", "")), subresource)
        return dict(self._request("PUT", url, json=body).json())

    def patch(self, kind: Kind, name: str, patch: Mapping[str, Any] | list[Any], *, namespace: str | None = None,
              patch_type: str = "merge") -> Body:
        """PATCH with a merge (default), strategic-merge or JSON patch."""
        content_type = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
                        "strategic": "application/strategic-merge-patch+json"}[patch_type]
        url = self.path(kind, self._ns(namespace), name)
        return dict(self._request("PATCH", url, content=json.dumps(patch),
                                  headers={"Content-Type": content_type}).json())

    def delete(self, kind: Kind, name: str, *, namespace: str | None = None) -> Body:
        """DELETE one object; returns the server's answer (a Status or the object)."""
        return dict(self._request("DELETE", self.path(kind, self._ns(namespace), name)).json())

    def watch(self, kind: Kind, *, namespace: str | None = None, resource_version: str = "",
              field_selector: str = "", timeout_s: int = 60) -> Iterator[Body]:
        """Watch events (``{type, object}``) until the server ends the stream."""
        params = {"watch": "true", "timeoutSeconds": str(timeout_s)}
        if resource_version:
            params["resourceVersion"] = resource_version
        if field_selector:
            params["fieldSelector"] = field_selector
        with self._http.stream("GET", self.path(kind, self._ns(namespace)), params=params,
                               timeout=timeout_s + 10) as response:
            if response.status_code >= 400:
                response.read()
                raise status_error(response)
            for line in response.iter_lines():
                if line.strip():
                    yield dict(json.loads(line))
