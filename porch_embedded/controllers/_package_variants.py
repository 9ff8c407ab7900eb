"""The PackageVariant controller: keep a downstream package a customised clone of its upstream.

A level-triggered reconciler, as Porch's: each run reads the variant and every
PackageRevision of its namespace from the store and makes the downstream what the
variant says, whatever happened before (a crash, a restart, another replica). Runs are
keyed by the variant and triggered by informers of PackageVariants, PackageRevisions,
Repositories and ConfigMaps (the injected kind), so an upstream publish, a downstream
approval or a changed ConfigMap reaches the variants it concerns (Porch re-queues
every variant of the namespace on any revision event).

Per variant (Porch's packagevariant_controller.go):
- the finalizer ``config.porch.kpt.dev/packagevariants`` is added, so a deletion waits
  for the deletion policy: ``delete`` deletes owned drafts and proposed revisions and
  proposes published ones for deletion, ``orphan`` removes the owner reference;
- the upstream is the revision named by ``upstream.workspaceName``, else the latest
  published revision of the upstream package;
- the downstream candidates are the revisions it owns (owner reference by UID), plus,
  with ``adoptExisting``, those of the downstream package it adopts (owner reference,
  labels, annotations); owned revisions of another package are deleted or orphaned;
- no candidate: a clone draft (workspace ``packagevariant-<n+1>``); a published
  candidate behind upstream: an upgrade draft; a published candidate the mutations
  would change: an edit draft; then the mutations (package context, pipeline,
  injection) are written to the draft when they change its files;
- it never proposes or approves; status says Stalled (ValidationError / Valid) and Ready
  (NoErrors / Error) with Porch's messages, and lists the downstream targets.

Every write goes through the engine with the controller's identity, so git gets what a
user's request would. A steady state makes no writes.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import trio

from porch_embedded.controllers._injection import InjectionSource
from porch_embedded.controllers._on_demand import OnDemand
from porch_embedded.controllers._variant_files import mutated_files, same_files
from porch_embedded.controllers._variant_status import Status, downstream_targets
from porch_embedded.controllers._work_queue import WorkQueue
from porch_embedded.engine import Engine
from porch_embedded.errors import Conflict, Invalid, NotFound, ServiceUnavailable, StatusError
from porch_embedded.kinds import (
    CONFIG_MAP,
    PACKAGE_REVISION,
    PACKAGE_REVISION_RESOURCES,
    PACKAGE_VARIANT,
    REPOSITORY,
    Body,
    package_variant_causes,
)
from porch_embedded.meta import UserInfo
from porch_embedded.store import Informer, ListQuery, WatchEvent

__all__ = ["CONTROLLER_USER", "FINALIZER", "run_package_variants"]

log = logging.getLogger("porch_embedded.controllers.packagevariants")

FINALIZER = "config.porch.kpt.dev/packagevariants"
WORKSPACE_PREFIX = "packagevariant-"
CONTROLLER_USER = UserInfo(name="system:serviceaccount:porch-system:porch-controllers",
                           groups=("system:serviceaccounts", "system:authenticated"))
"""Who the controller's writes are made as (the commit author in git), as Porch's controllers' account."""

_PUBLISHED = ("Published", "DeletionProposed")


def _owned_by(revision: Body, variant: Body) -> bool:
    uid = variant["metadata"].get("uid")
    return any(ref.get("uid") == uid for ref in revision["metadata"].get("ownerReferences") or ())


def _owner_reference(variant: Body) -> dict[str, Any]:
    return {"apiVersion": PACKAGE_VARIANT.api_version, "kind": PACKAGE_VARIANT.kind,
            "name": variant["metadata"]["name"], "uid": variant["metadata"]["uid"], "controller": True}


def _revision_from_ref(ref: str) -> int:
    """The revision number at the end of a git ref (``pkg/v3`` -> 3); -1 when it names none."""
    last = ref.rsplit("/", 1)[-1]
    match = re.fullmatch(r"v(\d+)", last)
    return int(match.group(1)) if match else -1


