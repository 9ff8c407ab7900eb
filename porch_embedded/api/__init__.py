"""The Kubernetes API surface: discovery, OpenAPI, resource verbs, Status errors, authn/authz."""

from porch_embedded.api._app import ApiApp, ApiSettings
from porch_embedded.api._auth import (
    ANONYMOUS,
    Authenticator,
    Authorizer,
    RbacAuthorizer,
    StandaloneAuthenticator,
    forbidden_for,
    load_token_file,
)
from porch_embedded.api._delegated import (
    DelegatedAuthentication,
    DelegatingAuthenticator,
    ExplicitTrust,
    RequestHeaderSettings,
    SubjectAccessReviewAuthorizer,
    delegated_authentication,
    run_trust_updates,
)
from porch_embedded.api._handlers import HandlerSettings
from porch_embedded.api._requestinfo import RequestInfo
from porch_embedded.api._serving import ClientCertificateAuthorities, ServingSettings, run_https
from porch_embedded.api._tls import Pki, ensure_pki, issue_client_certificate

__all__ = [
    "ANONYMOUS",
    "ApiApp",
    "ApiSettings",
    "Authenticator",
    "Authorizer",
    "ClientCertificateAuthorities",
    "DelegatedAuthentication",
    "DelegatingAuthenticator",
    "ExplicitTrust",
    "HandlerSettings",
    "Pki",
    "RbacAuthorizer",
    "RequestHeaderSettings",
    "RequestInfo",
    "ServingSettings",
    "StandaloneAuthenticator",
    "SubjectAccessReviewAuthorizer",
    "delegated_authentication",
    "ensure_pki",
    "forbidden_for",
    "issue_client_certificate",
    "load_token_file",
    "run_https",
    "run_trust_updates",
]
