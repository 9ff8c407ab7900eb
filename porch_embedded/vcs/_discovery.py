"""Discovery: the revisions a cached repository's refs describe, mapped as Porch maps them.

- the registered branch: one placeholder revision (-1, workspace = branch) per package on it;
- tags ``<fullpath>/v<N>``: published revision N; other ``<fullpath>/<x>`` tags: revision -1;
- ``drafts/<fullpath>/<ws>`` and ``proposed/<fullpath>/<ws>`` branches: Draft and Proposed;
- ``deletionProposed/<fullpath>/<version>`` branches turn a published one DeletionProposed.

Workspace names and first tasks come from the ``kpt:`` trailers. Blocking.
"""

from __future__ import annotations

import dataclasses

from dulwich.object_store import BaseObjectStore
from dulwich.repo import Repo

from porch_embedded.vcs import _layout as layout
from porch_embedded.vcs._cache import Shared
from porch_embedded.vcs._history import History
from porch_embedded.vcs._protocol import Lifecycle, Revision, Snapshot
from porch_embedded.vcs._remote import refs_version
from porch_embedded.vcs._trees import find_packages, is_package, lookup_tree

__all__ = ["discover_blocking"]


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
                packages = find_packages(store, info.tree, directory, shared.package_walks)
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

    for ref, sha in sorted(refs.items()):
        key = (ref, sha)
        if key in known:
            found = known[key]
        else:
            read = _read_ref(store, history, ref, sha, directory)
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


def _read_ref(store: BaseObjectStore, history: History, ref: str, sha: str, directory: str) -> Revision | str | None:
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