def _upstream_ref(revision: Body) -> str:
    return str((((revision.get("status") or {}).get("upstreamLock") or {}).get("git") or {}).get("ref") or "")


def new_workspace_name(revisions: Iterable[Body], package: str, repository: str) -> str:
    """``packagevariant-<n+1>``, n the highest such suffix among the package's revisions (Porch's rule)."""
    highest = 0
    for revision in revisions:
        spec = revision["spec"]
        if spec.get("packageName") != package or spec.get("repository") != repository:
            continue
        workspace = str(spec.get("workspaceName") or "")
        if workspace.startswith(WORKSPACE_PREFIX) and workspace[len(WORKSPACE_PREFIX):].isdigit():
            highest = max(highest, int(workspace[len(WORKSPACE_PREFIX):]))
    return f"{WORKSPACE_PREFIX}{highest + 1}"


@dataclass
class _Upstream:
    revision: Body
    number: int
    """The upstream revision the downstream should be based on (Porch's upstream.Revision)."""


def _describe_upstream(upstream: dict[str, Any]) -> str:
    wanted = f'workspaceName "{upstream["workspaceName"]}"' if upstream.get("workspaceName") \
        else "a published revision"
    return (f'could not find upstream package revision: repo "{upstream.get("repo", "")}", package '
            f'"{upstream.get("package", "")}", {wanted}; check spec.upstream, or publish the upstream package')


def find_upstream(upstream: dict[str, Any], revisions: Iterable[Body]) -> _Upstream | None:
    """The revision named by workspaceName, else the latest published revision of the upstream package."""
    latest: Body | None = None
    for revision in revisions:
        spec = revision["spec"]
        if spec.get("repository") != upstream.get("repo") or spec.get("packageName") != upstream.get("package"):
            continue
        if upstream.get("workspaceName"):
            if spec.get("workspaceName") == upstream["workspaceName"]:
                return _Upstream(revision, int(spec.get("revision", 0)))
            continue
        if spec.get("lifecycle") == "Published" and int(spec.get("revision", 0)) > 0 and \
                (latest is None or int(spec["revision"]) > int(latest["spec"]["revision"])):
            latest = revision
    return _Upstream(latest, int(latest["spec"]["revision"])) if latest is not None else None


