"""The package revision lifecycle: create, update, approve, edit content, delete.

Every write goes git first (one push through the repository's adapter, under the
repository's write lock, shielded from the caller's cancellation) and then the
store (one transaction: the PackageRevision, its PackageRevisionResources, the
Package, and the latest-revision labels that moved). A second request on the same
object while one is in flight gets 409, as in Porch.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import trio

from porch_embedded.engine._lifecycle import (
    ADAPTER_CALLS,
    PUBLISHED,
    Move,
    carries_latest_label,
    latest_revision,
    move_for,
)
from porch_embedded.engine._messages import (
    creation_in_progress,
    in_progress,
    render_not_pushed,
    render_pushed_anyway,
    resource_version_required,
    resources_in_progress,
)
from porch_embedded.engine._naming import package_object_name, revision_name, revision_name_causes
from porch_embedded.engine._objects import invalid
from porch_embedded.engine._objects_of_packages import (
    LATEST_LABEL,
    PUSH_ON_RENDER_FAILURE,
    kptfile_of,
    package_body,
    resources_body,
    revision_body,
)
from porch_embedded.engine._repositories import RepositoryHandle, Repositories
from porch_embedded.engine._tasks import (
    NewRevision,
    TaskTable,
    apply_package_metadata,
    stored_files,
    with_render_condition,
)
from porch_embedded.errors import (
    BadRequest,
    Cause,
    Conflict,
    Invalid,
    NotFound,
)
from porch_embedded.kinds import (
    PACKAGE,
    PACKAGE_REVISION,
    PACKAGE_REVISION_RESOURCES,
    REPOSITORY,
    Body,
    package_key,
    upstream_key,
)
from porch_embedded.kpt import FunctionEvaluator, render
from porch_embedded.meta import UserInfo, now_rfc3339
from porch_embedded.store import (
    Change,
    Create,
    Delete,
    Store,
    Update,
    forbidden,
    precondition_failed,
    stale_resource_version,
)
from porch_embedded.vcs import Author, DraftWrite, Revision

__all__ = ["PackageLifecycle"]

COMMIT_BUDGET_S = 60.0
"""How long a git push plus its cache write may take once started, whatever the caller does."""
_USER_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")
RETRY_RESOURCE_VERSION = "retryResourceVersion"
"""PackageRevisionResources status: after an update refused by a failed render, the
resourceVersion of the files still stored, which a retry of that update may carry."""

log = logging.getLogger(__name__)


def _revision_of(body: Body, handle: RepositoryHandle) -> Revision:
    """The storage revision a stored PackageRevision stands for: the adapter reads back its selfLock."""
    spec = body["spec"]
    return handle.adapter.revision_at(
        (body.get("status") or {}).get("selfLock") or {}, package=spec["packageName"],
        workspace=spec["workspaceName"], revision=int(spec.get("revision", 0)), lifecycle=spec["lifecycle"],
        tasks=spec.get("tasks") or ())


def _latest_label_causes(new: Body, old: Body | None) -> list[Cause]:
    """Porch's strategy validation of the label it manages: users may neither set nor change it."""
    new_value = (new.get("metadata", {}).get("labels") or {}).get(LATEST_LABEL)
    field = f"metadata.labels[{LATEST_LABEL}]"
    if old is None:
        return [] if new_value is None else [
            Cause("Forbidden: label is managed by porch and cannot be set by users", field, "FieldValueForbidden")]
    old_value = (old.get("metadata", {}).get("labels") or {}).get(LATEST_LABEL)
    return [] if new_value == old_value else [
        Cause("Forbidden: label is managed by porch and cannot be modified by users", field, "FieldValueForbidden")]


def _expect_resource_version(resource: str, body: Body, current: Body, *, also: str = "") -> None:
    """Porch's updates are conditional: the request names the resourceVersion it read, which
    must be the stored one (or ``also``, an older one the engine still accepts)."""
    asked = (body.get("metadata") or {}).get("resourceVersion")
    if not asked:
        raise resource_version_required()
    if asked != current["metadata"]["resourceVersion"] and asked != also:
        raise stale_resource_version(resource, current["metadata"]["name"])


