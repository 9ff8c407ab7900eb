"""The seams ApiApp is built from: the kinds the composition root hands it, async authn and authz.

The app is driven as the ASGI application it is (as hypercorn drives it), over a real
store of each kind; the authenticator and authorizer here are other implementations of
the two protocols that wait on the event loop before answering, as the TokenReview and
SubjectAccessReview clients of aggregated mode will.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography.fernet import Fernet

from porch_embedded.api import ApiApp
from porch_embedded.engine import Engine
from porch_embedded.errors import Unauthorized
from porch_embedded.kinds import NAMESPACE, REPOSITORY, Kind
from porch_embedded.meta import UserInfo
from porch_embedded.runners import RunnerSettings, build_function_runner
from porch_embedded.store import Store, open_store

REPOSITORIES = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"
REVISIONS = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions"


@dataclass
class RemoteAuthenticator:
    """Knows one token; answers only after yielding to the event loop, as a network call does."""

    token: str
    asked: list[str] = field(default_factory=list)

    async def authenticate(self, headers: Mapping[str, str], peer_certificate: bytes | None) -> UserInfo:
        await trio.sleep(0.01)
        presented = headers.get("authorization", "").removeprefix("Bearer ")
        self.asked.append(presented)
        if presented != self.token:
            raise Unauthorized("Unauthorized: the token review said no")
        return UserInfo("reviewed", groups=("system:authenticated",))


@dataclass
class RemoteAuthorizer:
    """Allows reads only; answers only after yielding to the event loop."""

    asked: list[str] = field(default_factory=list)

    async def authorize(self, user: UserInfo, request: Any) -> bool:
        await trio.sleep(0.01)
        self.asked.append(f"{user.name} {request.verb} {request.path}")
        return request.verb in ("get", "list", "watch")


@dataclass
class Response:
    status: int
    body: Any


async def call(app: ApiApp, method: str, path: str, *, token: str = "good", body: Any = None) -> Response:
    """One request through the app's ASGI interface."""
    payload = json.dumps(body).encode() if body is not None else b""
    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]}
    received = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await trio.sleep_forever()
        received = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Response(status, json.loads(b"".join(chunks) or b"null"))


@pytest.fixture
async def store(tmp_path: Path, new_store_url: Callable[[], str]) -> AsyncIterator[Store]:
    url = new_store_url() or f"sqlite:///{tmp_path / 'store.db'}"
    async with open_store(url, encryption_key=Fernet.generate_key()) as opened:
        yield opened


def build(store: Store, kinds: Sequence[Kind], authenticator: RemoteAuthenticator,
          authorizer: RemoteAuthorizer) -> ApiApp:
    def no_repositories(access: Any) -> Any:
        raise AssertionError("these tests register no repository")

    engine = Engine(store, no_repositories, build_function_runner(RunnerSettings(kind="none")))
    return ApiApp(engine, store, kinds, authenticator, authorizer)


async def test_only_the_kinds_the_composition_root_passes_are_served(store: Store) -> None:
    app = build(store, (NAMESPACE, REPOSITORY), RemoteAuthenticator("good"), RemoteAuthorizer())
    listed = await call(app, "GET", REPOSITORIES)
    assert (listed.status, listed.body["kind"]) == (200, "RepositoryList")
    missing = await call(app, "GET", REVISIONS)
    assert (missing.status, missing.body["reason"]) == (404, "NotFound")
    groups = (await call(app, "GET", "/apis")).body
    assert [group["name"] for group in groups["groups"]] == ["config.porch.kpt.dev"]


async def test_authentication_and_authorization_are_awaited_for_every_request(store: Store) -> None:
    authenticator, authorizer = RemoteAuthenticator("good"), RemoteAuthorizer()
    app = build(store, (NAMESPACE, REPOSITORY), authenticator, authorizer)
    assert (await call(app, "GET", REPOSITORIES)).status == 200
    refused = await call(app, "GET", REPOSITORIES, token="stolen")
    assert (refused.status, refused.body["reason"]) == (401, "Unauthorized")
    assert refused.body["message"] == "Unauthorized: the token review said no"
    repository = {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "r"},
                  "spec": {"type": "git", "git": {"repo": "http://127.0.0.1:1/r.git"}}}
    forbidden = await call(app, "POST", REPOSITORIES, body=repository)
    assert (forbidden.status, forbidden.body["reason"]) == (403, "Forbidden")
    assert forbidden.body["message"] == ('repositories.config.porch.kpt.dev is forbidden: User "reviewed" cannot '
                                         'create resource "repositories" in API group "config.porch.kpt.dev" '
                                         'in the namespace "default"')
    assert authenticator.asked == ["good", "stolen", "good"]
    assert authorizer.asked == [f"reviewed list {REPOSITORIES}", f"reviewed create {REPOSITORIES}"]
    assert (await call(app, "GET", f"{REPOSITORIES}/r")).status == 404, "the refused create wrote nothing"
