"""Discovery: the revisions a cached repository's refs describe, mapped as Porch maps them.

- the registered branch: one placeholder revision (-1, workspace = branch) per package on it;
- tags ``<fullpath>/v<N>``: published revision N; other ``<fullpath>/<x>`` tags: revision -1;
- ``drafts/<fullpath>/<ws>`` and ``proposed/<fullpath>/<ws>`` branches: Draft and Proposed;
- ``deletionProposed/<fullpath>/<version>`` branches turn a published one DeletionProposed.

Workspace names and first tasks come from the ``kpt:`` trailers. Blocking.
"""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Mapping
from typing import Any

from dulwich.objects import parse_tree
from dulwich.repo import Repo

from porch_embedded.vcs import _layout as layout
from porch_embedded.vcs._batch import Prefetched
from porch_embedded.vcs._cache import Shared
from porch_embedded.vcs._history import History
from porch_embedded.vcs._protocol import Lifecycle, Revision, Snapshot
from porch_embedded.vcs._remote import refs_version
from porch_embedded.vcs._trees import ObjectSink, find_packages, is_package, lookup_tree

__all__ = ["discover_blocking"]

KPTFILE = b"Kptfile"
PREFETCH_REFS = 1000
"""New refs whose objects are read ahead together: bounds what one read-ahead holds (~4 MB)."""


def discover_blocking(repo: Repo, shared: Shared, *, branch: str, directory: str) -> Snapshot:
    """Every revision under ``directory`` in the cache; refs that cannot be read become warnings.

    What a tag or draft ref describes depends only on the ref's name, the object it points
    at and the directory (commits never change), so it is kept per (ref, object id) in
    ``shared.discovered`` and a snapshot reads only refs that are new or moved: O(refs)
    dictionary look-ups plus O(changed refs) git reads. Refs that were skipped with a
    warning are read again each time (they are rare, and a fetch may complete them).
    """
    store = repo.object_store
    history: History = shared.history
    refs = shared.view(repo)
    branch_ref = layout.branch_ref(branch)
    warnings: list[str] = []
    revisions: list[Revision] = []
    proposed_deletions = {ref for ref in refs if ref.startswith(layout.DELETION_PROPOSED)}
    known = shared.discovered.get(directory, {})
    seen: dict[tuple[str, str], Revision | None] = {}

    def lifecycle_of(path: str, version: str) -> Lifecycle:
        ref = layout.deletion_proposed_ref(path, version)
        return "DeletionProposed" if ref in proposed_deletions else "Published"

    head = refs.get(branch_ref, "")
    packages: dict[str, bytes] = {}
    if head:
        info = history.commit(store, head.encode())
        last = shared.branch_packages.get(directory)
        if last is not None and last[0] == info.tree:
            packages = last[1]
        else:
            with shared.walk_lock:
                branch_objects = Prefetched(store, repo.controldir())
                _prefetch_directories(branch_objects, info.tree, directory, shared.package_walks)
                packages = find_packages(branch_objects, info.tree, directory, shared.package_walks)
            shared.branch_packages[directory] = (info.tree, packages)
        for path, tree in sorted(packages.items()):
            revisions.append(
                Revision(
                    package=layout.relative_package(path, directory),
                    path=path,
                    workspace=branch,
                    revision=-1,
                    lifecycle=lifecycle_of(path, branch),
                    locator=branch_ref,
                    commit=head,
                    tree=tree.decode(),
                    published_by=info.author_email,
                    published_at=info.time,
                    placeholder=True,
                )
            )

    ordered = sorted(refs.items())
    fresh: dict[tuple[str, str], Revision | str | None] = {}
    unread = [key for key in ordered if key not in known]
    objects = Prefetched(store, repo.controldir())
    for start in range(0, len(unread), PREFETCH_REFS):
        chunk = unread[start : start + PREFETCH_REFS]
        _prefetch(objects, history, [key for key in chunk if _path_of(key[0], directory) is not None], directory)
        for ref, sha in chunk:
            fresh[(ref, sha)] = _read_ref(objects, history, ref, sha, directory)
        objects.forget()
    for key in ordered:
        ref, sha = key
        if key in known:
            found = known[key]
        else:
            read = fresh.get(key)
            if isinstance(read, str):
                warnings.append(read)
                continue
            found = read
        seen[key] = found
        if found is None:
            continue
        if found.lifecycle == "Published":
            tag = layout.parse_tag_ref(ref)
            assert tag is not None
            lifecycle = lifecycle_of(found.path, tag[1])
            if lifecycle != found.lifecycle:
                found = dataclasses.replace(found, lifecycle=lifecycle)
        revisions.append(found)
    shared.discovered[directory] = seen
    return Snapshot(
        version=refs_version(refs),
        branch_commit=head,
        packages=tuple(layout.relative_package(p, directory) for p in sorted(packages)),
        revisions=tuple(revisions),
        warnings=tuple(warnings),
    )