def _numbered(body: Body) -> tuple[str, int]:
    """A stored PackageRevision's (lifecycle, revision), what the latest-revision rule reads."""
    return body["spec"]["lifecycle"], int(body["spec"].get("revision", 0))


def _with_latest_label(labels: dict[str, str], latest: bool) -> dict[str, str]:
    labels = {k: v for k, v in labels.items() if k != LATEST_LABEL}
    if latest:
        labels[LATEST_LABEL] = "true"
    return labels


@dataclass(frozen=True)
class _Creation:
    """A checked request for a new revision: where, which package and workspace, its spec and first task."""

    namespace: str
    repository: str
    package: str
    workspace: str
    spec: Body
    task: Body


@dataclass(frozen=True)
class _Planned:
    """What a creation would write: ``rendered`` (or ``files`` as the task left them when ``error`` says
    the render failed), the task as recorded, and the render's status."""

    handle: RepositoryHandle
    siblings: list[Body]
    task: Body
    files: dict[str, str]
    rendered: dict[str, str]
    render_status: Body
    error: str | None


class PackageLifecycle:
    def __init__(self, store: Store, repositories: Repositories, evaluate: FunctionEvaluator) -> None:
        self._store = store
        self._repositories = repositories
        self._evaluate = evaluate
        self._tasks = TaskTable(store, repositories)
        self._in_progress: set[str] = set()

    # ---- shared pieces -------------------------------------------------------------------

    @contextmanager
    def _exclusive(self, key: str, busy: Conflict) -> Iterator[None]:
        """One write at a time per object in this process; ``busy`` is the refusal of a second."""
        if key in self._in_progress:
            raise busy
        self._in_progress.add(key)
        try:
            yield
        finally:
            self._in_progress.discard(key)

    def _author(self, handle: RepositoryHandle, user: UserInfo | None) -> Author | None:
        """The requesting user; a repository's own commit author, when it has one, is the adapter's override."""
        return Author.from_user(user.name) if user is not None else None

    async def _repository(self, namespace: str, name: str) -> Body:
        return await self._store.get(REPOSITORY.resource, namespace, name)

    async def _revisions_of_package(self, namespace: str, repository: str, package: str) -> list[Body]:
        """Every stored revision of one package (the placeholder included), ordered by name: one
        indexed lookup (``kinds.package_key``), however many revisions the namespace holds."""
        return await self._store.indexed(PACKAGE_REVISION.resource, namespace, package_key(repository, package))

    async def _render(self, files: Mapping[str, str]) -> tuple[dict[str, str], Body, str | None]:
        """Render the Kptfile pipeline; returns files, the renderStatus, and the error (None if it passed)."""
        if "Kptfile" not in files:
            return dict(files), {"result": {"apiVersion": "kpt.dev/v1", "kind": "FunctionResultList",
                                            "metadata": {"name": "fnresults"}, "exitCode": 0, "items": []},
                                 "error": ""}, None
        result = await render(files, self._evaluate)
        status: Body = {"result": result.results.to_object(), "error": result.error or ""}
        if result.error is not None:
            return dict(result.files), status, result.error
        return with_render_condition(result.files, None), status, None

    async def _commit(self, handle: RepositoryHandle, changes_for: Any) -> Body:
        """Run ``changes_for()`` (git push then store write) as one unit that must land whole.

        One writer per repository: the handle's lock in this process, the store's named
        lock across replicas sharing a PostgreSQL store.
        """
        async with handle.write_lock, self._store.lock(f"repository/{handle.namespace}/{handle.name}"):
            with trio.CancelScope(shield=True), trio.fail_after(COMMIT_BUDGET_S):
                result: Body = await changes_for()
                return result

    def _package_rows(self, namespace: str, repository: str, package: str, siblings: list[Body],
                      updated: Body, removed: str = "") -> list[Change]:
        """Latest-label moves among ``siblings`` after ``updated`` changed (relabelled in place)."""
        changes: list[Change] = []
        current = {s["metadata"]["name"]: s for s in siblings if s["metadata"]["name"] != removed}
        if updated:
            current[updated["metadata"]["name"]] = updated
        latest = latest_revision(_numbered(body) for body in current.values())
        for body in current.values():
            should = carries_latest_label(*_numbered(body), latest)
            labels = dict(body["metadata"].get("labels") or {})
            if body is updated:
                updated["metadata"]["labels"] = _with_latest_label(labels, should)
            elif should != (labels.get(LATEST_LABEL) == "true"):
                relabelled = copy.deepcopy(body)
                relabelled["metadata"]["labels"] = _with_latest_label(labels, should)
                changes.append(Update(PACKAGE_REVISION.resource, relabelled, body["metadata"]["resourceVersion"]))
        return changes

    async def _package_object_change(self, namespace: str, repository: str, package: str,
                                     remaining: list[Body]) -> list[Change]:
        name = package_object_name(repository, package)
        latest = latest_revision(_numbered(body) for body in remaining)
        try:
            kept = await self._store.get(PACKAGE.resource, namespace, name)
        except NotFound:
            kept = None
        if not remaining:
            return [Delete(PACKAGE.resource, namespace, name, expect_rv=kept["metadata"]["resourceVersion"])] \
                if kept else []
        body = package_body(namespace, repository, package, latest)
        if kept is None:
            return [Create(PACKAGE.resource, body)]
        if kept.get("status") == body["status"]:
            return []
        body["metadata"] = dict(kept["metadata"])
        return [Update(PACKAGE.resource, body, kept["metadata"]["resourceVersion"])]

    # ---- create --------------------------------------------------------------------------

    def _creation(self, body: Body) -> _Creation:
        """Check a new PackageRevision's request (names, lifecycle, one task) before anything is read."""
        spec = body.get("spec")
        if not isinstance(spec, dict):
            raise BadRequest("spec is required: spec.repository, spec.packageName and spec.workspaceName")
        namespace = body.get("metadata", {}).get("namespace", "")
        repository_name = spec.get("repository") or ""
        if not repository_name:
            raise BadRequest("spec.repositoryName is required")
        package, workspace = spec.get("packageName") or "", spec.get("workspaceName") or ""
        causes = _latest_label_causes(body, None) + revision_name_causes(repository_name, package, workspace)
        if causes:
            raise invalid(PACKAGE_REVISION, revision_name(repository_name, package or "-", workspace or "-"), causes)
        if (spec.get("lifecycle") or "Draft") != "Draft":
            raise Invalid("value can be only created as Draft", causes=[
                Cause("Invalid value: value can be only created as Draft", "spec.lifecycle")])
        tasks = spec.get("tasks") or []
        if len(tasks) > 1:
            raise BadRequest("task list must not contain more than one task")
        task = dict(tasks[0]) if tasks else {"type": "init", "init": {"description": f"{package} description"}}
        return _Creation(namespace, repository_name, package, workspace, spec, task)

    async def _planned(self, new: _Creation, repository: Body) -> _Planned:
        """The files a creation would write: the task's, the package metadata, rendered; nothing is written."""
        handle = await self._repositories.handle(new.namespace, new.repository)
        if not handle.synced_version:
            await self._repositories.sync(new.namespace, new.repository)
        siblings = await self._revisions_of_package(new.namespace, new.repository, new.package)
        if any(s["spec"]["workspaceName"] == new.workspace for s in siblings):
            raise Conflict(f"package revision workspaceNames must be unique; package revision with name "
                           f"{new.package} in repo {new.repository} with workspaceName {new.workspace} already exists")
        task_files = await self._tasks.files_for(NewRevision(repository, new.package, siblings, new.task))
        files = apply_package_metadata(task_files.files, new.spec, replace=False)
        rendered, render_status, error = await self._render(files)
        return _Planned(handle, siblings, task_files.task, files, rendered, render_status, error)

    async def plan(self, body: Body) -> _Planned:
        """What ``create(body)`` would make, computed the same way and written nowhere.

        A preview (a clone or an upgrade shown before it is made) reads these files; the
        same refusals as a create are raised, except a failed render, which is returned.
        """
        new = self._creation(body)
        return await self._planned(new, await self._repository(new.namespace, new.repository))

    async def create(self, body: Body, *, user: UserInfo | None, dry_run: bool = False) -> Body:
        new = self._creation(body)
        namespace, repository_name, package, workspace = new.namespace, new.repository, new.package, new.workspace
        repository = await self._repository(namespace, repository_name)
        key = f"create:{namespace}/{repository_name}/{package}/{workspace}"
        with self._exclusive(key, creation_in_progress(namespace, repository_name, package, workspace)):
            planned = await self._planned(new, repository)
            handle, siblings, files, render_status = planned.handle, planned.siblings, planned.rendered, \
                planned.render_status
            if planned.error is not None:
                raise render_not_pushed(planned.error)
            if dry_run:
                return body
            author = self._author(handle, user)

            async def land() -> Body:
                saved = await handle.adapter.save_draft(DraftWrite(
                    package=package, workspace=workspace, files=files, task=planned.task, author=author))
                created = revision_body(repository, saved, kptfile_of(files), handle.adapter.self_lock(saved),
                                        kept={"metadata": {
                    k: v for k, v in body.get("metadata", {}).items() if k in ("labels", "annotations",
                                                                                  "finalizers", "ownerReferences")}})
                changes: list[Change] = [Create(PACKAGE_REVISION.resource, created),
                                         Create(PACKAGE_REVISION_RESOURCES.resource,
                                                resources_body(created, files, render_status))]
                changes += await self._package_object_change(namespace, repository_name, package, [*siblings, created])
                results = await self._store.apply(changes)
                return results[0]

            return await self._commit(handle, land)

    # ---- update (spec, metadata, lifecycle) ----------------------------------------------

    async def update(self, body: Body, current: Body, *, user: UserInfo | None, via: str,
                     dry_run: bool = False) -> Body:
        metadata = body.get("metadata") or {}
        name, namespace = current["metadata"]["name"], current["metadata"]["namespace"]
        _expect_resource_version(PACKAGE_REVISION.resource, body, current)
        if via != "approval":
            causes = _latest_label_causes(body, current)
            if causes:
                raise invalid(PACKAGE_REVISION, name, causes)
        spec = body.get("spec") or {}
        old_lifecycle = current["spec"]["lifecycle"]
        move = move_for(old_lifecycle, spec.get("lifecycle") or "Draft", "approval" if via == "approval" else "update")
        if old_lifecycle in PUBLISHED and via != "approval":
            frozen = {k: v for k, v in current["spec"].items() if k != "lifecycle"}
            asked = {k: v for k, v in spec.items() if k != "lifecycle"}
            if "packageMetadata" not in asked and "packageMetadata" in frozen:
                asked["packageMetadata"] = frozen["packageMetadata"]
            if asked != frozen:
                raise Invalid("spec can only update package with lifecycle value one of Draft,Proposed")
        with self._exclusive(f"{namespace}/{name}", in_progress(namespace, name)):
            handle = await self._repositories.handle(namespace, current["spec"]["repository"])
            repository = await self._repository(namespace, current["spec"]["repository"])
            kept = copy.deepcopy(current)
            for key in _USER_METADATA:
                if metadata.get(key):
                    kept["metadata"][key] = copy.deepcopy(metadata[key])
                else:
                    kept["metadata"].pop(key, None)
            # The approval subresource does not validate this label (as in Porch); it stays porch's.
            (kept["metadata"].get("labels") or {}).pop(LATEST_LABEL, None)
            if (current["metadata"].get("labels") or {}).get(LATEST_LABEL):
                kept["metadata"].setdefault("labels", {})[LATEST_LABEL] = "true"
            if kept["metadata"].get("labels") == {}:
                del kept["metadata"]["labels"]
            if dry_run:
                return kept
            if current["metadata"].get("deletionTimestamp") and not kept["metadata"].get("finalizers"):
                return await self._delete_now(handle, current, user)
            metadata_changed = spec.get("packageMetadata") not in (None, current["spec"].get("packageMetadata")) \
                or spec.get("readinessGates", current["spec"].get("readinessGates")) != \
                current["spec"].get("readinessGates")
            if move is Move.NONE and not (metadata_changed and old_lifecycle in ("Draft", "Proposed")):
                if kept == current:
                    return current
                return await self._store.update(PACKAGE_REVISION.resource, kept,
                                                expect_rv=current["metadata"]["resourceVersion"])
            author = self._author(handle, user)
            revision = _revision_of(current, handle)

            async def land() -> Body:
                moved = revision
                files = await stored_files(self._store, current)
                if metadata_changed and old_lifecycle in ("Draft", "Proposed"):
                    files = apply_package_metadata(files, {**current["spec"], **spec}, replace=True)
                    files, render_status, error = await self._render(files)
                    if error is not None:
                        raise render_not_pushed(error)
                    moved = await handle.adapter.save_draft(DraftWrite(
                        package=revision.package, workspace=revision.workspace, files=files,
                        task={"type": "render"}, parent=revision, author=author))
                moved = await ADAPTER_CALLS[move](handle.adapter, moved, author)
                return await self._store_moved(repository, handle, current, kept, moved, files)

            return await self._commit(handle, land)

    async def _store_moved(self, repository: Body, handle: RepositoryHandle, current: Body, kept: Body,
                           moved: Revision, files: dict[str, str]) -> Body:
        namespace, repository_name = handle.namespace, handle.name
        updated = revision_body(repository, moved, kptfile_of(files), handle.adapter.self_lock(moved), kept=kept)
        siblings = await self._revisions_of_package(namespace, repository_name, moved.package)
        changes: list[Change] = self._package_rows(namespace, repository_name, moved.package, siblings, updated)
        changes.insert(0, Update(PACKAGE_REVISION.resource, updated, current["metadata"]["resourceVersion"]))
        resources = await self._store.get(PACKAGE_REVISION_RESOURCES.resource, namespace, current["metadata"]["name"])
        new_resources = resources_body(updated, files, (resources.get("status") or {}).get("renderStatus"))
        new_resources["metadata"] = resources["metadata"]
        changes.append(Update(PACKAGE_REVISION_RESOURCES.resource, new_resources,
                              resources["metadata"]["resourceVersion"]))
        placeholder = handle.adapter.placeholder_after(moved) \
            if moved.lifecycle == "Published" and moved.revision >= 1 else None
        if placeholder is not None:
            changes += await self._placeholder_changes(repository, handle, placeholder, files, siblings)
        remaining = [s for s in siblings if s["metadata"]["name"] != updated["metadata"]["name"]] + [updated]
        changes += await self._package_object_change(namespace, repository_name, moved.package, remaining)
        results = await self._store.apply(changes)
        return results[0]

    async def _placeholder_changes(self, repository: Body, handle: RepositoryHandle, placeholder: Revision,
                                   files: dict[str, str], siblings: list[Body]) -> list[Change]:
        name = revision_name(repository["metadata"]["name"], placeholder.package, placeholder.workspace)
        kept = next((s for s in siblings if s["metadata"]["name"] == name), None)
        body = revision_body(repository, placeholder, kptfile_of(files), handle.adapter.self_lock(placeholder),
                             kept=kept)
        resources = resources_body(body, files)
        if kept is None:
            return [Create(PACKAGE_REVISION.resource, body), Create(PACKAGE_REVISION_RESOURCES.resource, resources)]
        stored_resources = await self._store.get(PACKAGE_REVISION_RESOURCES.resource, kept["metadata"]["namespace"],
                                                 name)
        resources["metadata"] = stored_resources["metadata"]
        return [Update(PACKAGE_REVISION.resource, body, kept["metadata"]["resourceVersion"]),
                Update(PACKAGE_REVISION_RESOURCES.resource, resources,
                       stored_resources["metadata"]["resourceVersion"])]

    # ---- content -------------------------------------------------------------------------

    async def update_resources(self, body: Body, current: Body, *, user: UserInfo | None,
                               dry_run: bool = False) -> Body:
        name, namespace = current["metadata"]["name"], current["metadata"]["namespace"]
        content_rv = (current.get("status") or {}).get(RETRY_RESOURCE_VERSION) or current["metadata"]["resourceVersion"]
        _expect_resource_version(PACKAGE_REVISION_RESOURCES.resource, body, current, also=content_rv)
        resources = (body.get("spec") or {}).get("resources")
        if not isinstance(resources, dict) or not all(isinstance(v, str) for v in resources.values()):
            raise BadRequest("spec.resources must map file paths to file contents (text)")
        revision_object = await self._store.get(PACKAGE_REVISION.resource, namespace, name)
        lifecycle = revision_object["spec"]["lifecycle"]
        if lifecycle != "Draft":
            raise Invalid(f'cannot update a package revision with lifecycle value "{lifecycle}"; package must be Draft')
        with self._exclusive(f"{namespace}/{name}", resources_in_progress(namespace, name)):
            handle = await self._repositories.handle(namespace, revision_object["spec"]["repository"])
            repository = await self._repository(namespace, revision_object["spec"]["repository"])
            files, render_status, error = await self._render(resources)
            push_anyway = (revision_object["metadata"].get("annotations") or {}).get(PUSH_ON_RENDER_FAILURE) == "true"
            if error is not None and not push_anyway:
                if not dry_run:
                    await self._record_failed_render(current, render_status, content_rv)
                raise render_not_pushed(error)
            if error is not None:
                files = dict(resources)  # saved exactly as pushed, as Porch saves them
            if dry_run:
                return current
            author = self._author(handle, user)
            revision = _revision_of(revision_object, handle)

            async def land() -> Body:
                saved = await handle.adapter.save_draft(DraftWrite(
                    package=revision.package, workspace=revision.workspace, files=files, task={"type": "render"},
                    parent=revision, author=author))
                updated = revision_body(repository, saved, kptfile_of(files), handle.adapter.self_lock(saved),
                                        kept=revision_object)
                new_resources = resources_body(updated, files, render_status)
                new_resources["metadata"] = current["metadata"]
                results = await self._store.apply([
                    Update(PACKAGE_REVISION_RESOURCES.resource, new_resources, current["metadata"]["resourceVersion"]),
                    Update(PACKAGE_REVISION.resource, updated, revision_object["metadata"]["resourceVersion"]),
                ])
                return results[0]

            stored = await self._commit(handle, land)
            if error is not None:
                raise render_pushed_anyway(error)
            return stored

    async def _record_failed_render(self, current: Body, render_status: Body, content_rv: str) -> None:
        """Keep a refused update's render result on the object without breaking the client's retry.

        The result is a status change, so it gets a resourceVersion and a MODIFIED event
        like any change (watchers and later GETs see it). The files did not change, so the
        object also records ``content_rv``, the resourceVersion its files were stored at:
        a retry carrying it (``porchctl rpkg push`` sends the one it pulled) is accepted,
        as in Porch, where a refused push changes nothing. Any later write of the object
        rebuilds its status and drops the allowance. A concurrent write that wins first
        only costs the record; the caller still gets the render failure.
        """
        failed = copy.deepcopy(current)
        failed["status"] = {"renderStatus": render_status, RETRY_RESOURCE_VERSION: content_rv}
        try:
            await self._store.update(PACKAGE_REVISION_RESOURCES.resource, failed,
                                     expect_rv=current["metadata"]["resourceVersion"])
        except Conflict:
            log.info("render result of %s/%s not recorded: the object changed meanwhile",
                     current["metadata"]["namespace"], current["metadata"]["name"])

    # ---- delete --------------------------------------------------------------------------

    async def delete(self, current: Body, *, user: UserInfo | None, expect_rv: str | None = None,
                     expect_uid: str | None = None, dry_run: bool = False) -> Body:
        name, namespace = current["metadata"]["name"], current["metadata"]["namespace"]
        if expect_rv and expect_rv != current["metadata"]["resourceVersion"]:
            raise stale_resource_version(PACKAGE_REVISION.resource, name)
        if expect_uid and expect_uid != current["metadata"].get("uid"):
            raise precondition_failed(PACKAGE_REVISION.resource, name, "UID", expect_uid,
                                      current["metadata"].get("uid", ""))
        if current["spec"]["lifecycle"] == "Published":
            raise forbidden(PACKAGE_REVISION.resource, name, "published PackageRevisions must be proposed for deletion by setting "
                                   "spec.lifecycle to 'DeletionProposed' prior to deletion")
        dependents = await self._dependents(namespace, name)
        if dependents:
            raise forbidden(PACKAGE_REVISION.resource, name, f"cannot delete package revision, it is referenced as upstream by: "
                                   f"{', '.join(dependents)}")
        if dry_run:
            return current
        with self._exclusive(f"{namespace}/{name}", in_progress(namespace, name)):
            handle = await self._repositories.handle(namespace, current["spec"]["repository"])
            if current["metadata"].get("finalizers"):
                if current["metadata"].get("deletionTimestamp"):
                    return current
                marked = copy.deepcopy(current)
                marked["metadata"]["deletionTimestamp"] = now_rfc3339()
                return await self._store.update(PACKAGE_REVISION.resource, marked,
                                                expect_rv=current["metadata"]["resourceVersion"])
            return await self._delete_now(handle, current, user)

    async def _delete_now(self, handle: RepositoryHandle, current: Body, user: UserInfo | None) -> Body:
        namespace, name = current["metadata"]["namespace"], current["metadata"]["name"]
        revision = _revision_of(current, handle)
        author = self._author(handle, user)

        async def land() -> Body:
            await handle.adapter.delete(revision, author=author)
            siblings = await self._revisions_of_package(namespace, handle.name, revision.package)
            changes: list[Change] = [Delete(PACKAGE_REVISION.resource, namespace, name,
                                            expect_rv=current["metadata"]["resourceVersion"])]
            try:
                resources = await self._store.get(PACKAGE_REVISION_RESOURCES.resource, namespace, name)
                changes.append(Delete(PACKAGE_REVISION_RESOURCES.resource, namespace, name,
                                      expect_rv=resources["metadata"]["resourceVersion"]))
            except NotFound:
                pass
            remaining = [s for s in siblings if s["metadata"]["name"] != name]
            if revision.revision == -1:
                remaining = [s for s in remaining if int(s["spec"].get("revision", 0)) != -1]
            changes += self._package_rows(namespace, handle.name, revision.package, siblings, {}, removed=name)
            changes += await self._package_object_change(namespace, handle.name, revision.package, remaining)
            results = await self._store.apply(changes)
            return results[0]

        return await self._commit(handle, land)

    async def _dependents(self, namespace: str, name: str) -> list[str]:
        """Revisions whose clone or upgrade task names ``name`` as the upstream they now follow.

        As in Porch: a clone's upstreamRef and an upgrade's newUpstreamRef count (an
        upgrade's oldUpstreamRef is what it moved away from), and branch placeholders,
        which repeat the tasks of their latest published revision, do not
        (``kinds.upstream_names``). The store keeps these as index-key rows beside the
        revisions, so this is one indexed lookup whatever the namespace holds.
        """
        followers = await self._store.indexed(PACKAGE_REVISION.resource, namespace, upstream_key(name))
        return [follower["metadata"]["name"] for follower in followers]

