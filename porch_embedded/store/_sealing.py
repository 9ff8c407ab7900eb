"""Encryption at rest of chosen top-level fields (Fernet from ``cryptography``).

A sealed resource's named fields (e.g. ``secrets``: ``data``, ``stringData``) are taken out
of the body before it is written and stored beside it as one Fernet token; the rest of the
body stays queryable JSON. Reads put them back. A token is authenticated, so a wrong key
fails loudly (``InvalidToken``) instead of returning garbage; the store also keeps a key
check value so that a wrong key is refused when the database is opened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken

from porch_embedded.errors import BadRequest, StoreUnavailable
from porch_embedded.store._bodies import Body

__all__ = ["Sealer"]

_KEY_CHECK_PLAINTEXT = b"porch-embedded store key check"


class Sealer:
    """Seals and unseals the configured fields of bodies with one Fernet key."""

    def __init__(self, key: bytes, sealed_fields: Mapping[str, Sequence[str]]) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise BadRequest(
                "the store encryption key is not a Fernet key: it must be 32 random bytes, "
                "url-safe base64-encoded (cryptography.fernet.Fernet.generate_key())"
            ) from exc
        self._fields = {resource: tuple(fields) for resource, fields in sealed_fields.items()}

    def seal(self, resource: str, body: Body) -> tuple[Body, str | None]:
        """Split ``body`` into (public body, token of the sealed fields or None)."""
        fields = self._fields.get(resource)
        if not fields or not any(name in body for name in fields):
            return body, None
        public = dict(body)
        secret = {name: public.pop(name) for name in fields if name in public}
        token = self._fernet.encrypt(json.dumps(secret, separators=(",", ":")).encode())
        return public, token.decode("ascii")

    def unseal(self, body: Body, token: str | None) -> Body:
        """Put the sealed fields of ``token`` back into ``body`` (in place)."""
        if token:
            try:
                body.update(json.loads(self._fernet.decrypt(token.encode("ascii"))))
            except InvalidToken as exc:
                raise StoreUnavailable(
                    "a sealed field cannot be decrypted with the configured encryption key"
                ) from exc
        return body

    def key_check(self) -> str:
        """A token that only this key decrypts, kept in the database to recognise the key."""
        return self._fernet.encrypt(_KEY_CHECK_PLAINTEXT).decode("ascii")

    def verify_key_check(self, token: str, where: str) -> None:
        """Raise StoreUnavailable if the database at ``where`` was sealed with another key."""
        try:
            ok = self._fernet.decrypt(token.encode("ascii")) == _KEY_CHECK_PLAINTEXT
        except InvalidToken:
            ok = False
        if not ok:
            raise StoreUnavailable(
                f"the store at {where} was created with a different encryption key: "
                "start with the key it was created with (the store key file, --store-key-file of `serve`; "
                "sealed fields cannot be read otherwise)"
            )
