"""Delegated authentication and authorization, for serving behind a kube-apiserver.

In aggregated mode the kube-apiserver has already authenticated the user and forwards
the request over TLS with its front-proxy client certificate, naming the user in
``X-Remote-User``, ``X-Remote-Group`` and ``X-Remote-Extra-*`` headers. Those headers
are believed only when the same connection presented a certificate issued by the
requestheader CA whose CN is an allowed name: anyone else could send them. The order
is kube-apiserver's delegating authenticator: front-proxy headers, then client
certificates of the client CA (CN = user, O = groups), then bearer tokens checked with
a TokenReview; the first that succeeds wins, a failure surfaces (401) only when none
did, and no credentials at all is the anonymous user.

Authorization asks the cluster with a SubjectAccessReview carrying the request's
attributes (verb, group, version, resource, subresource, namespace, name; path and
verb for non-resource requests), so cluster RBAC decides, exactly as for Porch:
``update packagerevisions/approval`` is a rule of its own. system:masters and the
health paths skip the review, as the generic apiserver does. Both reviews are cached
for a short time (10 s, as kube-apiserver's webhook defaults) for allowed and denied
answers alike; a review that fails is not cached and denies (fail closed).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import trio
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from porch_embedded.api._auth import ANONYMOUS
from porch_embedded.api._requestinfo import RequestInfo
from porch_embedded.api._serving import ClientCertificateAuthorities
from porch_embedded.engine import ClusterClient
from porch_embedded.errors import BadRequest, ServiceUnavailable, StatusError, Unauthorized
from porch_embedded.meta import UserInfo

__all__ = [
    "DelegatedAuthentication",
    "DelegatingAuthenticator",
    "ExplicitTrust",
    "RequestHeaderSettings",
    "SubjectAccessReviewAuthorizer",
    "delegated_authentication",
    "header_values",
    "load_certificates",
    "run_trust_updates",
    "trust_from",
]

log = logging.getLogger("porch_embedded.api.delegated")

_ALWAYS_ALLOWED_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_CACHE_LIMIT = 10_000
_AUTHENTICATED = "system:authenticated"


def load_certificates(pem: bytes) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM bundle (a CA file may hold several during rotation)."""
    return tuple(x509.load_pem_x509_certificates(pem))


def header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of header ``name``, each repeated header apart.

    The API's request headers keep repeated headers apart (``all``); a plain mapping
    holds one value, taken whole: group names are never split at commas.
    """
    every = getattr(headers, "all", None)
    if callable(every):
        return list(every(name.lower()))
    value = headers.get(name.lower())
    return [] if value is None else [value]


@dataclass(frozen=True)
class RequestHeaderSettings:
    """Who may assert identities in headers, and in which headers (kube-apiserver's flags)."""

    client_ca: tuple[x509.Certificate, ...]
    """--requestheader-client-ca-file: CAs that sign the front-proxy client certificate."""
    allowed_names: tuple[str, ...] = ()
    """--requestheader-allowed-names: allowed CNs of that certificate; empty allows any."""
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    uid_headers: tuple[str, ...] = ("X-Remote-Uid",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_headers_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)


def _issued_by(certificate: x509.Certificate, authorities: Sequence[x509.Certificate]) -> bool:
    for authority in authorities:
        try:
            certificate.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def _client_auth_usage(certificate: x509.Certificate) -> bool:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _with_authenticated(user: UserInfo) -> UserInfo:
    """kube-apiserver adds system:authenticated to every authenticated user that lacks it."""
    if _AUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, uid=user.uid, groups=(*user.groups, _AUTHENTICATED), extra=user.extra)


