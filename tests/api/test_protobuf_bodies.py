"""Malformed protobuf request bodies (kubectl's typed clients send protobuf) are 400, never 500."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_bad_input import assert_status
from tests.parts.server import RunningServer

SECRETS = "/api/v1/namespaces/default/secrets"
PROTOBUF = {"content-type": "application/vnd.kubernetes.protobuf"}


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here stay under 128 bytes)."""
    return bytes([(number << 3) | 2, len(payload)]) + payload


def secret(body: bytes) -> bytes:
    """A runtime.Unknown envelope holding a v1 Secret message ``body``."""
    return b"k8s\x00" + field(1, field(1, b"v1") + field(2, b"Secret")) + field(2, body)


NAME_AS_NUMBER = bytes([(1 << 3) | 0, 5])


@pytest.mark.parametrize(("raw", "fragment"), [
    (secret(field(1, field(1, b"\xff\xfe"))), "text that is not UTF-8"),
    (secret(field(1, field(11, field(1, b"k") + field(2, b"\xff")))), "text that is not UTF-8"),
    (secret(field(1, NAME_AS_NUMBER)), "a number where a message or text field belongs"),
    (secret(bytes([(1 << 3) | 0, 5])), "a number where a message or text field belongs"),
    (secret(field(1, field(9, bytes([8]) + b"\xff" * 9 + b"\x01"))), "out of range"),
    (secret(field(1, b"\x0a\x7f")), "ends in the middle of a field"),
])
async def test_malformed_protobuf_is_bad_request(server: RunningServer, raw: bytes, fragment: str) -> None:
    async with server.client() as admin:
        response: httpx.Response = await admin.post(SECRETS, content=raw, headers=PROTOBUF)
        assert_status(response, 400, "BadRequest", fragment)
        assert (await admin.get(SECRETS)).json()["items"] == []


async def test_well_formed_protobuf_still_creates(server: RunningServer) -> None:
    raw = secret(field(1, field(1, b"plain")) + field(4, field(1, b"k") + field(2, b"v")))
    async with server.client() as admin:
        response = await admin.post(SECRETS, content=raw, headers=PROTOBUF)
        assert response.status_code == 201, response.text
        assert response.json()["metadata"]["name"] == "plain"
