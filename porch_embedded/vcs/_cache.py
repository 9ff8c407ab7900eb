"""The local cache: one bare repository per URL, shared by every registration of that URL.

Porch keeps the same layout: remote branches are mirrored under ``refs/remotes/origin/``
and tags under ``refs/tags/``, pruned on every fetch, so the cache's refs are exactly the
server's as of the last fetch or push. Ref helpers here are blocking.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trio
from dulwich.repo import Repo

from porch_embedded.vcs import _layout as layout
from porch_embedded.vcs._history import History

__all__ = ["GitCache", "Shared", "apply_updates", "local_name", "mirror", "remote_view"]

LOCAL_BRANCHES = b"refs/remotes/origin/"


@dataclass
class Shared:
    """What registrations of one URL share: the bare repository, its history and its lock."""

    path: Path
    lock: trio.Lock = field(default_factory=trio.Lock)
    history: History = field(default_factory=History)


class GitCache:
    """Bare repositories, one per URL, under ``root/git``; and the limiter of git threads.

    The composition root makes one per process and hands it to every ``open_git_adapter``.
    """

    def __init__(self, root: Path, *, threads: int = 8) -> None:
        self.root = Path(root) / "git"
        self.limiter = trio.CapacityLimiter(threads)
        self._shared: dict[str, Shared] = {}

    def shared(self, url: str) -> Shared:
        """The cache entry of ``url`` (user info already removed), made on first use."""
        entry = self._shared.get(url)
        if entry is None:
            readable = re.sub(r"[^A-Za-z0-9._-]", "-", url)[:80]
            digest = hashlib.sha256(url.encode()).hexdigest()[:10]
            entry = Shared(self.root / f"{readable}-{digest}")
            self._shared[url] = entry
        return entry


def local_name(ref: str) -> bytes:
    """Where a remote ref lives in the cache: branches under refs/remotes/origin/, tags as they are."""
    if ref.startswith(layout.HEADS):
        return LOCAL_BRANCHES + ref[len(layout.HEADS) :].encode()
    return ref.encode()


def remote_view(repo: Repo) -> dict[str, str]:
    """The cache's refs named as on the server: refs/heads/... and refs/tags/... -> object id."""
    view: dict[str, str] = {}
    for name, sha in repo.refs.as_dict(b"refs/remotes/origin").items():
        view[layout.HEADS + name.decode()] = sha.decode()
    for name, sha in repo.refs.as_dict(b"refs/tags").items():
        view[layout.TAGS + name.decode()] = sha.decode()
    return view


def mirror(repo: Repo, remote: Mapping[str, str]) -> None:
    """Make the cache's branch and tag refs exactly the server's (pruning the gone ones)."""
    current = remote_view(repo)
    for ref, sha in remote.items():
        if current.get(ref) != sha:
            repo.refs[local_name(ref)] = sha.encode()
    for ref in current.keys() - remote.keys():
        repo.refs.remove_if_equals(local_name(ref), None)


def apply_updates(repo: Repo, updates: Mapping[str, tuple[str, str]]) -> None:
    """Record a successful push in the cache, so reads see it without a fetch."""
    for ref, (_expected, new) in updates.items():
        if new:
            repo.refs[local_name(ref)] = new.encode()
        else:
            repo.refs.remove_if_equals(local_name(ref), None)
