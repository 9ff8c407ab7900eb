"""The local cache: one bare repository per URL, shared by every registration of that URL.

Porch keeps the same layout: remote branches are mirrored under ``refs/remotes/origin/``
and tags under ``refs/tags/``, pruned on every fetch, so the cache's refs are exactly the
server's as of the last fetch or push. Ref helpers here are blocking.

Reading thousands of ref files on every call costs O(refs), so ``Shared.refs`` keeps the
same view in memory: loaded from disk once (under the lock), then replaced (never
mutated) by every mirror and push. Readers take the current dict without a lock. On
disk, each change rewrites the packed-refs file from that view in one atomic write
(formatting only, nothing is parsed back) and drops the loose files of the refs it
touched, so any loose ref left on disk agrees with the view.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from dulwich.errors import GitProtocolError
from dulwich.file import GitFile
from dulwich.object_store import DiskObjectStore, ObjectStoreGraphWalker
from dulwich.pack import Pack
from dulwich.refs import DiskRefsContainer, write_packed_refs
from dulwich.repo import Repo

from porch_embedded.vcs import _layout as layout
from porch_embedded.vcs._history import History

__all__ = ["CacheRepo", "GitCache", "Shared", "apply_updates", "local_name", "mirror", "remote_view"]

LOCAL_BRANCHES = b"refs/remotes/origin/"

GIT = shutil.which("git")
"""The git command line, when this machine has one: fetched packs are indexed with it."""
INDEX_CHUNK = 1 << 20


@dataclass
class Shared:
    """What registrations of one URL share: the bare repository, its history and its lock."""

    path: Path
    lock: trio.Lock = field(default_factory=trio.Lock)
    history: History = field(default_factory=History)
    refs: Mapping[str, str] | None = None
    """The cache's refs named as on the server, as ``remote_view`` would read them; None
    until loaded. Replaced whole under ``lock``, never changed in place."""
    discovered: dict[str, Mapping[tuple[str, str], Any]] = field(default_factory=dict)
    """Per registered directory, what discovery made of each (ref, object id) it last saw,
    so that a snapshot only reads the refs that changed (see ``discover_blocking``)."""
    branch_packages: dict[str, tuple[bytes, dict[str, bytes]]] = field(default_factory=dict)
    """Per registered directory, the packages found in the last branch tree walked: (tree id, path -> tree)."""
    package_walks: dict[bytes, tuple[tuple[str, bytes], ...]] = field(default_factory=dict)
    """``find_packages``'s memo: the packages below each directory tree already walked."""
    walk_lock: threading.Lock = field(default_factory=threading.Lock)
    """Guards ``package_walks``, which snapshots in several worker threads update in place."""

    def view(self, repo: Repo) -> Mapping[str, str]:
        """The cache's refs: the in-memory view, or (before it is loaded) read from disk."""
        refs = self.refs
        return refs if refs is not None else remote_view(repo)

    def load(self, repo: Repo) -> Mapping[str, str]:
        """The view, read from disk the first time; call only with ``lock`` held.

        Only this process writes the cache, and only under ``lock``: a packed-refs lock
        file found here was left by a kill -9 and would block every later write, so it goes.
        """
        if self.refs is None:
            with suppress(FileNotFoundError):
                os.remove(os.path.join(repo.controldir(), "packed-refs.lock"))
            self.refs = remote_view(repo)
        return self.refs


