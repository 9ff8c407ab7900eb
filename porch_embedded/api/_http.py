"""The ASGI request and response primitives the API is written in.

The API is a plain ASGI application rather than a Quart one: a watch is a response
that lives for minutes and must interleave store events, bookmarks and a timeout, which
needs a nursery and cancel scopes around ``send``. Quart streams responses from async
generators, and trio forbids holding a nursery or cancel scope across a generator's
``yield``; with ASGI's ``send`` in hand the watch is an ordinary structured function.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from porch_embedded.errors import RequestEntityTooLarge
from porch_embedded.meta import UserInfo

__all__ = ["Headers", "Request", "Send", "Receive", "send_json", "send_bytes"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Headers(dict[str, str]):
    """Lower-cased request headers; a repeated header reads comma-joined, ``all`` keeps its
    values apart (X-Remote-Group carries one group per header, commas allowed in names)."""

    def __init__(self) -> None:
        super().__init__()
        self._values: dict[str, list[str]] = {}

    def add(self, name: str, value: str) -> None:
        self._values.setdefault(name, []).append(value)
        self[name] = f"{self[name]},{value}" if name in self else value

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name.lower(), ()))


@dataclass
class Request:
    """One HTTP request: method, path, query, lower-cased headers, the peer's certificate."""

    scope: Scope
    receive: Receive
    method: str = ""
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    user: UserInfo | None = None
    """Set once authentication has identified the caller."""

    def __post_init__(self) -> None:
        self.method = self.scope["method"].upper()
        self.path = self.scope["path"].rstrip("/") or "/"
        raw_query = self.scope.get("query_string", b"").decode("latin-1")
        self.query = dict(parse_qsl(raw_query, keep_blank_values=True))
        headers = Headers()
        for name, value in self.scope.get("headers", ()):
            headers.add(name.decode("latin-1").lower(), value.decode("latin-1"))
        self.headers = headers

    @property
    def peer_certificate(self) -> bytes | None:
        """DER of the verified TLS client certificate, put in the scope by our TLS listener."""
        return (self.scope.get("extensions") or {}).get("tls", {}).get("client_cert_der")

    async def body(self, limit: int) -> bytes:
        """Read the whole body, keeping at most ``limit`` bytes.

        An oversized body is read to its end without being kept (up to a hard cap),
        so that the client, still sending, receives the 413 instead of a reset.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif size > _DRAIN_CAP:
                raise _too_large(size, limit)
            if not message.get("more_body"):
                break
        if size > limit:
            raise _too_large(size, limit)
        return b"".join(chunks)


_DRAIN_CAP = 64 * 1024 * 1024


def _too_large(size: int, limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"the request body is too large: over {size} bytes against a limit of {limit} bytes; "
        "send a smaller object, or start the server with a larger --max-request-body-bytes"
    )


async def send_bytes(send: Send, status: int, body: bytes, content_type: str,
                     headers: list[tuple[str, str]] | None = None) -> None:
    raw_headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in headers or ()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
    await send_bytes(send, status, json.dumps(body, separators=(",", ":")).encode(), "application/json", headers)
