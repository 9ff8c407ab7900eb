"""Continue tokens of paged lists: opaque to clients, checked on the way back in."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from porch_embedded.errors import BadRequest

__all__ = ["ContinueToken", "after_token"]

_VERSION = 1


@dataclass(frozen=True)
class ContinueToken:
    """Where the next page starts: after (namespace, name), in a list first read at ``rv``."""

    resource: str
    resource_version: int
    namespace: str
    name: str

    def encode(self) -> str:
        payload = {
            "v": _VERSION,
            "r": self.resource,
            "rv": self.resource_version,
            "ns": self.namespace,
            "n": self.name,
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str, resource: str) -> ContinueToken:
        """Parse a token from a previous page of the same list; BadRequest otherwise."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
            parsed = cls(
                resource=payload["r"],
                resource_version=int(payload["rv"]),
                namespace=payload["ns"],
                name=payload["n"],
            )
            valid = (
                payload.get("v") == _VERSION
                and isinstance(parsed.namespace, str)
                and isinstance(parsed.name, str)
                and isinstance(parsed.resource, str)
            )
        except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
            valid = False
        if not valid:
            raise BadRequest(
                f"continue token {token[:64]!r} is not valid: pass the continue value of the "
                "previous page unchanged, or list again without continue"
            )
        if parsed.resource != resource:
            raise BadRequest(
                f"continue token belongs to a list of {parsed.resource}, not {resource}: "
                "list again without continue"
            )
        return parsed


def after_token(token: ContinueToken, namespace: str, mark: str) -> tuple[str, list[str]]:
    """The condition (over table alias ``o``, ``mark`` the placeholder) for the rows after ``token``
    in (namespace, name) order, in a list of ``namespace`` ("" for every namespace).

    Within one namespace it is ``o.name > ?``, not the row value ``(o.namespace, o.name) >
    (?, ?)``: next to ``o.namespace = ?`` the row value made SQLite read and sort every row
    after the token (bodies included) before taking a page, so that a page near the start
    of 12,500 objects cost seven times the first; ``o.name > ?`` walks the primary key's
    index in order and stops after the page. The rows selected are the same.
    """
    if not namespace:
        return f"(o.namespace, o.name) > ({mark}, {mark})", [token.namespace, token.name]
    if token.namespace == namespace:
        return f"o.name > {mark}", [token.name]
    return ("1 = 1" if token.namespace < namespace else "1 = 0"), []
