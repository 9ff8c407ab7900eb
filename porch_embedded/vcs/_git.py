"""``GitAdapter``: a Repository's git storage, in Porch's exact layout, over dulwich.

Each registration (URL + branch + directory + credentials) gets an adapter; adapters of
the same URL share one bare repository under the cache directory (``GitCache``), its
parsed history, and one lock that orders fetches and pushes on it. Reads of objects need
no lock: git objects never change and refs are replaced atomically.

Every dulwich call runs in ``trio.to_thread.run_sync`` behind the cache's limiter, with a
``Repo`` opened and closed inside the thread. Writes are one push each (one receive-pack
carrying every ref update, atomic when the server supports it), and a push that lost a
race on the registered branch is rebuilt on the fresh branch HEAD and retried a bounded
number of times with linear backoff, as Porch does.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import trio
from dulwich.objects import Commit
from dulwich.repo import Repo

from porch_embedded.errors import BranchNotFound, Internal, PackageContentInvalid
from porch_embedded.vcs import _layout as layout
from porch_embedded.vcs._batch import Prefetched
from porch_embedded.vcs._cache import CacheRepo, GitCache, apply_updates, mirror
from porch_embedded.vcs._discovery import discover_blocking
from porch_embedded.vcs._layout import Annotation
from porch_embedded.vcs._protocol import Author, DraftWrite, Lifecycle, Revision, Snapshot
from porch_embedded.vcs._remote import (
    ABSENT,
    ANY,
    BaseNotAdvertised,
    Credentials,
    PushRejected,
    Remote,
    StaleRef,
    conflict,
    refs_version,
)
from porch_embedded.vcs._trees import Recorder, lookup_tree, read_files, replace_subtree, tree_of_files

__all__ = ["GitAdapter", "GitSpec", "open_git_adapter"]

log = logging.getLogger("porch_embedded.vcs")

T = TypeVar("T")

PORCH = Author(layout.PORCH_NAME, layout.PORCH_EMAIL)
PUSH_ATTEMPTS = 4
"""One push plus three retries, Porch's default ``repo-operation-retry-attempts``."""
BACKOFF_S = 0.2


@dataclass(frozen=True)
class GitSpec:
    """A Repository's ``spec.git``, as the adapter needs it."""

    url: str
    branch: str = "main"
    directory: str = ""
    create_branch: bool = False
    author: str = ""
    email: str = ""
    secret_name: str = ""
    """Named in error messages about refused credentials (never the Secret's contents)."""
    secret_field: ClassVar[str] = "spec.git.secretRef"


def _now() -> tuple[int, int]:
    return int(time.time()), 0