class _Reconciler:
    """One reconcile of one variant at a time (the work queue sees to that)."""

    def __init__(self, engine: Engine, source: InjectionSource) -> None:
        self._engine, self._source = engine, source

    # -- reading ---------------------------------------------------------------------------

    async def _revisions(self, namespace: str) -> list[Body]:
        store, items, token = self._engine.store, [], ""
        while True:
            page = await store.list(ListQuery(PACKAGE_REVISION.resource, namespace, limit=500, continue_token=token))
            items += page.items
            token = page.continue_token or ""
            if not token:
                return items

    # -- the run ---------------------------------------------------------------------------

    async def reconcile(self, key: tuple[str, str]) -> None:
        """Bring one variant's downstream in line; raise to be retried later (with backoff)."""
        try:
            variant = await self._engine.store.get(PACKAGE_VARIANT.resource, *key)
        except NotFound:
            return
        revisions = await self._revisions(key[0])
        if variant["metadata"].get("deletionTimestamp"):
            await self._finalize(variant, revisions)
            return
        if FINALIZER not in (variant["metadata"].get("finalizers") or ()):
            variant = copy.deepcopy(variant)
            variant["metadata"]["finalizers"] = [*(variant["metadata"].get("finalizers") or ()), FINALIZER]
            variant = await self._engine.update(PACKAGE_VARIANT, variant, user=CONTROLLER_USER)
        status = Status.of(variant)
        try:
            await self._ensure(variant, revisions, status)
        finally:
            await self._write_status(variant, status)

    async def _ensure(self, variant: Body, revisions: list[Body], status: Status) -> None:
        problems = package_variant_causes(variant)
        if problems:
            status.stalled(("; ".join(c.message for c in problems)))
            return
        spec = variant["spec"]
        upstream = find_upstream(spec["upstream"], revisions)
        if upstream is None:
            status.stalled(_describe_upstream(spec["upstream"]))
            return
        status.set("Stalled", "False", "Valid", "all validation checks passed")
        try:
            targets = await self._ensure_downstream(variant, upstream, revisions, status)
        except StatusError as error:
            status.set("Ready", "False", "Error", error.message)
            raise
        status.targets = downstream_targets(status.targets, targets)
        status.set("Ready", "True", "NoErrors", "successfully ensured downstream package variant")

    # -- the downstream --------------------------------------------------------------------

    async def _ensure_downstream(self, variant: Body, upstream: _Upstream, revisions: list[Body],
                                 status: Status) -> list[Body]:
        downstreams = await self._downstreams(variant, revisions)
        if not downstreams:
            spec = variant["spec"]
            draft = await self._engine.create(PACKAGE_REVISION, {
                "apiVersion": PACKAGE_REVISION.api_version, "kind": PACKAGE_REVISION.kind,
                "metadata": self._new_metadata(variant),
                "spec": {"repository": spec["downstream"]["repo"], "packageName": spec["downstream"]["package"],
                         "workspaceName": new_workspace_name(revisions, spec["downstream"]["package"],
                                                             spec["downstream"]["repo"]),
                         "tasks": [{"type": "clone", "clone": {"upstreamRef": {
                             "upstreamRef": {"name": upstream.revision["metadata"]["name"]}}}}]},
            }, user=CONTROLLER_USER)
            log.info("package variant %s created package revision %s", variant["metadata"]["name"],
                     draft["metadata"]["name"])
            await self._mutate(variant, draft, status)
            return [draft]
        results = []
        for downstream in downstreams:
            if downstream["spec"]["lifecycle"] == "DeletionProposed":
                # Proposed for deletion earlier, but it is our target again: keep it.
                downstream = await self._set_lifecycle(downstream, "Published")
            if not self._up_to_date(downstream, upstream):
                if downstream["spec"]["lifecycle"] not in _PUBLISHED:
                    raise Invalid(f'cannot update upstream of downstream "{downstream["metadata"]["name"]}" '
                                  "when it is not published")
                downstream = await self._upgrade_draft(variant, downstream, upstream, revisions)
                revisions.append(downstream)
            files = await self._files(downstream)
            wanted = await mutated_files(variant, files, self._reference(downstream), self._source)
            if not same_files(files, wanted):
                if downstream["spec"]["lifecycle"] in _PUBLISHED:
                    downstream = await self._draft_of(variant, downstream, revisions, {
                        "type": "edit", "edit": {"sourceRef": {"name": downstream["metadata"]["name"]}}})
                    revisions.append(downstream)
                    log.info("package variant %s created edit draft %s", variant["metadata"]["name"],
                             downstream["metadata"]["name"])
                await self._mutate(variant, downstream, status)
            results.append(downstream)
        return results

    async def _downstreams(self, variant: Body, revisions: list[Body]) -> list[Body]:
        """The owned (or adopted) drafts of the downstream package, else its latest published revision."""
        spec = variant["spec"]
        adopt = spec.get("adoptionPolicy") == "adoptExisting"
        drafts: list[Body] = []
        latest: Body | None = None
        for revision in revisions:
            owned = _owned_by(revision, variant)
            if not owned and not adopt:
                continue
            if (revision["spec"].get("repository"), revision["spec"].get("packageName")) != \
                    (spec["downstream"]["repo"], spec["downstream"]["package"]):
                if owned:  # ours, but no longer our target
                    await self._delete_or_orphan(variant, revision)
                continue
            if int(revision["spec"].get("revision", 0)) < 0:
                continue  # the placeholder of the package's branch stands for its latest; never a target
            if not owned:
                revision = await self._adopt(variant, revision)
            if revision["spec"]["lifecycle"] in _PUBLISHED:
                if latest is None or int(revision["spec"].get("revision", 0)) > int(latest["spec"].get("revision", 0)):
                    latest = revision
            else:
                drafts.append(revision)
        return drafts or ([latest] if latest is not None else [])

    @staticmethod
    def _up_to_date(downstream: Body, upstream: _Upstream) -> bool:
        ref = _upstream_ref(downstream)
        if not ref:
            return True
        if ref.startswith("drafts"):
            return False
        return _revision_from_ref(ref) == upstream.number

    def _new_metadata(self, variant: Body) -> dict[str, Any]:
        spec = variant["spec"]
        metadata: dict[str, Any] = {"namespace": variant["metadata"]["namespace"],
                                    "ownerReferences": [_owner_reference(variant)]}
        if spec.get("labels"):
            metadata["labels"] = dict(spec["labels"])
        if spec.get("annotations"):
            metadata["annotations"] = dict(spec["annotations"])
        return metadata

    async def _draft_of(self, variant: Body, source: Body, revisions: list[Body], task: dict[str, Any]) -> Body:
        """A new draft of ``source``'s package made by ``task`` (Porch's createDraftTemplate)."""
        spec = {k: v for k, v in source["spec"].items() if k not in ("revision", "lifecycle", "tasks")}
        spec.update(workspaceName=new_workspace_name(revisions, source["spec"]["packageName"],
                                                     source["spec"]["repository"]),
                    lifecycle="Draft", tasks=[task])
        return await self._engine.create(PACKAGE_REVISION, {
            "apiVersion": PACKAGE_REVISION.api_version, "kind": PACKAGE_REVISION.kind,
            "metadata": self._new_metadata(variant), "spec": spec}, user=CONTROLLER_USER)

    async def _upgrade_draft(self, variant: Body, downstream: Body, upstream: _Upstream,
                             revisions: list[Body]) -> Body:
        old_number = _revision_from_ref(_upstream_ref(downstream))
        wanted = variant["spec"]["upstream"]
        old = next((r for r in revisions if r["spec"].get("repository") == wanted["repo"]
                    and r["spec"].get("packageName") == wanted["package"]
                    and int(r["spec"].get("revision", 0)) == old_number and r["spec"]["lifecycle"] in _PUBLISHED),
                   None)
        if old is None:
            raise Invalid(f'could not find upstream package revision: repo "{wanted["repo"]}", package '
                          f'"{wanted["package"]}", published revision {old_number} (the one downstream '
                          f'"{downstream["metadata"]["name"]}" was made from)')
        draft = await self._draft_of(variant, downstream, revisions, {"type": "upgrade", "upgrade": {
            "oldUpstreamRef": {"name": old["metadata"]["name"]},
            "newUpstreamRef": {"name": upstream.revision["metadata"]["name"]},
            "localPackageRevisionRef": {"name": downstream["metadata"]["name"]},
            "strategy": "resource-merge"}})
        log.info("package variant %s created upgrade draft %s of %s from %s to %s", variant["metadata"]["name"],
                 draft["metadata"]["name"], downstream["metadata"]["name"], old["metadata"]["name"],
                 upstream.revision["metadata"]["name"])
        return draft

    @staticmethod
    def _reference(revision: Body) -> str:
        return f"'{revision['metadata']['namespace']}/{revision['metadata']['name']}'"

    async def _files(self, revision: Body) -> dict[str, str]:
        resources = await self._engine.store.get(PACKAGE_REVISION_RESOURCES.resource,
                                                 revision["metadata"]["namespace"], revision["metadata"]["name"])
        return dict((resources.get("spec") or {}).get("resources") or {})

    async def _mutate(self, variant: Body, draft: Body, status: Status) -> None:
        """Write the variant's mutations into ``draft`` when they change its files."""
        resources = await self._engine.store.get(PACKAGE_REVISION_RESOURCES.resource,
                                                 draft["metadata"]["namespace"], draft["metadata"]["name"])
        files = dict((resources.get("spec") or {}).get("resources") or {})
        wanted = await mutated_files(variant, files, self._reference(draft), self._source)
        if same_files(files, wanted):
            return
        body = copy.deepcopy(resources)
        body["spec"]["resources"] = wanted
        saved = await self._engine.update(PACKAGE_REVISION_RESOURCES, body, user=CONTROLLER_USER, current=resources)
        status.render_status(draft["metadata"]["name"], (saved.get("status") or {}).get("renderStatus"))

    # -- owning, adopting, letting go ------------------------------------------------------

    async def _update_revision(self, revision: Body, change: Any) -> Body:
        """Apply ``change`` to a fresh copy of ``revision`` and write it, retrying on a stale copy."""
        namespace, name = revision["metadata"]["namespace"], revision["metadata"]["name"]
        for _ in range(5):
            current = await self._engine.store.get(PACKAGE_REVISION.resource, namespace, name)
            body = copy.deepcopy(current)
            change(body)
            if body == current:
                return current
            try:
                return await self._engine.update(PACKAGE_REVISION, body, user=CONTROLLER_USER, current=current)
            except Conflict:
                await trio.sleep(0.05)
        raise Conflict(f"package revision {namespace}/{name} kept changing while the controller updated it")

    async def _set_lifecycle(self, revision: Body, lifecycle: str) -> Body:
        def change(body: Body) -> None:
            body["spec"]["lifecycle"] = lifecycle
        return await self._update_revision(revision, change)

    async def _adopt(self, variant: Body, revision: Body) -> Body:
        """Own ``revision`` and give it the variant's labels and annotations (adoptExisting)."""
        log.info("package variant %s is adopting package revision %s", variant["metadata"]["name"],
                 revision["metadata"]["name"])
        spec = variant["spec"]

        def change(body: Body) -> None:
            metadata = body["metadata"]
            if not _owned_by(body, variant):
                metadata["ownerReferences"] = [*(metadata.get("ownerReferences") or ()), _owner_reference(variant)]
            for key in ("labels", "annotations"):
                if spec.get(key):
                    metadata[key] = {**(metadata.get(key) or {}), **spec[key]}
        return await self._update_revision(revision, change)

    async def _orphan(self, variant: Body, revision: Body) -> None:
        uid = variant["metadata"].get("uid")

        def change(body: Body) -> None:
            refs = [ref for ref in body["metadata"].get("ownerReferences") or () if ref.get("uid") != uid]
            if refs:
                body["metadata"]["ownerReferences"] = refs
            else:
                body["metadata"].pop("ownerReferences", None)
        await self._update_revision(revision, change)

    async def _delete_or_orphan(self, variant: Body, revision: Body) -> None:
        """Let go of a revision the variant owns: Porch's deletion policies."""
        name = revision["metadata"]["name"]
        if variant["spec"].get("deletionPolicy") == "orphan":
            log.info("package variant %s is orphaning package revision %s", variant["metadata"]["name"], name)
            await self._orphan(variant, revision)
            return
        lifecycle = revision["spec"]["lifecycle"]
        log.info("package variant %s is deleting package revision %s", variant["metadata"]["name"], name)
        if lifecycle in ("Draft", "Proposed"):
            try:
                await self._engine.delete(PACKAGE_REVISION, revision["metadata"]["namespace"], name,
                                          user=CONTROLLER_USER)
            except NotFound:
                pass
        elif lifecycle == "Published":
            await self._set_lifecycle(revision, "DeletionProposed")

    async def _finalize(self, variant: Body, revisions: list[Body]) -> None:
        """The variant is being deleted: apply its deletion policy, then release the finalizer."""
        for revision in revisions:
            if not _owned_by(revision, variant):
                continue
            try:
                await self._delete_or_orphan(variant, revision)
            except StatusError as error:
                if isinstance(error, ServiceUnavailable):
                    raise  # git or the store will answer again: finish the deletion then
                # As Porch: a revision that refuses (another package clones it, ...) does not keep
                # the variant from going; it is left for a person to look at.
                log.warning("package variant %s could not let go of package revision %s: %s",
                            variant["metadata"]["name"], revision["metadata"]["name"], error.message)
            try:
                current = await self._engine.store.get(PACKAGE_REVISION.resource, revision["metadata"]["namespace"],
                                                       revision["metadata"]["name"])
            except NotFound:
                continue
            if current["spec"]["lifecycle"] == "DeletionProposed" and _owned_by(current, variant):
                # Proposed for deletion and left to an approver: it must outlive its variant.
                await self._orphan(variant, current)
        if FINALIZER in (variant["metadata"].get("finalizers") or ()):
            body = copy.deepcopy(variant)
            body["metadata"]["finalizers"] = [f for f in body["metadata"]["finalizers"] if f != FINALIZER]
            await self._engine.update(PACKAGE_VARIANT, body, user=CONTROLLER_USER, current=variant)

    # -- status ----------------------------------------------------------------------------

    async def _write_status(self, variant: Body, status: Status) -> None:
        """Write the status when it changed; a variant deleted meanwhile needs none."""
        wanted = status.as_json()
        if wanted == (variant.get("status") or {}):
            return
        body = copy.deepcopy(variant)
        body["status"] = wanted
        try:
            await self._engine.update(PACKAGE_VARIANT, body, subresource="status", user=CONTROLLER_USER,
                                      current=variant)
        except NotFound:
            pass


