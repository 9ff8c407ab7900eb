"""Talking to a git server over smart HTTP with dulwich: ls-remote, fetch, push (all blocking).

Every function here is ``*_blocking``: it runs in a worker thread and never touches trio.
Library errors are translated once, here, by ``git_errors``; credentials never reach a
message: URLs are shown without user info, and any text taken from a library exception
has the secret values masked before it is used.
"""

from __future__ import annotations

import hashlib
import io
import logging
import stat
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from dulwich.client import HTTPProxyUnauthorized, HTTPUnauthorized, Urllib3HttpGitClient
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.objects import S_ISGITLINK, ZERO_SHA, Commit, ShaFile
from dulwich.pack import pack_objects_to_data
from dulwich.repo import Repo
from urllib3.exceptions import ProtocolError

from porch_embedded import metrics
from porch_embedded.errors import (
    RefConflict,
    RepositoryAuthFailed,
    RepositoryNotFound,
    RepositoryUnavailable,
)
from porch_embedded.vcs._layout import HEADS, TAGS
from porch_embedded.vcs._protocol import Credentials

__all__ = [
    "ANY",
    "BaseNotAdvertised",
    "PushRejected",
    "Remote",
    "StaleRef",
    "pack_of_created",
    "refs_version",
]

log = logging.getLogger("porch_embedded.vcs")

ANY = "*"
"""Expectation for a ref in a push: whatever it is now (used to delete refs that may be absent)."""
ABSENT = ""
"""Expectation for a ref in a push: it must not exist yet."""

TIMEOUT_S = 30.0
"""Connecting to the git server."""
READ_TIMEOUT_S = 600.0
"""Waiting for the git server's next bytes. A first fetch of a large repository waits while
the server counts and compresses every object before it sends any (100,000 revisions:
over a minute on 2 busy cores), so 30 s cut it off; a server that hangs is still bounded
by the sync's own budget."""