class _TtlCache:
    """Answers remembered for a while (trio's clock); bounded, the oldest dropped first."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= trio.current_time():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: str, value: Any, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (trio.current_time() + ttl_s, value)


class DelegatingAuthenticator:
    """Front-proxy headers, client certificates, TokenReview (see the module docstring)."""

    def __init__(self, cluster: ClusterClient, *, requestheader: RequestHeaderSettings | None,
                 client_ca: tuple[x509.Certificate, ...] = (), token_cache_ttl_s: float = 10.0,
                 allow_anonymous: bool = True) -> None:
        self._cluster = cluster
        self._requestheader = requestheader
        self._client_ca = client_ca
        self._token_ttl_s = token_cache_ttl_s
        self._allow_anonymous = allow_anonymous
        self._tokens = _TtlCache()

    def trust(self, trust: DelegatedAuthentication) -> bool:
        """Believe ``trust`` from now on (a rotated CA); whether it differs from the trust in force."""
        if (trust.requestheader, trust.client_ca) == (self._requestheader, self._client_ca):
            return False
        self._requestheader, self._client_ca = trust.requestheader, trust.client_ca
        return True

    async def authenticate(self, headers: Mapping[str, str], peer_certificate: bytes | None) -> UserInfo:
        failures: list[str] = []
        certificate = x509.load_der_x509_certificate(peer_certificate) if peer_certificate else None
        if certificate is not None and self._requestheader is not None:
            user = self._from_front_proxy(certificate, headers, failures)
            if user is not None:
                return _with_authenticated(user)
        if certificate is not None and self._client_ca:
            if _issued_by(certificate, self._client_ca) and _client_auth_usage(certificate):
                name = _common_name(certificate)
                if name:
                    groups = tuple(str(a.value) for a in
                                   certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
                    return _with_authenticated(UserInfo(name, groups=groups))
                failures.append("the client certificate has no common name (CN) to use as user")
            else:
                failures.append("the client certificate was not issued by the client CA")
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                user = await self._review_token(token.strip(), failures)
                if user is not None:
                    return _with_authenticated(user)
            else:
                failures.append("only bearer tokens are accepted in the Authorization header")
        if failures:
            raise Unauthorized("Unauthorized: " + "; ".join(failures))
        if self._allow_anonymous:
            return ANONYMOUS
        raise Unauthorized("Unauthorized: send a bearer token or a client certificate")

    def _from_front_proxy(self, certificate: x509.Certificate, headers: Mapping[str, str],
                          failures: list[str]) -> UserInfo | None:
        settings = self._requestheader
        assert settings is not None
        if not _issued_by(certificate, settings.client_ca):
            return None  # not a front-proxy certificate: the headers are not believed
        if not _client_auth_usage(certificate):
            failures.append("the front-proxy certificate is not for client authentication")
            return None
        name = _common_name(certificate)
        if settings.allowed_names and name not in settings.allowed_names:
            failures.append(f"x509: subject with cn={name} is not in the allowed list")
            return None
        user = next((v for h in settings.username_headers for v in header_values(headers, h) if v), "")
        if not user:
            return None  # a front-proxy connection without a user: other authenticators decide
        uid = next((v for h in settings.uid_headers for v in header_values(headers, h) if v), "")
        groups = tuple(v for h in settings.group_headers for v in header_values(headers, h))
        extra: dict[str, tuple[str, ...]] = {}
        for prefix in settings.extra_headers_prefixes:
            prefix = prefix.lower()
            for header in headers:
                if header.lower().startswith(prefix) and len(header) > len(prefix):
                    key = unquote(header[len(prefix):].lower())
                    extra[key] = (*extra.get(key, ()), *header_values(headers, header))
        return UserInfo(user, uid=uid, groups=groups, extra=extra)

    async def _review_token(self, token: str, failures: list[str]) -> UserInfo | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._tokens.get(key)
        if cached is False:
            failures.append("invalid bearer token")
            return None
        if cached is not None:
            return cached
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            answer = await self._cluster.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
        except StatusError as error:
            log.warning("TokenReview failed: %s", error.message)
            failures.append("the token could not be reviewed (the cluster did not answer)")
            return None
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            if status.get("error"):
                failures.append(f"invalid bearer token: {status['error']}")
                return None
            self._tokens.put(key, False, self._token_ttl_s)
            failures.append("invalid bearer token")
            return None
        info = status.get("user") or {}
        user = UserInfo(str(info.get("username", "")), uid=str(info.get("uid", "")),
                        groups=tuple(info.get("groups") or ()),
                        extra={k: tuple(v) for k, v in (info.get("extra") or {}).items()})
        self._tokens.put(key, user, self._token_ttl_s)
        return user


class SubjectAccessReviewAuthorizer:
    """Asks the cluster whether the user may make the request (see the module docstring)."""

    def __init__(self, cluster: ClusterClient, *, allowed_ttl_s: float = 10.0, denied_ttl_s: float = 10.0,
                 always_allow_paths: Sequence[str] = tuple(sorted(_ALWAYS_ALLOWED_PATHS)),
                 always_allow_groups: Sequence[str] = ("system:masters",)) -> None:
        self._cluster = cluster
        self._allowed_ttl_s = allowed_ttl_s
        self._denied_ttl_s = denied_ttl_s
        self._paths = tuple(always_allow_paths)
        self._groups = frozenset(always_allow_groups)
        self._answers = _TtlCache()

    def _always_allowed(self, user: UserInfo, request: RequestInfo) -> bool:
        if self._groups.intersection(user.groups):
            return True
        if request.is_resource_request:
            return False
        return any(request.path.startswith(p[:-1]) if p.endswith("*") else request.path == p for p in self._paths)

    async def authorize(self, user: UserInfo, request: RequestInfo) -> bool:
        if self._always_allowed(user, request):
            return True
        spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups),
                                "extra": {k: list(v) for k, v in user.extra.items()}}
        if user.uid:
            spec["uid"] = user.uid
        if request.is_resource_request:
            attributes = {"namespace": request.namespace, "verb": request.verb, "group": request.group,
                          "version": request.version, "resource": request.resource,
                          "subresource": request.subresource, "name": request.name}
            spec["resourceAttributes"] = {k: v for k, v in attributes.items() if v}
        else:
            spec["nonResourceAttributes"] = {"path": request.path, "verb": request.verb}
        key = json.dumps(spec, sort_keys=True)
        cached = self._answers.get(key)
        if cached is not None:
            return bool(cached)
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        try:
            answer = await self._cluster.request(
                "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        except StatusError as error:
            log.warning("SubjectAccessReview failed (denying): %s", error.message)
            return False
        status = answer.get("status") or {}
        allowed = bool(status.get("allowed")) and not status.get("denied")
        self._answers.put(key, allowed, self._allowed_ttl_s if allowed else self._denied_ttl_s)
        return allowed


_AUTHENTICATION_CONFIGMAP = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"


@dataclass(frozen=True)
class DelegatedAuthentication:
    """What the delegating authenticator trusts, and the PEM bundle the TLS listener asks
    client certificates against (requestheader CAs and client CAs together; which CA
    issued a presented certificate is checked again per request)."""

    requestheader: RequestHeaderSettings | None
    client_ca: tuple[x509.Certificate, ...]
    client_ca_bundle: bytes


def _json_list(data: Mapping[str, str], key: str) -> tuple[str, ...] | None:
    raw = data.get(key)
    if raw is None or not raw.strip():
        return None
    try:
        values = json.loads(raw)
    except ValueError:
        raise BadRequest(f"ConfigMap kube-system/extension-apiserver-authentication: {key} is not a "
                           f"JSON array of strings") from None
    return tuple(str(v) for v in values) if isinstance(values, list) else None


@dataclass(frozen=True)
class ExplicitTrust:
    """The delegated-authentication flags as given (None: not given, so the ConfigMap decides)."""

    requestheader_ca_pem: bytes | None = None
    client_ca_pem: bytes | None = None
    allowed_names: tuple[str, ...] | None = None
    username_headers: tuple[str, ...] | None = None
    uid_headers: tuple[str, ...] | None = None
    group_headers: tuple[str, ...] | None = None
    extra_headers_prefixes: tuple[str, ...] | None = None

    @property
    def reads_configmap(self) -> bool:
        """Without an explicit requestheader CA, the ConfigMap is the source (and may change)."""
        return self.requestheader_ca_pem is None


def trust_from(explicit: ExplicitTrust, data: Mapping[str, str]) -> DelegatedAuthentication:
    """The trust the flags and the ConfigMap's ``data`` make together; explicit values win.

    Raises BadRequest when the ConfigMap holds a list that is not a JSON array, or a CA
    that is not PEM.
    """
    requestheader_ca_pem, client_ca_pem = explicit.requestheader_ca_pem, explicit.client_ca_pem
    if explicit.reads_configmap:
        requestheader_ca_pem = (data.get("requestheader-client-ca-file") or "").encode() or None
        if client_ca_pem is None:
            client_ca_pem = (data.get("client-ca-file") or "").encode() or None
    requestheader = None
    try:
        if requestheader_ca_pem:
            defaults = RequestHeaderSettings(client_ca=())
            requestheader = RequestHeaderSettings(
                client_ca=load_certificates(requestheader_ca_pem),
                allowed_names=explicit.allowed_names if explicit.allowed_names is not None
                else _json_list(data, "requestheader-allowed-names") or (),
                username_headers=explicit.username_headers or _json_list(data, "requestheader-username-headers")
                or defaults.username_headers,
                uid_headers=explicit.uid_headers or _json_list(data, "requestheader-uid-headers")
                or defaults.uid_headers,
                group_headers=explicit.group_headers or _json_list(data, "requestheader-group-headers")
                or defaults.group_headers,
                extra_headers_prefixes=explicit.extra_headers_prefixes
                or _json_list(data, "requestheader-extra-headers-prefix") or defaults.extra_headers_prefixes,
            )
        client_ca = load_certificates(client_ca_pem) if client_ca_pem else ()
    except ValueError as error:
        raise BadRequest(f"ConfigMap kube-system/extension-apiserver-authentication: a CA is not PEM "
                         f"certificates ({error})") from None
    bundle = b"".join(pem.rstrip(b"\n") + b"\n" for pem in (requestheader_ca_pem, client_ca_pem) if pem)
    return DelegatedAuthentication(requestheader, client_ca, bundle)


async def delegated_authentication(cluster: ClusterClient, explicit: ExplicitTrust) -> DelegatedAuthentication:
    """Settle the front-proxy and client-certificate trust, as kube-apiserver's delegated options do.

    Without an explicit requestheader CA, everything not given is read from the ConfigMap
    kube-system/extension-apiserver-authentication that every kube-apiserver writes (the
    role extension-apiserver-authentication-reader grants reading it); explicit values win.
    A lookup that fails stops the start (ServiceUnavailable): serving on without the
    front-proxy CA would treat every forwarded request as anonymous. ``run_trust_updates``
    then follows the ConfigMap, so a rotated CA is picked up while serving.
    """
    data: Mapping[str, str] = {}
    if explicit.reads_configmap:
        try:
            data = (await cluster.request("GET", _AUTHENTICATION_CONFIGMAP)).get("data") or {}
        except StatusError as error:
            raise ServiceUnavailable(f"cannot read ConfigMap kube-system/extension-apiserver-authentication for the "
                                     f"front-proxy CA (give --requestheader-client-ca-file instead): {error.message}"
                                     ) from error
    return trust_from(explicit, data)


_TRUST_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0)


async def run_trust_updates(cluster: ClusterClient, explicit: ExplicitTrust, authenticator: DelegatingAuthenticator,
                            listener: ClientCertificateAuthorities, *, watch_timeout_s: float = 300.0,
                            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Follow the ConfigMap kube-system/extension-apiserver-authentication until cancelled.

    kube-apiserver rewrites it when its front-proxy (or client) CA rotates; each version
    that differs from the trust in force replaces it in ``authenticator`` and adds its CAs
    to ``listener``, the TLS listener's CAs for new connections (a CA that left the
    ConfigMap stays there, but the authenticator no longer believes what it issued).
    List (the one object, by field selector, as the reader role allows), then watch from
    the list's resourceVersion; a failure or an expired watch lists again after a pause.
    A version that does not parse is logged and ignored: the trust in force stays.
    """
    selector = ("fieldSelector", "metadata.name=extension-apiserver-authentication")
    collection = _AUTHENTICATION_CONFIGMAP.rsplit("/", 1)[0]
    task_status.started()
    failures = 0

    def take(configmap: Mapping[str, Any]) -> None:
        try:
            trust = trust_from(explicit, configmap.get("data") or {})
        except StatusError as error:
            log.warning("ignoring ConfigMap kube-system/extension-apiserver-authentication: %s", error.message)
            return
        if authenticator.trust(trust):
            listener.add(trust.client_ca_bundle)
            log.info("ConfigMap kube-system/extension-apiserver-authentication changed: front-proxy and client "
                     "CAs reloaded")

    while True:
        try:
            listed = await cluster.request("GET", collection, query=[selector])
            for item in listed.get("items") or ():
                take(item)
            since = str((listed.get("metadata") or {}).get("resourceVersion") or "")
            while True:
                async with cluster.watch(collection, since, watch_timeout_s, query=[selector]) as events:
                    async for event in events:
                        obj = event.get("object") or {}
                        if event.get("type") in ("ADDED", "MODIFIED") and \
                                (obj.get("metadata") or {}).get("name") == "extension-apiserver-authentication":
                            take(obj)
                        since = str((obj.get("metadata") or {}).get("resourceVersion") or since)
                failures = 0
        except StatusError as error:
            delay = _TRUST_RETRY_S[min(failures, len(_TRUST_RETRY_S) - 1)]
            failures += 1
            log.warning("cannot follow ConfigMap kube-system/extension-apiserver-authentication (again in %.1fs): %s",
                        delay, error.message)
            await trio.sleep(delay)
