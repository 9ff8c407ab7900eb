"""What every route reaches: the user of the request, the engine and store, authorization.

A route never builds these itself: ``services()`` hands it the engine, the store and the
API's authorizer, ``current_user()`` the signed-in user (set before the route runs), and
``authorize`` / ``may`` ask the API's Authorizer with the same RequestInfo the API would
build for the equivalent kubectl call, so the dashboard and the API can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

from quart import current_app, g

from porch_embedded.api import Authenticator, Authorizer, RequestInfo, forbidden_for
from porch_embedded.engine import Engine
from porch_embedded.kinds import NAMESPACE, Kind
from porch_embedded.meta import UserInfo
from porch_embedded.store import ListQuery, Store

if TYPE_CHECKING:
    from porch_embedded.dashboard._index import RevisionIndex

__all__ = ["Services", "authorize", "current_user", "index", "may", "request_info", "services", "visible_namespaces"]

EXTENSION = "porch_embedded"
INDEX_EXTENSION = "porch_embedded.index"


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


def index() -> RevisionIndex:
    """The running dashboard's index of PackageRevisions (inside a request)."""
    found: RevisionIndex = current_app.extensions[INDEX_EXTENSION]
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


async def visible_namespaces(kind: Kind, verb: str = "list") -> frozenset[str] | None:
    """Where the current user may ``verb`` ``kind``: None for everywhere, else the namespaces.

    A user bound to roles in some namespaces only sees those namespaces' objects in lists
    that span namespaces (the approval queue, the variants), as the API would list them
    namespace by namespace.
    """
    if await may(verb, kind):
        return None
    page = await services().store.list(ListQuery(NAMESPACE.resource))
    names = [item["metadata"]["name"] for item in page.items]
    return frozenset([name for name in names if await may(verb, kind, name)])
