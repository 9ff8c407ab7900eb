"""The API server as one ASGI application: authn, authz, routing, Status errors, metrics, drain."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import prometheus_client
import trio

from porch_embedded import __version__, metrics
from porch_embedded.api._auth import Authenticator, Authorizer, forbidden_for
from porch_embedded.api._codec import parse_accept
from porch_embedded.api._discovery import DISCOVERY_V2_CONTENT_TYPE, Documents, build_documents
from porch_embedded.api._handlers import HandlerSettings, ResourceHandlers
from porch_embedded.api._http import Receive, Request, Scope, Send, send_bytes, send_json
from porch_embedded.api._openapi_protobuf import OPENAPI_V2_PROTOBUF
from porch_embedded.api._requestinfo import RequestInfo, parse_request_info
from porch_embedded.api._status import status_body
from porch_embedded.api._watch import WatchStop
from porch_embedded.engine import Engine
from porch_embedded.errors import Internal, NotFound, ServiceUnavailable, StatusError
from porch_embedded.kinds import Kind
from porch_embedded.store import Store

__all__ = ["ApiApp", "ApiSettings"]

log = logging.getLogger("porch_embedded.api")
request_log = logging.getLogger("porch_embedded.api.requests")
"""One record per request: method, path, user, verb, resource, code and latency as fields."""

_HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
_OPENAPI_V2_PROTOBUF_PREFIX = "application/com.github.proto-openapi.spec.v2"
"""The start of both spellings of the protobuf type an /openapi/v2 Accept may ask for
(kubectl's ``...v2@v1.0+protobuf``, and ``...v2.v1.0+protobuf``)."""
_MUTATING = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class ApiSettings:
    handlers: HandlerSettings = field(default_factory=HandlerSettings)
    store_ping_timeout_s: float = 2.0


class ApiApp:
    """Serves the Kubernetes API of porch-embedded over ASGI.

    Every failure a client can cause or suffer becomes a metav1.Status with the right
    code; an unexpected exception becomes a 500 Status and is logged with its traceback,
    and the server keeps serving. ``drain`` ends it gracefully: /readyz fails, watches
    end with their final chunk, and it returns once no request is in flight.
    """

    def __init__(self, engine: Engine, store: Store, kinds: Sequence[Kind], authenticator: Authenticator,
                 authorizer: Authorizer, settings: ApiSettings | None = None,
                 meter: metrics.PrometheusMeter | None = None) -> None:
        """Serve ``kinds`` (the composition root says which) over ``engine`` and ``store``.

        ``meter`` is the server's registry, which /metrics shows (the lower layers report
        into it too when the composition root binds it); default: one of the app's own.
        """
        self._store = store
        self._kinds = {(kind.group, kind.version, kind.plural): kind for kind in kinds}
        self._authenticator = authenticator
        self._authorizer = authorizer
        self._settings = settings or ApiSettings()
        self._watch_stop = WatchStop()
        self._handlers = ResourceHandlers(engine, store, self._settings.handlers, self._watch_stop)
        self._served = tuple(kinds)
        self._built_documents: Documents | None = None
        self._encoding = trio.CapacityLimiter(1)
        """One deferred document encoded at a time; a second request waits for it, then reads it."""
        self._meter = meter or metrics.PrometheusMeter()
        self.ready = trio.Event()
        """Set by the composition root once start-up work (reconciliation) is done."""
        self.draining = False
        self._in_flight = 0
        self._quiet = trio.Event()

    async def drain(self) -> None:
        """Stop gracefully: fail /readyz, end every watch cleanly, wait for in-flight requests.

        Requests that arrive meanwhile are still served (a load balancer takes a moment to
        stop sending them); the caller bounds the wait with its grace period.
        """
        self.draining = True
        self._watch_stop.stop()
        while self._in_flight:
            self._quiet = trio.Event()
            await self._quiet.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        info = parse_request_info(request.method, request.path, request.query)
        started = time.perf_counter()
        self._in_flight += 1
        inflight = {"request_kind": "mutating" if info.verb in _MUTATING else "readOnly"}
        self._meter.record(metrics.INFLIGHT, 1, inflight)
        code = 500
        response_open = False
        tracked_send = send

        async def send_tracking(message: Any) -> None:
            nonlocal code, response_open
            if message["type"] == "http.response.start":
                code = message["status"]
                response_open = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                response_open = False
            await tracked_send(message)

        try:
            await self._dispatch(request, info, send_tracking)
        except StatusError as error:
            if response_open:
                await self._end_response(send_tracking, error)
            else:
                await self._send_error(send_tracking, error)
        except Exception as error:
            log.exception("unexpected error serving %s %s", request.method, request.path)
            failure = Internal("an internal error occurred; the server log has the details (nothing was changed "
                               "unless the response to a retry says otherwise)")
            if response_open:
                await self._end_response(send_tracking, failure)
            else:
                await self._send_error(send_tracking, failure)
        finally:
            self._in_flight -= 1
            self._meter.record(metrics.INFLIGHT, -1, inflight)
            if not self._in_flight:
                self._quiet.set()
            elapsed = time.perf_counter() - started
            resource = info.resource or "nonresource"
            self._meter.record(metrics.API_REQUESTS, 1, {
                "verb": info.verb, "group": info.group, "resource": resource, "code": str(code)})
            if info.verb != "watch":
                self._meter.record(metrics.API_REQUEST_SECONDS, elapsed, {"verb": info.verb, "resource": resource})
            _log_request(request, info, code, elapsed)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _send_error(self, send: Send, error: StatusError) -> None:
        headers = [("retry-after", str(error.retry_after_s))] if error.retry_after_s is not None else []
        try:
            await send_json(send, error.code, status_body(error), headers)
        except (trio.BrokenResourceError, trio.ClosedResourceError, RuntimeError):
            # The response had already started (a watch) or the client is gone.
            pass

    async def _end_response(self, send: Send, error: StatusError) -> None:
        """End a response that had already started (a streamed body) when it failed midway.

        Its status line is gone, so the error cannot be a Status response; ending the body
        at least lets the client see the failure at once instead of waiting on a stream that
        never finishes.
        """
        log.warning("a streamed response failed after it started: %s", error.message)
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (trio.BrokenResourceError, trio.ClosedResourceError, RuntimeError):
            pass

    async def _dispatch(self, request: Request, info: RequestInfo, send: Send) -> None:
        if _is_health(request.path):
            await self._health(request, send)
            return
        user = await self._authenticator.authenticate(request.headers, request.peer_certificate)
        request.user = user
        if not await self._authorizer.authorize(user, info):
            raise forbidden_for(user, info)
        if info.is_resource_request:
            await self._resource(request, info, send)
        else:
            await self._non_resource(request, send)

    async def _health(self, request: Request, send: Send) -> None:
        checks: list[tuple[str, bool]] = [("ping", True)]
        if request.path.startswith("/readyz"):
            checks.append(("informer-sync", self.ready.is_set()))
            try:
                with trio.fail_after(self._settings.store_ping_timeout_s):
                    await self._store.ping()
                checks.append(("store", True))
            except (StatusError, trio.TooSlowError):
                checks.append(("store", False))
            checks.append(("shutdown", not self.draining))
        healthy = all(ok for _, ok in checks)
        if "verbose" in request.query:
            lines = [f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed'}" for name, ok in checks]
            lines.append(f"{request.path.strip('/')} check {'passed' if healthy else 'failed'}")
            text = "\n".join(lines) + "\n"
        else:
            text = "ok" if healthy else "\n".join(f"[-]{n} failed" for n, ok in checks if not ok) + "\n"
        await send_bytes(send, 200 if healthy else 503, text.encode(), "text/plain; charset=utf-8")

    async def _non_resource(self, request: Request, send: Send) -> None:
        if request.method not in ("GET", "HEAD"):
            raise NotFound("the server could not find the requested resource")
        path = request.path
        if path == "/metrics":
            await send_bytes(send, 200, self._meter.exposition(), prometheus_client.CONTENT_TYPE_LATEST)
            return
        key = path
        content_type = "application/json"
        if path in ("/api", "/apis"):
            if parse_accept(request.headers.get("accept"), allow_discovery=True).discovery_v2:
                key, content_type = path + "#v2", DISCOVERY_V2_CONTENT_TYPE
        elif path == "/openapi/v2" and _OPENAPI_V2_PROTOBUF_PREFIX in (request.headers.get("accept") or ""):
            key, content_type = path + "#protobuf", OPENAPI_V2_PROTOBUF
        documents = self._documents()
        if key in documents.deferred and key not in documents.json_docs:
            await trio.to_thread.run_sync(documents.materialize, key, limiter=self._encoding,
                                         abandon_on_cancel=True)
        body = documents.json_docs.get(key)
        if body is None:
            raise NotFound("the server could not find the requested resource")
        etag = documents.etags[key]
        headers = [("etag", etag), ("vary", "Accept")]
        if request.headers.get("if-none-match") == etag:
            await send({"type": "http.response.start", "status": 304,
                        "headers": [(k.encode(), v.encode()) for k, v in headers]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_bytes(send, 200, body, content_type, headers)

    def _documents(self) -> Documents:
        """Discovery and OpenAPI, built on the first request for either (the OpenAPI modules and
        the build cost a start tens of milliseconds before its first answer, and a client that
        only lists never asks for them); the event loop builds them, so once."""
        if self._built_documents is None:
            self._built_documents = build_documents(self._served, version_info={
                "major": "1", "minor": "32", "gitVersion": f"v1.32.0-porch-embedded-{__version__}",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "", "goVersion": "python3.11",
                "compiler": "cpython", "platform": "linux/amd64",
            })
        return self._built_documents

    async def _resource(self, request: Request, info: RequestInfo, send: Send) -> None:
        kind = self._kinds.get((info.group, info.version, info.resource))
        if kind is None:
            raise NotFound("the server could not find the requested resource")
        if info.namespace and not kind.namespaced:
            raise NotFound("the server could not find the requested resource")
        handler: Callable[..., Awaitable[None]] | None = {
            "get": self._handlers.get,
            "list": self._handlers.list,
            "watch": self._handlers.watch,
            "create": self._handlers.create,
            "update": self._handlers.update,
            "patch": self._handlers.patch,
            "delete": self._handlers.delete,
            "deletecollection": self._handlers.delete_collection,
        }.get(info.verb)
        if handler is None:
            raise NotFound(f"the server does not serve the {request.method} method on {request.path}")
        watching = info.verb == "watch"
        if watching:
            self._meter.record(metrics.WATCHES, 1, {"resource": info.resource})
        try:
            if watching:
                await self._watch(handler, kind, info, request, send)
            else:
                await handler(kind, info, request, send)
        except ServiceUnavailable as error:
            if error.retry_after_s is None:
                error.retry_after_s = 1
            raise
        finally:
            if watching:
                self._meter.record(metrics.WATCHES, -1, {"resource": info.resource})

    async def _watch(self, handler: Callable[..., Awaitable[None]], kind: Kind, info: RequestInfo,
                     request: Request, send: Send) -> None:
        """Run a watch until it ends or its client disconnects.

        The server only hears of a client that left when it reads the request's
        ``http.disconnect``; sends to a gone client are dropped silently. Without this, a
        quiet watch would hold its task (and count as open) until its timeout.
        """
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:

            async def cancel_on_disconnect() -> None:
                while (await request.receive())["type"] != "http.disconnect":
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(cancel_on_disconnect)
            try:
                await handler(kind, info, request, send)
            except Exception as error:  # re-raised below, outside the nursery's exception group
                failure = error
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure


def _is_health(path: str) -> bool:
    return path in _HEALTH_PATHS or path.startswith(tuple(p + "/" for p in _HEALTH_PATHS))


def _log_request(request: Request, info: RequestInfo, code: int, elapsed_s: float) -> None:
    """One log record per request; health probes only at DEBUG (kubelet asks every few seconds)."""
    level = logging.DEBUG if _is_health(request.path) else logging.INFO
    if not request_log.isEnabledFor(level):
        return
    user = request.user.name if request.user is not None else ""
    resource = info.resource + (f"/{info.subresource}" if info.subresource else "")
    request_log.log(
        level, "%s %s %d %.1fms user=%s", request.method, request.path, code, elapsed_s * 1000, user or "-",
        extra={"user": user, "verb": info.verb, "group": info.group, "resource": resource,
               "namespace": info.namespace, "object": info.name, "method": request.method, "path": request.path,
               "code": code, "latency_s": round(elapsed_s, 6)})
