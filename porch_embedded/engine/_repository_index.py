"""An index of registered git repositories by normalised URL and branch, fed by an informer.

Refusing a conflicting registration must compare a new Repository with the others of
the same git repository only; listing every Repository for each registration would
make registering N repositories cost O(N^2). The engine's Repository informer keeps the
index (``apply`` each event); the engine waits for its own writes to reach it, so a
request that follows another through the same process sees it.
"""

from __future__ import annotations

import trio

from porch_embedded.kinds import REPOSITORY, Body
from porch_embedded.store import WatchEvent

__all__ = ["RepositoryIndex", "normalized_url"]

Key = tuple[str, str]


def normalized_url(url: str) -> str:
    """The URL as Porch compares registrations: no scheme, no trailing slash or .git, lower case."""
    url = url.strip().rstrip("/").removesuffix(".git")
    return url.split("://", 1)[-1].lower()


def _key(body: Body) -> Key | None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    git = spec.get("git") if isinstance(spec.get("git"), dict) else {}
    url, branch = git.get("repo"), git.get("branch") or "main"
    if spec.get("type") != "git" or not isinstance(url, str) or not isinstance(branch, str):
        return None
    return normalized_url(url), branch


def _name(body: Body) -> tuple[str, str]:
    return body["metadata"].get("namespace", ""), body["metadata"]["name"]


class RepositoryIndex:
    """Registered Repositories by (normalised URL, branch); ``ready`` once the first list is in."""

    def __init__(self) -> None:
        self._by_key: dict[Key, dict[tuple[str, str], Body]] = {}
        self._key_of: dict[tuple[str, str], Key] = {}
        self.ready = trio.Event()

    def _record(self, body: Body) -> None:
        self._forget(*_name(body))
        key = _key(body)
        if key is not None:
            self._by_key.setdefault(key, {})[_name(body)] = body
            self._key_of[_name(body)] = key

    def _forget(self, namespace: str, name: str) -> None:
        key = self._key_of.pop((namespace, name), None)
        if key is not None:
            self._by_key.get(key, {}).pop((namespace, name), None)

    def same_repository(self, body: Body) -> list[Body]:
        """Registered Repositories of the same git repository and branch as ``body``."""
        key = _key(body)
        return list(self._by_key.get(key, {}).values()) if key is not None else []

    def apply(self, event: WatchEvent) -> None:
        """Follow one informer event of a Repository."""
        if event.type == "DELETED":
            self._forget(*_name(event.object))
        else:
            self._record(event.object)
