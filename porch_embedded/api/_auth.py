"""Standalone authentication (bearer tokens, client certificates) and RBAC authorization.

Authentication follows kube-apiserver: a token file of ``token,user,uid,"group1,group2"``
lines (``--token-auth-file``), client certificates signed by the client CA (user =
CN, groups = O), anonymous only when allowed. Authorization evaluates Kubernetes RBAC
objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding) read from a policy file,
so the same manifests that guard Porch in a cluster guard porch-embedded; members of
``system:masters`` may do everything. Aggregated mode swaps these for delegated
TokenReview/SubjectAccessReview behind the same two protocols.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from porch_embedded.api._requestinfo import RequestInfo
from porch_embedded.errors import BadRequest, Forbidden, Unauthorized
from porch_embedded.meta import UserInfo

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "Authorizer",
    "RbacAuthorizer",
    "StandaloneAuthenticator",
    "forbidden_for",
    "load_token_file",
]

ANONYMOUS = UserInfo("system:anonymous", groups=("system:unauthenticated",))
_ALWAYS_ALLOWED_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_DISCOVERY_PATHS = ("/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/",
                    "/healthz", "/livez", "/readyz", "/metrics")


class Authenticator(Protocol):
    """Who is calling. Async because in aggregated mode the answer is a TokenReview call."""

    async def authenticate(self, headers: Mapping[str, str], peer_certificate: bytes | None) -> UserInfo:
        """The caller, ANONYMOUS, or Unauthorized if credentials were given but are wrong."""
        ...


class Authorizer(Protocol):
    """Whether the caller may make a request. Async because in aggregated mode the answer is
    a SubjectAccessReview call."""

    async def authorize(self, user: UserInfo, request: RequestInfo) -> bool:
        """True if allowed; False becomes the apiserver's 403 (``forbidden_for``)."""
        ...


def load_token_file(path: Path) -> dict[str, UserInfo]:
    """Parse a kube-apiserver token file; a malformed line is an error naming the line."""
    tokens: dict[str, UserInfo] = {}
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2 or not row[0] or not row[1]:
                raise BadRequest(f"{path}:{number}: expected token,user[,uid[,\"group1,group2\"]]")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            tokens[row[0]] = UserInfo(row[1], uid=row[2] if len(row) > 2 else "",
                                      groups=(*groups, "system:authenticated"))
    return tokens


@dataclass
class StandaloneAuthenticator:
    tokens: dict[str, UserInfo]
    client_ca: x509.Certificate | None = None
    allow_anonymous: bool = False

    async def authenticate(self, headers: Mapping[str, str], peer_certificate: bytes | None) -> UserInfo:
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("Unauthorized: only bearer tokens and client certificates are accepted")
            user = self.tokens.get(token.strip())
            if user is None:
                raise Unauthorized("Unauthorized: the bearer token is not known to this server")
            return user
        if peer_certificate is not None and self.client_ca is not None:
            return self._from_certificate(peer_certificate)
        if self.allow_anonymous:
            return ANONYMOUS
        raise Unauthorized(
            "Unauthorized: send a bearer token or a client certificate (anonymous requests are "
            "refused unless the server runs with --anonymous-auth)"
        )

    def _from_certificate(self, der: bytes) -> UserInfo:
        certificate = x509.load_der_x509_certificate(der)
        assert self.client_ca is not None
        try:
            certificate.verify_directly_issued_by(self.client_ca)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise Unauthorized("Unauthorized: the client certificate was not issued by the client CA") from exc
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names:
            raise Unauthorized("Unauthorized: the client certificate has no common name (CN) to use as user")
        groups = tuple(str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        return UserInfo(str(names[0].value), groups=(*groups, "system:authenticated"))


@dataclass(frozen=True)
class _Rule:
    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]
    resource_names: frozenset[str]
    non_resource_urls: tuple[str, ...]

    def allows(self, request: RequestInfo) -> bool:
        if not ("*" in self.verbs or request.verb in self.verbs):
            return False
        if not request.is_resource_request:
            return any(_url_matches(pattern, request.path) for pattern in self.non_resource_urls)
        if not ("*" in self.api_groups or request.group in self.api_groups):
            return False
        resource = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
        if not ("*" in self.resources or resource in self.resources
                or (request.subresource and f"*/{request.subresource}" in self.resources)):
            return False
        return not self.resource_names or request.name in self.resource_names