def split_url(url: str) -> tuple[str, Credentials]:
    """Take user info out of a URL: (URL without it, credentials it carried)."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url, Credentials()
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, Credentials(unquote(parts.username or ""), unquote(parts.password or ""))


def refs_version(refs: Mapping[str, str]) -> str:
    """sha256 over the sorted branch and tag refs: changes whenever any of them moves."""
    digest = hashlib.sha256()
    for name in sorted(refs):
        if name.startswith((HEADS, TAGS)) and not name.endswith("^{}"):
            digest.update(f"{refs[name]} {name}\n".encode())
    return digest.hexdigest()


class StaleRef(Exception):
    """A ref on the server is not what a push expected; raised before anything is sent."""

    def __init__(self, ref: str, expected: str, actual: str) -> None:
        super().__init__(f"{ref} is at {actual or 'nothing'}, expected {expected or 'nothing'}")
        self.ref, self.expected, self.actual = ref, expected, actual


class BaseNotAdvertised(Exception):
    """A push built on a commit that no ref on the server points at any more (raised before sending).

    The write's parent came from the cache's view of a ref that has since moved on the
    server: the server most likely still has it, but a push cannot prove that without
    walking history, so the writer refreshes the ref and builds again on its new value.
    """

    def __init__(self, commit: str) -> None:
        super().__init__(f"{commit} is no longer the value of any ref on the server")
        self.commit = commit


class PushRejected(Exception):
    """The server refused one or more ref updates of a push (nothing landed if it was atomic)."""

    def __init__(self, statuses: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{ref}: {why}" for ref, why in sorted(statuses.items())))
        self.statuses = dict(statuses)


def _buffered_read(response: Any, client: _Client) -> Callable[..., bytes]:
    """``read`` of an HTTP response through a 64 KiB buffer, with dulwich's error mapping.

    dulwich reads a ref advertisement one pkt-line at a time (two reads per ref), and
    each unbuffered urllib3 read costs tens of microseconds: at 10,000 refs that is most
    of a push's client time. The buffer takes the body in large chunks instead. What is
    read is counted on ``client`` (the porch_git_bytes metric).
    """
    buffered = io.BufferedReader(response, buffer_size=65536)

    def read(size: int = -1) -> bytes:
        try:
            data = buffered.read(size)
        except ProtocolError as exc:
            raise GitProtocolError(str(exc)) from exc
        client.received += len(data)
        return data

    return read


def _counted(chunks: Iterator[bytes], client: _Client) -> Iterator[bytes]:
    for chunk in chunks:
        client.sent += len(chunk)
        yield chunk


class _Client(Urllib3HttpGitClient):
    """dulwich's HTTP client, plus a bearer token sent only to the repository's own origin.

    dulwich 1.2 stores ``extra_headers`` but never sends them, so the token is added per
    request here, the same way dulwich scopes basic-auth credentials.
    """

    def __init__(self, url: str, credentials: Credentials) -> None:
        basic = credentials.username and not credentials.bearer_token
        super().__init__(
            url,
            username=credentials.username if basic else None,
            password=credentials.password if basic else None,
            timeout=urllib3.Timeout(connect=TIMEOUT_S, read=READ_TIMEOUT_S),
            quiet=True,
        )
        self._bearer = credentials.bearer_token
        self._bearer_origin = self._origin(url)
        self.sent = 0
        self.received = 0

    def _http_request(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        data: Any = None,
        raise_for_status: bool = True,
    ) -> Any:
        if self._bearer and self._origin(url) == self._bearer_origin:
            headers = {**(headers or {}), "Authorization": f"Bearer {self._bearer}"}
        if isinstance(data, bytes):
            self.sent += len(data)
        elif data is not None:
            data = _counted(data, self)
        response, _unbuffered = super()._http_request(url, headers, data, raise_for_status)
        return response, _buffered_read(response, self)

    def close(self) -> None:
        """Drop pooled connections now rather than at garbage collection."""
        self.pool_manager.clear()


class Remote:
    """One remote repository (URL + credentials) and the translation of its failures."""

    def __init__(self, url: str, credentials: Credentials | None = None, *, secret_name: str = "") -> None:
        clean, embedded = split_url(url)
        self.url = clean
        self.credentials = credentials if credentials else embedded
        self.secret_name = secret_name
        self._masks = tuple(self.credentials.secrets()) + tuple(embedded.secrets())

    @contextmanager
    def client(self, operation: str) -> Iterator[_Client]:
        """A client for one ``operation``; its connections are closed afterwards.

        The operation's duration, result and bytes each way go to the git metrics.
        """
        client = _Client(self.url, self.credentials)
        try:
            with metrics.timed(metrics.GIT_SECONDS, operation=operation):
                yield client
        finally:
            client.close()
            metrics.record(metrics.GIT_BYTES, client.sent, operation=operation, direction="sent")
            metrics.record(metrics.GIT_BYTES, client.received, operation=operation, direction="received")

    def redact(self, text: str) -> str:
        """``text`` with every secret value masked and user info dropped from URLs."""
        for secret in self._masks:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Translate dulwich and network failures while ``action`` runs into the error tree."""
        try:
            yield
        except (HTTPUnauthorized, HTTPProxyUnauthorized) as exc:
            if self.credentials:
                secret = f"Secret {self.secret_name!r}" if self.secret_name else "the repository's Secret"
                message = (
                    f"{self.url}: the git server refused the credentials of {secret} while {action}; "
                    "check the username and password (or bearerToken) it holds"
                )
            else:
                message = (
                    f"{self.url}: the git server requires credentials while {action}, and the "
                    "repository has none; set spec.git.secretRef to a Secret that holds them"
                )
            raise RepositoryAuthFailed(message) from exc
        except NotGitRepository as exc:
            raise RepositoryNotFound(
                f"{self.url}: no git repository at this URL (the server answered 404) while {action}"
            ) from exc
        except (GitProtocolError, HangupException, OSError) as exc:
            detail = self.redact(str(exc))[:300] or type(exc).__name__
            raise RepositoryUnavailable(
                f"{self.url}: the git server failed while {action}: {detail}"
            ) from exc

    # -- operations -------------------------------------------------------------------

    def ls_remote_blocking(self) -> dict[str, str]:
        """The remote's refs (peeled entries and HEAD dropped): full name -> object id."""
        with self.errors("listing refs"), self.client("ls-remote") as client:
            result = client.get_refs(b"")
        return {
            name.decode(): sha.decode()
            for name, sha in result.refs.items()
            if sha is not None and name.startswith((b"refs/heads/", b"refs/tags/")) and not name.endswith(b"^{}")
        }

    def fetch_blocking(
        self, repo: Repo, known: Mapping[str, str] | None = None, only: Collection[str] | None = None
    ) -> dict[str, str]:
        """Fetch every branch and tag into ``repo``'s object store; return the remote refs.

        ``known`` is what the caller's refs say (server names): refs that still point
        where it says are not checked against the object store, so an unchanged
        repository costs one ref listing, and a changed one only its changed refs' objects.
        With ``only`` (full ref names), just those refs are listed (by the server when it
        speaks protocol v2) and fetched, and only those that exist are returned.
        The caller mirrors the refs into its own namespace; nothing here writes a ref.
        """
        store = repo.object_store
        seen = known or {}
        wanted = {name.encode() for name in only} if only is not None else None

        def relevant(name: bytes, sha: bytes | None) -> bool:
            if sha is None or name.endswith(b"^{}") or not name.startswith((b"refs/heads/", b"refs/tags/")):
                return False
            return wanted is None or name in wanted

        def determine_wants(refs: Mapping[bytes, bytes | None], depth: int | None = None) -> list[bytes]:
            wants: dict[bytes, None] = {}
            for name, sha in refs.items():
                if relevant(name, sha) and seen.get(name.decode()) != sha.decode() and sha not in store:  # type: ignore[union-attr]
                    wants[sha] = None  # type: ignore[index]
            return list(wants)

        prefixes = sorted(wanted) if wanted is not None else None
        with self.errors("fetching"), self.client("fetch") as client:
            result = client.fetch(b"", repo, determine_wants=determine_wants, ref_prefix=prefixes)  # type: ignore[arg-type]
        return {name.decode(): sha.decode() for name, sha in result.refs.items() if relevant(name, sha)}  # type: ignore[union-attr]

    def push_blocking(
        self,
        repo: Repo,
        updates: Mapping[str, tuple[str, str]],
        created: Mapping[bytes, ShaFile] | None = None,
        based_on: Collection[str] = (),
    ) -> dict[str, str]:
        """Update several remote refs in one receive-pack, atomically when the server allows.

        ``updates`` maps a full ref name to (expected current value, new value): expected is
        an object id, ``ABSENT`` or ``ANY``; new is an object id or ``""`` to delete. Raises
        StaleRef (before sending anything) when a ref is not as expected, PushRejected when
        the server refuses an update. Returns the remote's refs as they are after the push.

        ``created`` (the objects the caller's write made, see ``pack_of_created``) lets the
        pack be built in O(those objects); without it, or when it cannot be proven enough,
        dulwich finds the missing objects by walking history, which costs O(repository).
        ``based_on`` (commit ids the created commits have as parents, taken from the cache's
        view) must each be the value of some ref the server advertises, or lead back to such
        values within a few commits (``objects_since``; those commits and what they changed
        then go in the pack too, as the git CLI would send them), else BaseNotAdvertised is
        raised before anything is sent: the caller refreshes its base instead of walking.
        """
        extra: dict[bytes, ShaFile] = {}

        def update_refs(remote: dict[bytes, bytes]) -> dict[bytes, bytes]:
            if based_on:
                advertised = set(remote.values())
                missing = [commit.encode() for commit in based_on if commit.encode() not in advertised]
                if missing:
                    since = objects_since(repo.object_store, missing, advertised)
                    if since is None:
                        raise BaseNotAdvertised(missing[0].decode())
                    extra.update((obj.id, obj) for obj in since)
            new = dict(remote)
            for ref, (expected, value) in updates.items():
                key = ref.encode()
                actual = remote.get(key, b"").decode()
                if expected != ANY and actual != expected:
                    raise StaleRef(ref, expected, actual)
                if value:
                    new[key] = value.encode()
                elif key in new:
                    new[key] = ZERO_SHA
            return new

        def pack_data(have: Any, want: Any, *, ofs_delta: bool = False, progress: Callable[..., None] | None = None) -> Any:
            if created is not None:
                objects = pack_of_created({**extra, **created}, set(have), set(want))
                if objects is not None:
                    return pack_objects_to_data(objects, ofs_delta=ofs_delta)
                log.debug("%s: push needs objects the write did not create; finding them in history", self.url)
            store = repo.object_store
            known = {sha for sha in have if sha in store}
            return repo.generate_pack_data(known, set(want), ofs_delta=ofs_delta)

        with self.errors("pushing"), self.client("push") as client:
            try:
                result = client.send_pack(b"", update_refs, pack_data, atomic=True)
            except GitProtocolError as exc:
                if "atomic" not in str(exc):
                    raise
                log.warning("%s: server does not support atomic pushes; pushing refs one by one", self.url)
                result = client.send_pack(b"", update_refs, pack_data)
        rejected = {
            ref.decode(): str(why) for ref, why in (result.ref_status or {}).items() if why is not None
        }
        if rejected:
            raise PushRejected(rejected)
        refs = {}
        for name, sha in (result.refs or {}).items():
            if sha is not None and sha != ZERO_SHA:
                refs[name.decode()] = sha.decode()
        return refs