class CacheRepo(Repo):
    """The cache's bare repository, whose fetches offer the mirrored branches as "have".

    dulwich offers a fetch's server only ``refs/heads/*`` as what the client has; the
    cache keeps branches under ``refs/remotes/origin/`` and has no ``refs/heads/``, so
    without this every fetch that wants anything would download the whole history again.
    ``have_heads`` (set from the view before a fetch) saves reading them from disk.
    """

    have_heads: list[bytes] | None = None

    def __init__(self, root: str, **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        if GIT is not None:
            store = self.object_store
            assert isinstance(store, DiskObjectStore)

            def add_thin_pack(read_all: Any, read_some: Any = None, **_: Any) -> Pack:
                return index_pack_with_git(store, read_all)

            store.add_thin_pack = add_thin_pack  # type: ignore[method-assign]

    def get_graph_walker(self, heads: list[bytes] | None = None) -> ObjectStoreGraphWalker:  # type: ignore[override]
        if heads is None:
            heads = self.have_heads
        if heads is None:
            store = self.object_store
            heads = [sha for sha in self.refs.as_dict(LOCAL_BRANCHES.rstrip(b"/")).values() if sha in store]
        return super().get_graph_walker(heads)  # type: ignore[arg-type]


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


def index_pack_with_git(store: DiskObjectStore, read: Any) -> Pack:
    """Add a fetched (thin) pack to ``store`` with ``git index-pack --fix-thin``; return it.

    dulwich indexes a received pack in Python in three passes over every object (copy,
    resolve every delta chain, then parse every object again to validate it): ~10 s for
    the 70,000 objects of a 10,000-revision repository, against ~0.5 s for git's own
    indexer, which checks the same things (every object hashes and parses, every delta
    resolves, thin bases are appended). The pack streams from dulwich's spool file to
    git in 1 MiB chunks, so it is never whole in memory. git writes the .pack before
    the .idx and renames both into place, and dulwich only opens packs that have an
    .idx, so a kill -9 leaves at most a temporary file behind, never a half pack.
    Raises GitProtocolError (the server sent a pack git refuses) with git's message.
    """
    assert GIT is not None
    env = {"GIT_DIR": os.path.dirname(store.path), "PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}
    process = subprocess.Popen([GIT, "index-pack", "--stdin", "--fix-thin"], env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None
    try:
        try:
            while chunk := read(INDEX_CHUNK):
                process.stdin.write(chunk)
        except BrokenPipeError:
            pass  # git stopped reading: its exit status and message say why
        out, err = process.communicate()
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise GitProtocolError(f"the fetched pack is invalid: {err.decode(errors='replace').strip()[-300:]}")
    name = "pack-" + out.decode().split()[-1]
    store._update_pack_cache()
    return store._pack_cache[name]


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


def mirror(repo: Repo, shared: Shared, remote: Mapping[str, str], only: Iterable[str] | None = None) -> None:
    """Make the cache's branch and tag refs exactly the server's (pruning the gone ones).

    With ``only``, just those refs are made the server's (``remote`` then lists only
    those of them that exist). Only refs that differ are written, all in one packed-refs
    rewrite (a fetch after an external push of many tags costs one file write, not one
    per ref). Call with ``shared.lock`` held.
    """
    current = shared.load(repo)
    if only is not None:
        view = dict(current)
        for ref in only:
            if ref in remote:
                view[ref] = remote[ref]
            else:
                view.pop(ref, None)
    else:
        view = dict(remote)
    changed = [ref for ref, sha in view.items() if current.get(ref) != sha]
    changed.extend(current.keys() - view.keys())
    if changed:
        _store(repo, view, changed)
        shared.refs = view


def apply_updates(repo: Repo, shared: Shared, updates: Mapping[str, tuple[str, str]]) -> None:
    """Record a successful push in the cache, so reads see it without a fetch.

    Call with ``shared.lock`` held.
    """
    view = dict(shared.load(repo))
    for ref, (_expected, new) in updates.items():
        if new:
            view[ref] = new
        else:
            view.pop(ref, None)
    _store(repo, view, updates)
    shared.refs = view


def _store(repo: Repo, view: Mapping[str, str], touched: Iterable[str]) -> None:
    """Write ``view`` as the cache's refs: packed-refs in one atomic write, touched loose refs dropped.

    A kill -9 in between leaves refs that are stale, never corrupt; the next fetch mirrors
    the server again.
    """
    refs = repo.refs
    assert isinstance(refs, DiskRefsContainer)
    for ref in touched:
        with suppress(OSError):
            os.remove(refs.refpath(local_name(ref)))
    with GitFile(os.path.join(repo.controldir(), "packed-refs"), "wb") as f:
        write_packed_refs(f, {local_name(ref): sha.encode() for ref, sha in view.items()})  # type: ignore[misc]