def _prefetch_directories(objects: Prefetched, root: bytes, directory: str, walked: Mapping[bytes, Any]) -> None:
    """Read ahead, a level at a time, the directories ``find_packages`` will walk below ``directory``.

    Directories it walked before (``walked``) and everything below a package are left out.
    """
    level = [root]
    for part in (p.encode() for p in directory.split("/") if p):
        objects.prefetch(level)
        entry = objects.entry(level[0], part)
        if not isinstance(entry, tuple) or not stat.S_ISDIR(entry[0]):
            return
        level = [entry[1]]
    level = [tree for tree in level if tree not in walked]
    while level:
        objects.prefetch(level)
        deeper: list[bytes] = []
        for tree in level:
            found = objects.raw(tree)
            if found is None or found[0] != 2:
                continue
            entries = parse_tree(found[1], 20)
            if any(name == KPTFILE and stat.S_ISREG(mode) for name, mode, _sha in entries):
                continue  # a package: find_packages does not look below it
            deeper.extend(sha for _name, mode, sha in entries if stat.S_ISDIR(mode) and sha not in walked)
        level = deeper


def _path_of(ref: str, directory: str) -> str | None:
    """The package path a tag or draft ref names under ``directory``; None for any other ref."""
    tag = layout.parse_tag_ref(ref)
    draft = layout.parse_draft_ref(ref)
    path = tag[0] if tag is not None else draft[1] if draft is not None else None
    if path is None or not layout.in_directory(path, directory) or path == directory:
        return None
    return path


def _prefetch(objects: Prefetched, history: History, refs: list[tuple[str, str]], directory: str) -> None:
    """Read ahead, a level at a time, what ``_read_ref`` needs for ``refs``.

    The commits (and their parents, where a first task usually is), then each directory
    down to each package, then the package trees: a handful of bulk reads instead of
    about seven object reads per ref; trees are looked into without being parsed into
    objects (``Prefetched.entry``), here and in ``_read_ref``.
    """
    objects.prefetch(sha.encode() for _ref, sha in refs)
    level: list[tuple[tuple[str, str], bytes, list[bytes]]] = []
    parents: list[bytes] = []
    for key in refs:
        path = _path_of(key[0], directory)
        try:
            info = history.commit(objects, history.peel(objects, key[1].encode()))
        except (KeyError, TypeError):
            continue
        parents.extend(info.parents)
        if path is not None:
            level.append((key, info.tree, [part.encode() for part in path.split("/")]))
    objects.prefetch(parents)
    while level:
        objects.prefetch(tree for _key, tree, _rest in level)
        deeper: list[tuple[tuple[str, str], bytes, list[bytes]]] = []
        for key, tree, rest in level:
            if not rest:
                continue  # the package's directory: read ahead for its Kptfile
            entry = objects.entry(tree, rest[0])
            if isinstance(entry, tuple) and stat.S_ISDIR(entry[0]):
                deeper.append((key, entry[1], rest[1:]))
        level = deeper


def _read_ref(store: ObjectSink, history: History, ref: str, sha: str, directory: str) -> Revision | str | None:
    """The revision a tag or draft ref describes (a tag's as Published), a warning, or None for other refs."""
    tag = layout.parse_tag_ref(ref)
    draft = layout.parse_draft_ref(ref)
    if tag is not None:
        path, version = tag
        if not layout.in_directory(path, directory) or path == directory:
            return None
        try:
            commit = history.peel(store, sha.encode())
            info = history.commit(store, commit)
        except (KeyError, TypeError) as exc:
            return f"{ref}: skipped, it does not point at a commit ({type(exc).__name__})"
        tree = lookup_tree(store, info.tree, path)
        if tree is None or not is_package(store, tree):
            return f"{ref}: skipped, {path}/Kptfile does not exist at {commit.decode()}"
        workspace = history.workspace_at(store, commit, path)
        tasks = history.first_task(store, commit, path, workspace) if workspace else ()
        return Revision(
            package=layout.relative_package(path, directory),
            path=path,
            workspace=workspace or version,
            revision=layout.revision_of_tag(version),
            lifecycle="Published",
            locator=ref,
            commit=commit.decode(),
            tree=tree.decode(),
            tasks=tasks,
            published_by=info.author_email,
            published_at=info.time,
        )
    if draft is not None:
        lifecycle, path, workspace = draft
        if not layout.in_directory(path, directory) or path == directory:
            return None
        try:
            info = history.commit(store, sha.encode())
        except (KeyError, TypeError) as exc:
            return f"{ref}: skipped, it does not point at a commit ({type(exc).__name__})"
        tree = lookup_tree(store, info.tree, path)
        if tree is None or not is_package(store, tree):
            return f"{ref}: skipped, {path}/Kptfile does not exist at {sha}"
        return Revision(
            package=layout.relative_package(path, directory),
            path=path,
            workspace=workspace,
            revision=0,
            lifecycle="Draft" if lifecycle == "Draft" else "Proposed",
            locator=ref,
            commit=sha,
            tree=tree.decode(),
            tasks=history.first_task(store, sha.encode(), path, workspace),
        )
    return None