def _concerns(variant: Body, changed: Body, resource: str) -> bool:
    """Whether a change of ``changed`` (a revision, a Repository, a ConfigMap) may change what ``variant`` does.

    A revision it owns, or of its upstream or downstream package (a new upstream revision,
    one to adopt); a Repository it reads from or writes to; any ConfigMap when it injects.
    Re-queueing only these keeps a namespace of many variants from reconciling them all
    on every write.
    """
    spec = variant.get("spec") or {}
    upstream, downstream = spec.get("upstream") or {}, spec.get("downstream") or {}
    if resource == PACKAGE_REVISION.resource:
        where = (changed["spec"].get("repository"), changed["spec"].get("packageName"))
        return _owned_by(changed, variant) or where in ((upstream.get("repo"), upstream.get("package")),
                                                        (downstream.get("repo"), downstream.get("package")))
    if resource == REPOSITORY.resource:
        return changed["metadata"]["name"] in (upstream.get("repo"), downstream.get("repo"))
    return bool(spec.get("injectors"))


async def run_package_variants(engine: Engine, source: InjectionSource, *,
                               task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Reconcile every PackageVariant whenever it or what it depends on changes, until cancelled."""
    reconciler = _Reconciler(engine, source)
    queue = WorkQueue(reconciler.reconcile, name="packagevariants")
    variants: dict[str, dict[str, Body]] = {}
    """The variants known per namespace, by name (what an event of another kind is matched against)."""

    async def variant_changed(event: WatchEvent) -> None:
        metadata = event.object["metadata"]
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        if event.type == "DELETED":
            variants.get(namespace, {}).pop(name, None)
            if not variants.get(namespace):
                variants.pop(namespace, None)
            if not variants:
                dependencies.stop()
            return
        variants.setdefault(namespace, {})[name] = event.object
        queue.add((namespace, name))
        await dependencies.start()

    def follow(resource: str) -> Informer:
        async def changed(event: WatchEvent) -> None:
            namespace = event.object["metadata"].get("namespace", "")
            for name, variant in sorted(variants.get(namespace, {}).items()):
                if _concerns(variant, event.object, resource):
                    queue.add((namespace, name))
        return Informer(engine.store, resource, changed, name=f"packagevariants: {resource}")

    async with trio.open_nursery() as nursery:
        # What variants depend on is followed only while there is a variant: a server
        # without any never lists its PackageRevisions for this controller.
        dependencies = OnDemand(nursery, lambda: [follow(kind.resource)
                                                  for kind in (PACKAGE_REVISION, REPOSITORY, CONFIG_MAP)],
                                name="packagevariants: dependencies")
        await nursery.start(queue.run)
        await nursery.start(Informer(engine.store, PACKAGE_VARIANT.resource, variant_changed,
                                     name="packagevariants").run)
        task_status.started()
