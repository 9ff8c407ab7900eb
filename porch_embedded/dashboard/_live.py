"""Live updates: one server-sent-event stream per browser tab, fed by the store's watch.

``GET /ui/events?topics=packagerevisions,repositories&since=RV`` streams one event per
stored change of those resources, named after the resource; the page's parts refresh
themselves on the events they show (htmx's SSE extension), so nothing polls. ``since`` is
the resourceVersion the page was rendered at, so that nothing changed between rendering
and connecting is missed. Each event's id holds the resourceVersion reached by every
watch of the stream (``packagerevisions@=41;repositories@=38``): the watches run side by
side and one resource's event may be sent after a newer one of another, so one number
could skip an event on resume. The browser sends the last id back as ``Last-Event-ID``
when it reconnects, and each watch resumes where it was (a plain resourceVersion is
accepted too). When the history is gone (410 Expired) the stream names every topic once,
so each part reloads whole, and goes on from now.

It is plain ASGI rather than a quart route: each stream is one nursery (a task per watch
plus the writer) that ends when the client leaves or the server drains, which an async
generator body cannot hold. It reads the same signed session cookie, and asks the API's
Authorizer whether the user may watch each resource (cluster-wide, else per namespace).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import trio
from itsdangerous import BadSignature, URLSafeTimedSerializer

from porch_embedded.dashboard._services import Services, request_info
from porch_embedded.errors import Expired, StatusError
from porch_embedded.kinds import (
    NAMESPACE,
    PACKAGE_REVISION,
    PACKAGE_REVISION_RESOURCES,
    PACKAGE_VARIANT,
    PACKAGE_VARIANT_SET,
    REPOSITORY,
    Kind,
)
from porch_embedded.meta import UserInfo
from porch_embedded.store import ListQuery, WatchQuery

__all__ = ["EVENTS_PATH", "LiveSettings", "TOPICS", "serve_events"]

log = logging.getLogger("porch_embedded.dashboard.live")

EVENTS_PATH = "/ui/events"
TOPICS: dict[str, Kind] = {kind.plural: kind for kind in (
    PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, REPOSITORY, PACKAGE_VARIANT, PACKAGE_VARIANT_SET)}

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class LiveSettings:
    heartbeat_s: float = 15.0
    """A comment line this often keeps proxies from closing a quiet stream."""
    retry_ms: int = 2000
    """How long the browser waits before reconnecting (it sends Last-Event-ID then)."""


def _session_user(scope: dict[str, Any], serializer: URLSafeTimedSerializer, cookie_name: str,
                  max_age_s: int) -> UserInfo | None:
    # HTTP/2 clients may send each cookie as a header field of its own (RFC 9113 8.2.3).
    jar = "; ".join(v.decode("latin-1") for k, v in scope.get("headers") or () if k.lower() == b"cookie")
    cookies = SimpleCookie()
    try:
        cookies.load(jar)
    except Exception:  # noqa: BLE001 - a malformed Cookie header is no session
        return None
    morsel = cookies.get(cookie_name)
    if morsel is None:
        return None
    try:
        data = serializer.loads(morsel.value, max_age=max_age_s)
    except BadSignature:
        return None
    stored = data.get("user") if isinstance(data, dict) else None
    if not stored:
        return None
    return UserInfo(stored["name"], uid=stored.get("uid", ""), groups=tuple(stored.get("groups", ())))


async def _plain(send: Send, code: int, text: str) -> None:
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


async def _namespaces(services: Services, user: UserInfo, kind: Kind) -> list[str] | None:
    """Where ``user`` may watch ``kind``: None for everywhere, else the namespaces (maybe none)."""
    if await services.authorizer.authorize(user, request_info("watch", kind)):
        return None
    page = await services.store.list(ListQuery(NAMESPACE.resource))
    names = [item["metadata"]["name"] for item in page.items]
    return [name for name in names if await services.authorizer.authorize(user, request_info("watch", kind, name))]


async def serve_events(scope: dict[str, Any], receive: Receive, send: Send, *, services: Services,
                       serializer: URLSafeTimedSerializer, cookie_name: str, max_age_s: int,
                       stopping: trio.Event, settings: LiveSettings = LiveSettings()) -> None:
    """Serve one event stream until the client leaves or ``stopping`` is set."""
    user = _session_user(scope, serializer, cookie_name, max_age_s)
    if user is None:
        await _plain(send, 401, "sign in first")
        return
    query = parse_qs((scope.get("query_string") or b"").decode())
    topics = [topic for topic in ",".join(query.get("topics", [])).split(",") if topic in TOPICS]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
    try:
        since = int((query.get("since") or ["0"])[0])
        resumed = _positions(headers.get("last-event-id", ""))
    except ValueError:
        await _plain(send, 400, "since must be a resourceVersion and Last-Event-ID an id this stream sent")
        return
    if since <= 0:
        since = await services.store.resource_version()
    watches: list[tuple[str, str]] = []
    for topic in topics:
        namespaces = await _namespaces(services, user, TOPICS[topic])
        watches += [(topic, "")] if namespaces is None else [(topic, namespace) for namespace in namespaces]
    fallback = resumed.get("", since)
    positions = {f"{topic}@{namespace}": resumed.get(f"{topic}@{namespace}", fallback)
                 for topic, namespace in watches}
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no")]})
    await send({"type": "http.response.body", "body": f"retry: {settings.retry_ms}\n\n".encode(), "more_body": True})
    outgoing, incoming = trio.open_memory_channel[tuple[str, int, bytes]](64)
    async with trio.open_nursery() as nursery:

        async def until_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            nursery.cancel_scope.cancel()

        async def until_stopping() -> None:
            await stopping.wait()
            nursery.cancel_scope.cancel()

        async def heartbeat() -> None:
            while True:
                await trio.sleep(settings.heartbeat_s)
                await outgoing.send(("", 0, b": keep-alive\n\n"))

        async def write() -> None:
            async for key, resource_version, text in incoming:
                chunk = text
                if key:
                    positions[key] = resource_version
                    chunk = f"id: {_id(positions)}\n".encode() + text
                try:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(until_gone)
        nursery.start_soon(until_stopping)
        nursery.start_soon(heartbeat)
        nursery.start_soon(write)
        for topic, namespace in watches:
            nursery.start_soon(_follow, services, topic, namespace, positions[f"{topic}@{namespace}"], outgoing)
    try:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, RuntimeError):
        pass


def _positions(last_event_id: str) -> dict[str, int]:
    """The watches' resourceVersions in a Last-Event-ID (``""`` holds a plain resourceVersion)."""
    text = last_event_id.strip()
    if not text:
        return {}
    if "=" not in text:
        return {"": int(text)}
    pairs = (part.rpartition("=") for part in text.split(";") if part)
    return {key: int(value) for key, _, value in pairs}


def _id(positions: dict[str, int]) -> str:
    return ";".join(f"{key}={value}" for key, value in sorted(positions.items()))


async def _follow(services: Services, topic: str, namespace: str, since: int,
                  outgoing: trio.MemorySendChannel[tuple[str, int, bytes]]) -> None:
    """Turn the store's events of one resource into SSE events, from ``since`` on."""
    resource, key = TOPICS[topic].resource, f"{topic}@{namespace}"
    while True:
        try:
            async with services.store.watch(WatchQuery(resource, namespace, since)) as events:
                async for event in events:
                    metadata = event.object.get("metadata") or {}
                    data = f"{event.type} {metadata.get('namespace', '')}/{metadata.get('name', '')}"
                    await outgoing.send((key, event.resource_version, f"event: {topic}\ndata: {data}\n\n".encode()))
                    since = event.resource_version
        except Expired:
            since = await services.store.resource_version()
            await outgoing.send((key, since, f"event: {topic}\ndata: EXPIRED\n\n".encode()))
        except StatusError as error:  # the store is unavailable: tell the page nothing, try again
            log.warning("live updates of %s paused: %s", topic, error.message)
            await trio.sleep(1.0)