def _url_matches(pattern: str, path: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return pattern == path


def _rules(role: Mapping[str, Any]) -> list[_Rule]:
    return [
        _Rule(
            verbs=frozenset(rule.get("verbs") or ()),
            api_groups=frozenset(rule.get("apiGroups") or ()),
            resources=frozenset(rule.get("resources") or ()),
            resource_names=frozenset(rule.get("resourceNames") or ()),
            non_resource_urls=tuple(rule.get("nonResourceURLs") or ()),
        )
        for rule in role.get("rules") or ()
    ]


@dataclass(frozen=True)
class _Binding:
    namespace: str  # '' for a ClusterRoleBinding
    users: frozenset[str]
    groups: frozenset[str]
    rules: tuple[_Rule, ...]

    def applies_to(self, user: UserInfo) -> bool:
        return user.name in self.users or any(g in self.groups for g in user.groups)


_DEFAULT_POLICY = [
    {"kind": "ClusterRole", "metadata": {"name": "system:discovery"},
     "rules": [{"verbs": ["get"], "nonResourceURLs": list(_DISCOVERY_PATHS)}]},
    {"kind": "ClusterRoleBinding", "metadata": {"name": "system:discovery"},
     "roleRef": {"kind": "ClusterRole", "name": "system:discovery"},
     "subjects": [{"kind": "Group", "name": "system:authenticated"}]},
]


class RbacAuthorizer:
    """Kubernetes RBAC over roles and bindings from a policy file, plus system:masters."""

    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        objects = [*_DEFAULT_POLICY, *objects]
        cluster_roles = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "ClusterRole"}
        roles = {(o["metadata"].get("namespace", "default"), o["metadata"]["name"]): o
                 for o in objects if o.get("kind") == "Role"}
        bindings = []
        for obj in objects:
            if obj.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            ref = obj.get("roleRef") or {}
            namespace = obj["metadata"].get("namespace", "default") if obj["kind"] == "RoleBinding" else ""
            role = (cluster_roles.get(ref.get("name", "")) if ref.get("kind") == "ClusterRole"
                    else roles.get((namespace, ref.get("name", ""))))
            if role is None:
                raise BadRequest(f"{obj['kind']} {obj['metadata']['name']!r} refers to a missing "
                                 f"{ref.get('kind')} {ref.get('name')!r}")
            subjects = obj.get("subjects") or ()
            users = {s["name"] for s in subjects if s.get("kind") == "User"}
            users |= {f"system:serviceaccount:{s.get('namespace', namespace or 'default')}:{s['name']}"
                      for s in subjects if s.get("kind") == "ServiceAccount"}
            groups = {s["name"] for s in subjects if s.get("kind") == "Group"}
            bindings.append(_Binding(namespace, frozenset(users), frozenset(groups), tuple(_rules(role))))
        self._bindings = tuple(bindings)

    @classmethod
    def from_file(cls, path: Path | None) -> RbacAuthorizer:
        if path is None:
            return cls(())
        try:
            documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as exc:
            raise BadRequest(f"{path}: not valid YAML: {exc}") from exc
        objects: list[Mapping[str, Any]] = []
        for document in documents:
            objects += document.get("items", []) if document.get("kind", "").endswith("List") else [document]
        return cls(objects)

    async def authorize(self, user: UserInfo, request: RequestInfo) -> bool:
        if "system:masters" in user.groups:
            return True
        if not request.is_resource_request and request.path in _ALWAYS_ALLOWED_PATHS:
            return True
        for binding in self._bindings:
            if not binding.applies_to(user):
                continue
            if binding.namespace and (not request.is_resource_request or request.namespace != binding.namespace):
                continue
            if any(rule.allows(request) for rule in binding.rules):
                return True
        return False


def forbidden_for(user: UserInfo, request: RequestInfo) -> Forbidden:
    """The apiserver's wording: who cannot do what, where."""
    if not request.is_resource_request:
        return Forbidden(f'forbidden: User "{user.name}" cannot {request.verb} path "{request.path}"')
    resource = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    subject = f'{request.qualified_resource} "{request.name}"' if request.name else request.qualified_resource
    where = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
    return Forbidden(
        f'{subject} is forbidden: User "{user.name}" cannot {request.verb} resource "{resource}" '
        f'in API group "{request.group}" {where}',
        details={"name": request.name, "group": request.group, "kind": request.resource},
    )