def pack_of_created(created: Mapping[bytes, ShaFile], have: set[bytes], want: set[bytes]) -> list[ShaFile] | None:
    """The objects a push must send when they are exactly what the write created, else None.

    The adapter builds every commit on parents the server has, reusing only objects
    reachable from those parents (unchanged subtrees) next to the ones it just made. So
    when every wanted id is one of the created objects and every parent of a created
    commit is a ref value the server advertised (``have``) or created too, the server
    lacks nothing but (at most) the created objects. Anything else (a commit the server
    may have lost, a peeled tag) returns None and the caller falls back to the history walk.
    Sending an object the server already has is harmless: it is stored once.
    """
    if not want <= created.keys():
        return None
    for obj in created.values():
        if isinstance(obj, Commit) and any(p not in have and p not in created for p in obj.parents):
            return None
    return list(created.values())


BASE_WALK_LIMIT = 64
"""How many commits ``objects_since`` walks back from a stale base before giving up."""


def objects_since(store: Any, commits: Collection[bytes], have: Collection[bytes],
                  limit: int = BASE_WALK_LIMIT) -> list[ShaFile] | None:
    """What a server that has ``have`` lacks of ``commits``, when they lead back to ``have`` quickly.

    A write built on the cache's stale view of a branch has, as parent, a commit that no
    ref on the server points at any more, though the server most likely still has it (the
    branch moved on from it). Walk back from it through the local object store: every
    commit met that is not advertised is sent, with the trees and blobs it changed
    against its first parent (whose own closure is either on the server, being
    advertised, or sent in turn), until every path reaches an advertised commit. This is
    what ``git push`` does with the refs it has in common with the server. None (prove
    nothing, send nothing) when a path reaches a root commit, a commit missing locally, or
    more than ``limit`` commits.
    """
    have = set(have)
    found: dict[bytes, ShaFile] = {}
    queue = list(commits)
    seen: set[bytes] = set()
    while queue:
        sha = queue.pop()
        if sha in have or sha in seen:
            continue
        seen.add(sha)
        if len(seen) > limit or sha not in store:
            return None
        commit = store[sha]
        if not isinstance(commit, Commit) or not commit.parents:
            return None
        found[commit.id] = commit
        first = store[commit.parents[0]] if commit.parents[0] in store else None
        if first is None:
            return None
        for obj in _tree_changes(store, commit.tree, first.tree):
            found.setdefault(obj.id, obj)
        queue.extend(commit.parents)
    return list(found.values())


def _tree_changes(store: Any, new: bytes, old: bytes | None) -> Iterator[ShaFile]:
    """The trees and blobs under tree ``new`` that are not where they were under ``old``."""
    if new == old:
        return
    tree = store[new]
    yield tree
    before = {name: (mode, sha) for name, mode, sha in store[old].iteritems()} if old is not None else {}
    for name, mode, sha in tree.iteritems():
        previous = before.get(name)
        if previous is not None and previous[1] == sha:
            continue
        if stat.S_ISDIR(mode):
            yield from _tree_changes(store, sha, previous[1] if previous and stat.S_ISDIR(previous[0]) else None)
        elif not S_ISGITLINK(mode):
            yield store[sha]


def conflict(remote: Remote, exc: StaleRef | PushRejected, what: str) -> RefConflict:
    """A RefConflict for a write that found a ref moved, with a message that says what to do."""
    return RefConflict(
        f"{remote.url}: {what} failed because a ref changed on the server ({remote.redact(str(exc))}); "
        "re-read the package revision and try again"
    )
