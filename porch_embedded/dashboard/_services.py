"""What every route reaches: the user of the request, the engine and store, authorization.

A route never builds these itself: ``services()`` hands it the engine, the store and the
API's authorizer, ``current_user()`` the signed-in user (set before the route runs), and
``authorize`` / ``may`` ask the API's Authorizer with the same RequestInfo the API would
build for the equivalent kubectl call, so the dashboard and the API can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app, g

from porch_embedded.api import Authenticator, Authorizer, RequestInfo, forbidden_for
from porch_embedded.engine import Engine
from porch_embedded.kinds import Kind
from porch_embedded.meta import UserInfo
from porch_embedded.store import Store

__all__ = ["Services", "authorize", "current_user", "may", "request_info", "services"]

EXTENSION = "porch_embedded"


@dataclass(frozen=True)
class Services:
    """The objects the composition root hands the dashboard (the API's own auth objects)."""

    engine: Engine
    store: Store
    authenticator: Authenticator
    authorizer: Authorizer


def services() -> Services:
    """The running dashboard's services (inside a request)."""
    found: Services = current_app.extensions[EXTENSION]
    return found


def current_user() -> UserInfo:
    """The signed-in user of this request; routes behind the login only (all but login and static)."""
    user: UserInfo = g.user
    return user


def request_info(verb: str, kind: Kind, namespace: str = "", name: str = "", subresource: str = "") -> RequestInfo:
    """The RequestInfo the API builds for the same call made with kubectl."""
    prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    path = prefix + (f"/namespaces/{namespace}" if namespace else "") + f"/{kind.plural}"
    path += (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")
    return RequestInfo(path=path, verb=verb, is_resource_request=True, group=kind.group, version=kind.version,
                       resource=kind.plural, subresource=subresource, namespace=namespace, name=name)


async def may(verb: str, kind: Kind, namespace: str = "", name: str = "", subresource: str = "") -> bool:
    """Whether the current user may make this call (to show or hide a button)."""
    return await services().authorizer.authorize(current_user(), request_info(verb, kind, namespace, name,
                                                                              subresource))


async def authorize(verb: str, kind: Kind, namespace: str = "", name: str = "", subresource: str = "") -> None:
    """Refuse (403, the API's wording) a call the current user may not make."""
    info = request_info(verb, kind, namespace, name, subresource)
    user = current_user()
    if not await services().authorizer.authorize(user, info):
        raise forbidden_for(user, info)
