"""Watch streams: initial events, store events filtered by selectors, bookmarks, timeouts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import trio

from porch_embedded.api._http import Send
from porch_embedded.api._status import status_body
from porch_embedded.api._table import table, table_row
from porch_embedded.errors import Expired, StatusError
from porch_embedded.kinds import Body, Kind
from porch_embedded.store import ListQuery, Store, WatchQuery

__all__ = ["WatchRequest", "WatchStop", "stream_watch"]


class WatchStop:
    """Ends every watch of a server cleanly when it drains (SIGTERM).

    Only a watch's waits (for the next event or bookmark) are cancelled, never a send:
    a send cancelled halfway would break the connection, while a watch stopped
    between events ends its body with the final chunk, so the client sees the end of
    the stream (as at ``timeoutSeconds``) and re-watches elsewhere.
    """

    def __init__(self) -> None:
        self.stopping = False
        self._waits: set[trio.CancelScope] = set()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """A wait that ``stop`` cancels (at once if the stop came first)."""
        with trio.CancelScope() as scope:
            if self.stopping:
                scope.cancel()
            self._waits.add(scope)
            try:
                yield
            finally:
                self._waits.discard(scope)

    def stop(self) -> None:
        self.stopping = True
        for scope in self._waits:
            scope.cancel()


@dataclass(frozen=True)
class WatchRequest:
    kind: Kind
    namespace: str
    list_query: ListQuery
    matches: Callable[[Body], bool]
    since: int | None
    """None: start with ADDED events for what exists now (resourceVersion unset or "0")."""
    timeout_s: float
    bookmarks: bool
    bookmark_interval_s: float
    as_table: bool
    include_object: str
    initial_events_end: bool
    convert: Callable[[Body], Body] | None = None
    """Shows stored objects as the requested version (a version served by conversion)."""


def _line(event_type: str, obj: Any) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


async def stream_watch(store: Store, request: WatchRequest, send: Send, stop: WatchStop | None = None) -> None:
    """Send a watch response until the timeout, ``stop``, the client leaving, or cancellation.

    The response starts with 200 as soon as the store's watch is open (or the first
    initial event is ready); a store that fails before then raises, so the client gets
    a proper Status (503 with Retry-After when the database is down) instead of a 200
    that never ends. An expired resourceVersion arrives as an ERROR event carrying a 410
    Status, as the apiserver sends it, so clients relist; any other failure once the
    stream has started also ends it with an ERROR event, so clients re-watch.
    """
    started = False
    first_table = True

    async def start() -> None:
        nonlocal started
        if not started:
            started = True
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"), (b"cache-control", b"no-cache, private")]})

    async def emit(event_type: str, obj: Body) -> None:
        nonlocal first_table
        await start()
        if request.convert is not None and event_type in ("ADDED", "MODIFIED", "DELETED"):
            obj = request.convert(obj)
        if request.as_table and event_type in ("ADDED", "MODIFIED", "DELETED"):
            if first_table:
                obj = table(request.kind, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                            request.include_object)
                first_table = False
            else:
                obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                       "metadata": {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                       "columnDefinitions": [], "rows": [table_row(request.kind, obj, request.include_object)]}
        await send({"type": "http.response.body", "body": _line(event_type, obj), "more_body": True})

    def bookmark(resource_version: int, *, initial_end: bool = False) -> Body:
        metadata: dict[str, Any] = {"resourceVersion": str(resource_version)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": request.kind.kind, "apiVersion": request.kind.api_version, "metadata": metadata}

    with trio.move_on_after(request.timeout_s):
        since = request.since
        if since is None:
            page = await store.list(request.list_query)
            for item in page.items:
                if request.matches(item):
                    await emit("ADDED", item)
            since = page.resource_version
            if request.initial_events_end:
                await emit("BOOKMARK", bookmark(since, initial_end=True))
        try:
            async with store.watch(WatchQuery(request.kind.resource, request.namespace, since)) as events:
                await start()
                last_rv = since
                iterator = events.__aiter__()
                stop = stop or WatchStop()
                while not stop.stopping:
                    event = None
                    with trio.move_on_after(request.bookmark_interval_s if request.bookmarks else float("inf")), \
                            stop.waiting():
                        event = await iterator.__anext__()
                    if stop.stopping:
                        break
                    if event is None:
                        await emit("BOOKMARK", bookmark(last_rv))
                        continue
                    last_rv = event.resource_version
                    if request.matches(event.object):
                        await emit(event.type, event.object)
        except StatusError as exc:
            if not started and not isinstance(exc, Expired):
                raise
            await start()
            await send({"type": "http.response.body", "body": _line("ERROR", status_body(exc)), "more_body": True})
    await start()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
