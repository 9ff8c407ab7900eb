"""HTTPS serving with hypercorn's protocol stack over our own TLS listener.

hypercorn 0.18 does not hand the TLS client certificate to the application. We run
the listener ourselves (trio.SSLListener with the client CA loaded, CERT_OPTIONAL) and
give hypercorn's per-connection ``TCPServer`` an app wrapper that puts the verified
peer certificate into ``scope["extensions"]["tls"]``. Everything else, HTTP/1.1 and
HTTP/2 framing, flow control, keep-alive, is hypercorn's.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext

from porch_embedded.api._http import Receive, Scope, Send

__all__ = ["ClientCertificateAuthorities", "ServingSettings", "run_https"]

Asgi = Callable[[Scope, Receive, Send], Any]


class ClientCertificateAuthorities:
    """CAs the TLS listener asks client certificates against, to which more can be added while serving.

    Aggregated, the front-proxy CA comes from a ConfigMap that changes when the cluster
    rotates it: the new CA must be accepted at the handshake of new connections without a
    restart. OpenSSL reads a context's certificate store at each handshake, so adding to
    the listener's context is enough. Nothing is ever removed here: which CA may issue what
    is decided per request by the authenticator, which forgets a CA that left.
    """

    def __init__(self) -> None:
        self._contexts: list[ssl.SSLContext] = []

    def attach(self, context: ssl.SSLContext) -> None:
        self._contexts.append(context)

    def add(self, pem: bytes) -> None:
        """Accept certificates issued by the CAs of ``pem`` from the next handshake on."""
        if not pem.strip():
            return
        for context in self._contexts:
            context.load_verify_locations(cadata=pem.decode("ascii"))
            context.verify_mode = ssl.CERT_OPTIONAL


@dataclass(frozen=True)
class ServingSettings:
    host: str
    port: int
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_ca_updates: ClientCertificateAuthorities | None = None
    """Where CAs added while serving come from (aggregated mode), beside ``client_ca_file``."""
    max_concurrent_streams: int = 1000
    """Per HTTP/2 connection; kubectl multiplexes many watches over one."""


class _ConnectionApp:
    """hypercorn's AppWrapper for one connection: adds the peer certificate to the scope."""

    def __init__(self, app: Asgi, stream: trio.SSLStream[trio.SocketStream]) -> None:
        self._app = app
        self._stream = stream
        self._certificate: bytes | None | bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send, sync_spawn: Any, call_soon: Any) -> None:
        if self._certificate is False:
            self._certificate = self._stream.getpeercert(binary_form=True)
        if self._certificate:
            scope = dict(scope)
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": {"client_cert_der": self._certificate}}
        await self._app(scope, receive, send)


def _ssl_context(settings: ServingSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.cert_file, settings.key_file)
    context.set_alpn_protocols(["h2", "http/1.1"])
    if settings.client_ca_file is not None:
        context.load_verify_locations(settings.client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    if settings.client_ca_updates is not None:
        settings.client_ca_updates.attach(context)
    return context


async def run_https(app: Asgi, settings: ServingSettings, *, stop_accepting: trio.Event | None = None,
                    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on https://host:port until cancelled; report the bound URL when listening.

    Once ``stop_accepting`` is set the listening sockets close (new connections are
    refused, so a load balancer moves on) while open connections keep being served
    until the caller cancels: the drain on SIGTERM.
    """
    config = Config()
    config.h2_max_concurrent_streams = settings.max_concurrent_streams
    config.keep_alive_max_requests = 2**31
    config.keep_alive_timeout = 300
    config.accesslog = None  # the app logs each request itself, with the user
    config.errorlog = logging.getLogger("hypercorn.error")  # through our handlers and format, not its own
    context = WorkerContext(None)
    listeners = await trio.open_ssl_over_tcp_listeners(
        settings.port, _ssl_context(settings), host=settings.host, https_compatible=True)

    async def handle(stream: trio.SSLStream[trio.SocketStream]) -> None:
        await TCPServer(_ConnectionApp(app, stream), config, context, {}, stream).run()  # type: ignore[arg-type]

    host, port = listeners[0].transport_listener.socket.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    task_status.started(f"https://{shown}:{port}")
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            accepting.start_soon(partial(trio.serve_listeners, handle, listeners, handler_nursery=connections))
            if stop_accepting is not None:
                await stop_accepting.wait()
                accepting.cancel_scope.cancel()
        for listener in listeners:
            await listener.aclose()
