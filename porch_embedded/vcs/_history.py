"""Commit history as Porch reads it: ``kpt:`` annotations, first tasks, authors and times.

Commits never change, so what is parsed from one is kept (per cached repository) and a
re-list after a fetch only reads the new commits. Blocking; the caller owns the thread.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dulwich.objects import Commit, Tag

from porch_embedded.vcs._layout import FIRST_TASK_TYPES, Annotation, parse_annotations
from porch_embedded.vcs._trees import ObjectSink

__all__ = ["CommitInfo", "History"]

KEPT_COMMITS = 8192
"""Parsed commits kept; past it the older half is dropped. Discovery keeps what it made of
each ref itself, so this only saves re-reading the commits near the refs that move, and
without a bound it would hold every commit of the repository (twice its revisions)."""
WALK_LIMIT = 1000
"""Commits visited at most when looking for a revision's first task; past it, no task is reported."""


@dataclass(frozen=True)
class CommitInfo:
    parents: tuple[bytes, ...]
    tree: bytes
    author_email: str
    time: datetime
    annotations: tuple[Annotation, ...]


def _email(identity: bytes) -> str:
    text = identity.decode("utf-8", "replace")
    start, end = text.rfind("<"), text.rfind(">")
    return text[start + 1 : end] if 0 <= start < end else text.strip()


def _parse_commit(raw: bytes) -> CommitInfo:
    """A commit's facts straight from its bytes: only the headers history needs are looked at.

    dulwich's Commit parses every header into an object (~0.1 ms); a first sync reads two
    commits per revision. Continuation lines (a signature) start with a space and are
    skipped; a commit without a valid author time gets the epoch, as dulwich's would fail.
    """
    head, _sep, message = raw.partition(b"\n\n")
    tree, parents, author = b"", [], b""
    for line in head.split(b"\n"):
        if line.startswith(b"tree "):
            tree = line[5:]
        elif line.startswith(b"parent "):
            parents.append(line[7:])
        elif line.startswith(b"author "):
            author = line[7:]
    identity, _gt, when = author.rpartition(b">")
    fields = when.split()
    try:
        seconds = int(fields[0]) if fields else 0
    except ValueError:
        seconds = 0
    return CommitInfo(
        parents=tuple(parents),
        tree=tree,
        author_email=_email(identity + b">") if identity else _email(author),
        time=datetime.fromtimestamp(seconds, tz=UTC),
        annotations=tuple(parse_annotations(message.decode("utf-8", "replace"))),
    )


class History:
    """Parsed commits of one cached repository, shared by every registration of its URL."""

    def __init__(self) -> None:
        self._commits: dict[bytes, CommitInfo] = {}
        self._first_tasks: dict[tuple[bytes, str, str], tuple[dict[str, Any], ...]] = {}
        self._lock = threading.Lock()

    def peel(self, store: ObjectSink, sha: bytes) -> bytes:
        """The commit an (annotated or lightweight) tag or ref points at.

        A commit read here is parsed and kept at once, so ``commit`` does not read it again.
        """
        with self._lock:
            if sha in self._commits:
                return sha
        raw = getattr(store, "raw", None)
        found = raw(sha) if raw is not None else None
        if found is not None and found[0] == Commit.type_num:
            self.commit(store, sha)
            return sha
        obj = store[sha]
        while isinstance(obj, Tag):
            obj = store[obj.object[1]]
        if isinstance(obj, Commit):
            self._keep(obj)
        return obj.id

    def commit(self, store: ObjectSink, sha: bytes) -> CommitInfo:
        with self._lock:
            info = self._commits.get(sha)
        if info is not None:
            return info
        raw = getattr(store, "raw", None)  # a read-ahead store (``Prefetched``) has the bytes
        found = raw(sha) if raw is not None else None
        if found is not None and found[0] == Commit.type_num:
            info = _parse_commit(found[1])
            self._put(sha, info)
            return info
        obj = store[sha]
        if not isinstance(obj, Commit):
            raise TypeError(f"{sha.decode()} is a {obj.type_name.decode()}, not a commit")
        return self._keep(obj)

    def _keep(self, obj: Commit) -> CommitInfo:
        info = CommitInfo(
            parents=tuple(obj.parents),
            tree=obj.tree,
            author_email=_email(obj.author),
            time=datetime.fromtimestamp(obj.author_time, tz=UTC),
            annotations=tuple(parse_annotations(obj.message.decode("utf-8", "replace"))),
        )
        self._put(obj.id, info)
        return info

    def _put(self, sha: bytes, info: CommitInfo) -> None:
        with self._lock:
            self._commits[sha] = info
            if len(self._commits) > KEPT_COMMITS:  # dicts keep insertion order: drop the older half
                for old in list(itertools.islice(self._commits, KEPT_COMMITS // 2)):
                    del self._commits[old]

    def workspace_at(self, store: ObjectSink, sha: bytes, path: str) -> str:
        """The workspace a commit's own trailer records for the package ``path``; "" if none."""
        for annotation in self.commit(store, sha).annotations:
            if annotation.package == path and annotation.workspace:
                return annotation.workspace
        return ""

    def first_task(self, store: ObjectSink, sha: bytes, path: str, workspace: str) -> tuple[dict[str, Any], ...]:
        """The revision's first task (init, clone, edit or upgrade) from the trailers of its history.

        Walks back from ``sha`` newest first, as Porch does, keeping commits annotated for
        this package and workspace, and stops at the first one whose task is a valid first
        task. Returns () when none is found within WALK_LIMIT commits.
        """
        key = (sha, path, workspace)
        with self._lock:
            cached = self._first_tasks.get(key)
        if cached is not None:
            return cached
        found: tuple[dict[str, Any], ...] = ()
        start = self.commit(store, sha)
        queue: list[tuple[float, bytes]] = [(-start.time.timestamp(), sha)]
        seen = {sha}
        visited = 0
        while queue and visited < WALK_LIMIT:
            _, current = heapq.heappop(queue)
            visited += 1
            try:
                info = self.commit(store, current)
            except KeyError:
                continue  # history cut off (shallow) or missing object: nothing more to read
            hit = next(
                (
                    a.task
                    for a in info.annotations
                    if a.package == path
                    and (a.workspace == workspace or (not a.workspace and a.revision == workspace))
                    and a.task
                    and a.task.get("type") in FIRST_TASK_TYPES
                ),
                None,
            )
            if hit is not None:
                found = (dict(hit),)
                break
            for parent in info.parents:
                if parent not in seen:
                    seen.add(parent)
                    try:
                        when = self.commit(store, parent).time.timestamp()
                    except KeyError:
                        continue
                    heapq.heappush(queue, (-when, parent))
        with self._lock:
            self._first_tasks[key] = found
            if len(self._first_tasks) > KEPT_COMMITS:
                for old in list(itertools.islice(self._first_tasks, KEPT_COMMITS // 2)):
                    del self._first_tasks[old]
        return found