class GitAdapter:
    """One registered git repository (URL, branch, directory, credentials): the RepositoryAdapter for git.

    Make it with ``open_git_adapter``. See ``RepositoryAdapter`` for what each method does;
    notes here say how git does it.
    """

    def __init__(self, cache: GitCache, spec: GitSpec, credentials: Credentials | None = None) -> None:
        self.spec = spec
        self.remote = Remote(spec.url, credentials, secret_name=spec.secret_name)
        self.directory = spec.directory.strip("/")
        self._cache = cache
        self._shared = cache.shared(self.remote.url)
        self._branch_ref = layout.branch_ref(spec.branch)

    def __repr__(self) -> str:
        return f"GitAdapter({self.remote.url!r}, branch={self.spec.branch!r}, directory={self.directory!r})"

    # -- plumbing -----------------------------------------------------------------------

    async def _run(self, fn: Callable[[Repo], T], *, pure: bool = False) -> T:
        """Run ``fn`` with the cache's Repo in a worker thread; the Repo is always closed.

        ``pure`` work (reads) is abandoned on cancellation; anything that writes is waited for.
        """
        path = self._shared.path

        def call() -> T:
            with CacheRepo(str(path)) as repo:
                return fn(repo)

        return await trio.to_thread.run_sync(call, limiter=self._cache.limiter, abandon_on_cancel=pure)

    async def _ensure_cache(self) -> None:
        """Make the bare cache repository if it is not there yet.

        It is built aside and renamed into place, so a kill -9 during the init never leaves a
        half-made repository that the next start trips over (FileExistsError from dulwich); a
        directory without HEAD is such a leftover from before, and since the cache holds
        nothing git does not, it is removed and made again.
        """
        path = self._shared.path

        def init() -> None:
            if (path / "HEAD").exists():
                return
            if path.exists():
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_name(f".{path.name}.init-{os.getpid()}-{secrets.token_hex(4)}")
            try:
                Repo.init_bare(str(staging), mkdir=True).close()
                os.rename(staging, path)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)

        async with self._shared.lock:
            await trio.to_thread.run_sync(init, limiter=self._cache.limiter)

    def _author(self, requested: Author | None) -> Author:
        """Repository author/email when configured (Porch's override), else the requester, else Porch."""
        if self.spec.author or self.spec.email:
            return Author(self.spec.author or self.spec.email, self.spec.email or self.spec.author)
        return requested or PORCH

    def _commit(self, store: Recorder, tree: bytes, parents: list[bytes], author: Author, message: str) -> bytes:
        when, offset = _now()
        commit = Commit()
        commit.tree = tree
        commit.parents = parents
        commit.author = f"{author.name} <{author.email}>".encode()
        commit.committer = f"{PORCH.name} <{PORCH.email}>".encode()
        commit.author_time = commit.commit_time = when
        commit.author_timezone = commit.commit_timezone = offset
        commit.message = message.encode()
        store.add_object(commit)
        return commit.id

    def _push(self, repo: Repo, updates: Mapping[str, tuple[str, str]], created: Recorder | None = None,
              based_on: Sequence[str] = ()) -> None:
        """Push ``updates`` and record them in the cache.

        ``created`` holds every object the write made: commits only ever get parents the
        server has (the fetched or pushed ref values the update expects), so the pack is
        exactly these objects and no history is walked (see ``pack_of_created``). A write
        that made nothing (a ref move) sends an empty pack. ``based_on``: parents taken
        from the cache's view rather than from a ref the update expects; when the server no
        longer points a ref at one of them, the push sends the few commits back to ones it
        does (``objects_since``), or raises BaseNotAdvertised before sending anything.
        """
        self.remote.push_blocking(repo, updates, created.added if created is not None else {}, based_on)
        apply_updates(repo, self._shared, updates)

    def _fetch_blocking(self, repo: Repo, only: tuple[str, ...] | None = None) -> dict[str, str]:
        """Fetch what changed on the server and mirror its refs; call with the lock held.

        With ``only``, just those refs are listed, fetched and mirrored (and returned when
        they exist): what a write needs fresh, at O(1) refs instead of O(repository).
        """
        known = self._shared.load(repo)
        if isinstance(repo, CacheRepo):
            repo.have_heads = [sha.encode() for ref, sha in known.items() if ref.startswith(layout.HEADS)]
        refs = self.remote.fetch_blocking(repo, known, only)
        mirror(repo, self._shared, refs, only)
        return refs

    async def _write(self, fn: Callable[[Repo], T]) -> T:
        """A write: under the URL's lock, shielded so a hang-up never leaves git half-written."""
        with trio.CancelScope(shield=True):
            async with self._shared.lock:
                return await self._run(fn)

    async def _write_retrying(self, fn: Callable[[Repo], T], what: str) -> T:
        """A write that rebuilds on a fresh fetch when it lost a race on the registered branch."""
        last: StaleRef | PushRejected | None = None
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                return await self._write(fn)
            except StaleRef as exc:
                if exc.ref != self._branch_ref:
                    raise conflict(self.remote, exc, what) from exc
                last = exc
            except PushRejected as exc:
                last = exc
            if attempt < PUSH_ATTEMPTS:
                log.info("%s: %s lost a race (attempt %d), retrying: %s", self.remote.url, what, attempt, last)
                with trio.CancelScope(shield=True):
                    await trio.sleep(BACKOFF_S * attempt)
        assert last is not None
        raise conflict(self.remote, last, what) from last

    # -- reading ------------------------------------------------------------------------

    async def version(self) -> str:
        refs = await trio.to_thread.run_sync(
            self.remote.ls_remote_blocking, limiter=self._cache.limiter, abandon_on_cancel=True
        )
        return refs_version(refs)

    async def fetch(self) -> str:
        async with self._shared.lock:
            refs = await self._run(self._fetch_blocking)
        return refs_version(refs)

    async def check(self) -> None:
        refs = await trio.to_thread.run_sync(
            self.remote.ls_remote_blocking, limiter=self._cache.limiter, abandon_on_cancel=True
        )
        if self._branch_ref not in refs and not self.spec.create_branch:
            raise self._no_branch()

    def _no_branch(self) -> BranchNotFound:
        return BranchNotFound(
            f"{self.remote.url}: branch {self.spec.branch!r} does not exist; push it, or set "
            "spec.git.createBranch to let porch create it"
        )

    # -- what the engine keeps ------------------------------------------------------------

    def self_lock(self, revision: Revision) -> dict[str, Any]:
        return {"type": "git", "git": {"repo": self.spec.url, "directory": revision.path,
                                       "ref": layout.short_ref(revision.locator), "commit": revision.commit}}

    def revision_at(
        self,
        lock: Mapping[str, Any],
        *,
        package: str,
        workspace: str,
        revision: int,
        lifecycle: Lifecycle,
        tasks: Sequence[Mapping[str, Any]] = (),
    ) -> Revision:
        git = lock.get("git") or {}
        ref = layout.ref_of_short(git.get("ref", ""), self.spec.branch)
        return Revision(
            package=package, path=git.get("directory") or layout.full_path(self.directory, package),
            workspace=workspace, revision=revision, lifecycle=lifecycle, locator=ref,
            commit=git.get("commit", ""), tree="", tasks=tuple(dict(task) for task in tasks),
            placeholder=ref == self._branch_ref and lifecycle in ("Published", "DeletionProposed"),
        )

    def placeholder_after(self, published: Revision) -> Revision | None:
        """Approval merges into the registered branch: its placeholder now is the published commit."""
        return dataclasses.replace(published, workspace=self.spec.branch, revision=-1, lifecycle="Published",
                                   locator=self._branch_ref, placeholder=True)

    async def snapshot(self) -> Snapshot:
        def discover(repo: Repo) -> Snapshot:
            return discover_blocking(repo, self._shared, branch=self.spec.branch, directory=self.directory)

        snap = await self._run(discover, pure=True)
        for warning in snap.warnings:
            log.warning("%s: %s", self.remote.url, warning)
        return snap

    async def read_package(self, revision: Revision) -> dict[str, str]:
        return (await self.read_packages([revision]))[0]

    async def read_packages(self, revisions: Sequence[Revision]) -> list[dict[str, str]]:
        wanted = [revision.tree.encode() for revision in revisions]

        def read(repo: Repo) -> list[dict[str, bytes]]:
            objects = Prefetched(repo.object_store, repo.controldir())
            objects.prefetch_below(wanted)  # every file of every package in a few bulk reads
            trees: dict[bytes, dict[str, bytes]] = {}  # equal trees mean equal files: read each once
            for tree in wanted:
                if tree not in trees:
                    trees[tree] = read_files(objects, tree)
            return [trees[tree] for tree in wanted]

        raw = await self._run(read, pure=True)
        decoded: dict[int, dict[str, str]] = {}
        results: list[dict[str, str]] = []
        for revision, data in zip(revisions, raw, strict=True):
            files = decoded.get(id(data))
            if files is None:
                files = decoded[id(data)] = _decode(revision, data)
            results.append(dict(files))
        return results

    async def highest_revision(self, package: str) -> int:
        path = layout.full_path(self.directory, package)
        prefix = f"{layout.TAGS}{path}/"

        def highest(repo: Repo) -> int:
            # The in-memory view of the cache's refs, not the packed-refs file: reading and
            # parsing that file costs O(every ref) on each approval.
            names = [ref[len(prefix):] for ref in self._shared.view(repo) if ref.startswith(prefix)]
            numbers = [layout.revision_of_tag(name) for name in names if "/" not in name]
            return max([0, *numbers])

        return await self._run(highest, pure=True)

    # -- writing ------------------------------------------------------------------------

    async def create_branch(self) -> None:
        """Create the registered branch with Porch's initial commit (README.md) if it is missing."""

        def create(repo: Repo) -> None:
            refs = self._fetch_blocking(repo)
            if self._branch_ref in refs:
                return
            store = Recorder(repo.object_store)
            tree = tree_of_files(store, {"README.md": layout.INITIAL_README.encode()})
            commit = self._commit(store, tree, [], PORCH, layout.INITIAL_COMMIT_MESSAGE)
            try:
                self._push(repo, {self._branch_ref: (ABSENT, commit.decode())}, store)
            except (StaleRef, PushRejected):
                self._fetch_blocking(repo)  # someone else created it first: that is fine

        await self._write(create)

    async def save_draft(self, write: DraftWrite) -> Revision:
        path = layout.full_path(self.directory, write.package)
        if write.parent is not None and write.parent.lifecycle not in ("Draft", "Proposed"):
            raise Internal(f"save_draft: {_shown(write.parent)} is {write.parent.lifecycle}, not a draft")
        encoded = {name: text.encode("utf-8") for name, text in write.files.items()}
        author = self._author(write.author)

        def save(repo: Repo) -> Revision:
            try:
                return build_and_push(repo, fresh=False)
            except BaseNotAdvertised:
                # The branch moved on the server since the cache last saw it, and its old head
                # does not lead back to advertised commits within a few steps: fetch just that
                # ref and build on its new value (O(1) refs, not a walk of the whole history).
                self._fetch_blocking(repo, (self._branch_ref,))
                return build_and_push(repo, fresh=True)

        def build_and_push(repo: Repo, *, fresh: bool) -> Revision:
            store = Recorder(repo.object_store)
            parent = write.parent
            based_on: tuple[str, ...] = ()
            if parent is None:
                ref, expected = layout.draft_ref(path, write.workspace), ABSENT
                base = self._shared.view(repo).get(self._branch_ref, "")
                based_on = (base,) if base and not fresh else ()
            else:
                ref, expected, base = parent.locator, parent.commit, parent.commit
            base_tree = self._shared.history.commit(repo.object_store, base.encode()).tree if base else None
            subtree = tree_of_files(store, encoded) if encoded else None
            root = replace_subtree(store, base_tree, path, subtree)
            message = layout.annotate(
                write.message or layout.message_for_task(write.task),
                Annotation(path, write.workspace, "0", write.task),
            )
            commit = self._commit(store, root, [base.encode()] if base else [], author, message)
            try:
                self._push(repo, {ref: (expected, commit.decode())}, store, based_on)
            except (StaleRef, PushRejected) as exc:
                what = (
                    f"creating draft {ref.removeprefix(layout.HEADS)} (it already exists)"
                    if parent is None
                    else f"committing to {ref.removeprefix(layout.HEADS)}"
                )
                raise conflict(self.remote, exc, what) from exc
            lifecycle: Lifecycle = "Proposed" if ref.startswith(layout.PROPOSED) else "Draft"
            tasks = (dict(write.task),) if write.task and write.task.get("type") in layout.FIRST_TASK_TYPES else ()
            if not tasks and parent is not None:
                tasks = parent.tasks
            return Revision(
                package=write.package.strip("/"),
                path=path,
                workspace=write.workspace,
                revision=0,
                lifecycle=lifecycle,
                locator=ref,
                commit=commit.decode(),
                tree=(subtree or b"").decode(),
                tasks=tasks,
            )

        return await self._write(save)

    async def _move(self, revision: Revision, target: str, lifecycle: Lifecycle, what: str) -> Revision:
        """Point ``target`` at the revision's commit and delete its current ref, in one push."""

        def move(repo: Repo) -> Revision:
            updates = {target: (ABSENT, revision.commit), revision.locator: (revision.commit, "")}
            try:
                self._push(repo, updates)
            except (StaleRef, PushRejected) as exc:
                raise conflict(self.remote, exc, what) from exc
            return _replace(revision, locator=target, lifecycle=lifecycle)

        return await self._write(move)

    async def propose(self, revision: Revision) -> Revision:
        self._expect(revision, "Draft")
        target = layout.proposed_ref(revision.path, revision.workspace)
        return await self._move(revision, target, "Proposed", f"proposing {_shown(revision)}")

    async def reject(self, revision: Revision) -> Revision:
        self._expect(revision, "Proposed")
        target = layout.draft_ref(revision.path, revision.workspace)
        return await self._move(revision, target, "Draft", f"rejecting {_shown(revision)}")

    def _expect(self, revision: Revision, *lifecycles: Lifecycle) -> None:
        if revision.lifecycle not in lifecycles:
            raise Internal(
                f"{_shown(revision)} is {revision.lifecycle}; the git adapter expected {' or '.join(lifecycles)}"
            )

    async def approve(self, revision: Revision, number: int, *, author: Author | None = None) -> Revision:
        self._expect(revision, "Draft", "Proposed")
        if number < 1:
            raise Internal(f"approve: revision number must be >= 1, got {number}")
        path, tag = revision.path, layout.tag_ref(revision.path, number)
        signer = self._author(author)
        what = f"approving {_shown(revision)} as {tag.removeprefix(layout.TAGS)}"

        def approve(repo: Repo) -> Revision:
            store, history = Recorder(repo.object_store), self._shared.history
            refs = self._fetch_blocking(repo, (self._branch_ref, revision.locator, tag))
            if refs.get(revision.locator) != revision.commit:
                raise StaleRef(revision.locator, revision.commit, refs.get(revision.locator, ""))
            if tag in refs:
                raise StaleRef(tag, ABSENT, refs[tag])
            head = refs.get(self._branch_ref, "")
            source = history.commit(repo.object_store, revision.commit.encode())
            subtree = lookup_tree(store, source.tree, path)
            base_tree = history.commit(repo.object_store, head.encode()).tree if head else None
            root = replace_subtree(store, base_tree, path, subtree)
            message = layout.annotate(
                layout.approval_message(path, number), Annotation(path, revision.workspace, str(number))
            )
            parents = [head.encode(), revision.commit.encode()] if head else [revision.commit.encode()]
            commit = self._commit(store, root, parents, signer, message).decode()
            self._push(
                repo,
                {
                    self._branch_ref: (head or ABSENT, commit),
                    tag: (ABSENT, commit),
                    revision.locator: (revision.commit, ""),
                },
                store,
            )
            return _replace(
                revision,
                revision=number,
                lifecycle="Published",
                locator=tag,
                commit=commit,
                tree=(subtree or b"").decode(),
                published_by=signer.email,
                published_at=history.commit(repo.object_store, commit.encode()).time,
            )

        return await self._write_retrying(approve, what)

    def _deletion_ref(self, revision: Revision) -> str:
        if revision.locator.startswith(layout.TAGS):
            tag = layout.parse_tag_ref(revision.locator)
            assert tag is not None
            return layout.deletion_proposed_ref(revision.path, tag[1])
        return layout.deletion_proposed_ref(revision.path, self.spec.branch)

    async def propose_deletion(self, revision: Revision) -> Revision:
        self._expect(revision, "Published", "DeletionProposed")
        target = self._deletion_ref(revision)

        def mark(repo: Repo) -> Revision:
            try:
                self._push(repo, {target: (ANY, revision.commit)})
            except (StaleRef, PushRejected) as exc:
                raise conflict(self.remote, exc, f"proposing deletion of {_shown(revision)}") from exc
            return _replace(revision, lifecycle="DeletionProposed")

        return await self._write(mark)

    async def restore(self, revision: Revision) -> Revision:
        self._expect(revision, "Published", "DeletionProposed")
        target = self._deletion_ref(revision)

        def unmark(repo: Repo) -> Revision:
            try:
                self._push(repo, {target: (ANY, "")})
            except (StaleRef, PushRejected) as exc:
                raise conflict(self.remote, exc, f"restoring {_shown(revision)}") from exc
            return _replace(revision, lifecycle="Published")

        return await self._write(unmark)

    async def delete(self, revision: Revision, *, author: Author | None = None) -> None:
        """Drafts and proposals: delete their branch. A tagged revision: delete its tag (the
        package stays on the branch, as in Porch). The placeholder: a ``Delete <path>`` commit
        that removes the package from the branch. Both also drop a deletion proposal."""
        what = f"deleting {_shown(revision)}"
        if revision.lifecycle in ("Draft", "Proposed"):

            def drop(repo: Repo) -> None:
                try:
                    self._push(repo, {revision.locator: (revision.commit, "")})
                except (StaleRef, PushRejected) as exc:
                    raise conflict(self.remote, exc, what) from exc

            await self._write(drop)
            return
        proposal = self._deletion_ref(revision)
        if revision.locator.startswith(layout.TAGS):

            def untag(repo: Repo) -> None:
                try:
                    self._push(repo, {revision.locator: (ANY, ""), proposal: (ANY, "")})
                except (StaleRef, PushRejected) as exc:
                    raise conflict(self.remote, exc, what) from exc

            await self._write(untag)
            return
        signer = self._author(author)

        def remove(repo: Repo) -> None:
            store = Recorder(repo.object_store)
            refs = self._fetch_blocking(repo)
            head = refs.get(self._branch_ref, "")
            updates: dict[str, tuple[str, str]] = {proposal: (ANY, "")}
            if head:
                tree = self._shared.history.commit(repo.object_store, head.encode()).tree
                if lookup_tree(store, tree, revision.path) is not None:
                    root = replace_subtree(store, tree, revision.path, None)
                    commit = self._commit(store, root, [head.encode()], signer, f"Delete {revision.path}")
                    updates[self._branch_ref] = (head, commit.decode())
            self._push(repo, updates, store)

        await self._write_retrying(remove, what)

    async def aclose(self) -> None:
        """Nothing to release: Repos are opened per call; the cache stays for other registrations."""


def _decode(revision: Revision, raw: Mapping[str, bytes]) -> dict[str, str]:
    """A package's files as text, sorted by path; raises PackageContentInvalid for a binary file."""
    files: dict[str, str] = {}
    for path, data in raw.items():
        try:
            files[path] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PackageContentInvalid(
                f"package {revision.package!r} at {_shown(revision)} ({revision.commit[:12]}): "
                f"file {path!r} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                "package revisions hold text files only"
            ) from exc
    return dict(sorted(files.items()))


def _shown(revision: Revision) -> str:
    """How messages name a revision: its short ref, as Porch shows it in ``selfLock.git.ref``."""
    return layout.short_ref(revision.locator)


def _replace(old: Revision, /, **changes: Any) -> Revision:
    return dataclasses.replace(old, **changes)


@asynccontextmanager
async def open_git_adapter(
    cache: GitCache, spec: GitSpec, credentials: Credentials | None = None
) -> AsyncIterator[GitAdapter]:
    """Open a registered git repository: make its cache, fetch, and check (or create) the branch.

    Raises RepositoryAuthFailed, RepositoryUnavailable, RepositoryNotFound (no such
    repository), or BranchNotFound (the branch is missing and ``spec.create_branch`` is off).
    """
    adapter = GitAdapter(cache, spec, credentials)
    await adapter._ensure_cache()
    await adapter.fetch()
    snapshot_refs = await adapter._run(adapter._shared.view, pure=True)
    if adapter._branch_ref not in snapshot_refs:
        if not spec.create_branch:
            raise adapter._no_branch()
        await adapter.create_branch()
    try:
        yield adapter
    finally:
        await adapter.aclose()

