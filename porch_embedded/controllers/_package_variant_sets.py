"""The PackageVariantSet controller: one upstream fanned out into one PackageVariant per target.

Level-triggered, as Porch's: every reconcile of a set reads the set, the namespace's
PackageRevisions (the upstream), Repositories (``repository`` of the templates) and the
objects its targets select, renders the PackageVariants it wants, and makes the stored
ones match: creates what is missing, updates a changed spec in place (the object and its
uid stay: Porch once deleted and recreated them, and every downstream draft with them),
deletes those whose target went away. A steady state writes nothing: a variant whose spec
and ownership already match is not touched, and the status is written only when a
condition changed. Names are a function of the set and the downstream, and the set's
variants are found by label, so a restart in the middle of a fan-out finds what it had
created and creates only the rest.

What triggers a reconcile: the set itself, and in its namespace any change of a
PackageRevision, PackageVariant or Repository, or of an object of a kind some set's
``objectSelector`` names (followed from the first time a set names it). A work queue
keyed by set runs one reconcile per set at a time, coalesces triggers that arrive
meanwhile into one more run, and retries a failed run with backoff. One set's failure
(a bad target, CEL that gives no string) is its own Stalled condition; others go on.

Without a kube-apiserver nothing collects garbage, so the controller also deletes the
variants of a deleted set (its uid in their ``config.porch.kpt.dev/packagevariantset``
label), as Kubernetes' garbage collector does for Porch through the owner reference.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import partial

import trio

from porch_embedded.controllers._on_demand import OnDemand
from porch_embedded.controllers._package_variants import FINALIZER as VARIANT_FINALIZER
from porch_embedded.controllers._variant_set_render import (
    RenderError,
    VariantTarget,
    render_variant_spec,
    variant_identifier,
    variant_name,
)
from porch_embedded.controllers._work_queue import WorkQueue
from porch_embedded.engine import Engine
from porch_embedded.errors import Conflict, NotFound, ServiceUnavailable, StatusError
from porch_embedded.kinds import (
    ALL_KINDS,
    PACKAGE_REVISION,
    PACKAGE_VARIANT,
    PACKAGE_VARIANT_SET,
    REPOSITORY,
    Body,
    Kind,
    variant_set_causes,
)
from porch_embedded.meta import LabelSelector, format_time
from porch_embedded.store import Backoff, Informer, ListQuery, WatchEvent

__all__ = ["OWNER_LABEL", "VariantSetSettings", "run_package_variant_sets"]

log = logging.getLogger("porch_embedded.controllers.variantsets")

OWNER_LABEL = "config.porch.kpt.dev/packagevariantset"
"""On each PackageVariant of a set: the set's uid."""

Key = tuple[str, str]
_ON_DEMAND = (REPOSITORY.resource, PACKAGE_REVISION.resource)
"""Followed only while a set exists (see ``_Controller.run``)."""


@dataclass(frozen=True)
class VariantSetSettings:
    workers: int = 4
    """Sets reconciled at once (one set is never reconciled twice at once)."""
    retry: Backoff = field(default_factory=Backoff)


class _Stalled(Exception):
    """The set cannot make progress: Stalled=True and Ready=False with ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _conditions_with(conditions: list[Body], wanted: list[Body]) -> list[Body]:
    """metav1 SetStatusCondition: replace by type, keeping lastTransitionTime unless status flips."""
    result = [dict(c) for c in conditions]
    for condition in wanted:
        current = next((c for c in result if c.get("type") == condition["type"]), None)
        if current is None:
            result.append(dict(condition))
            continue
        if current.get("status") != condition["status"]:
            current["lastTransitionTime"] = condition["lastTransitionTime"]
        current.update(status=condition["status"], reason=condition["reason"], message=condition["message"],
                       observedGeneration=condition["observedGeneration"])
    return result


def _condition(kind: str, status: str, reason: str, message: str, generation: int) -> Body:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": format_time(_dt.datetime.now(_dt.UTC)), "observedGeneration": generation}


def _visible(body: Body, *, with_spec: bool) -> bytes:
    """A digest of what a reconcile reads of a followed object: identity, labels, annotations,
    a revision's spec (keys sorted, so that equal contents give equal digests)."""
    metadata = body["metadata"]
    spec = body.get("spec") if with_spec else None
    seen = (metadata.get("uid"), metadata.get("labels") or {}, metadata.get("annotations") or {}, spec)
    return hashlib.blake2b(json.dumps(seen, sort_keys=True, separators=(",", ":")).encode(),
                           digest_size=16).digest()


def _spec_of(body: Body) -> Body:
    return dict(body.get("spec") or {})


class _Controller:
    def __init__(self, engine: Engine, settings: VariantSetSettings) -> None:
        self._engine, self._store, self._settings = engine, engine.store, settings
        self._queue = WorkQueue(self._reconcile, name="variant sets", retry=settings.retry,
                                concurrency=settings.workers)
        self._sets: dict[str, dict[str, str]] = {}
        """namespace -> set name -> uid, as the set informer last saw them."""
        self._followed: set[str] = set()
        self._seen: dict[tuple[str, str, str], bytes] = {}
        """A digest of what a set can see of each followed object (``_visible``), to skip changes
        it cannot. A digest, not the parsed labels and spec: one is kept per PackageRevision,
        and the parsed ones were a few MB per thousand revisions."""
        self._nursery: trio.Nursery | None = None
        self._dependencies: OnDemand | None = None
        """The Repository and PackageRevision informers, run only while there is a set."""

    # -- triggers ------------------------------------------------------------------------

    async def _set_changed(self, event: WatchEvent) -> None:
        metadata = event.object["metadata"]
        namespace, name, uid = metadata.get("namespace", ""), metadata["name"], metadata.get("uid", "")
        if event.type == "DELETED":
            if self._sets.get(namespace, {}).get(name) == uid:
                del self._sets[namespace][name]
                if not self._sets[namespace]:
                    del self._sets[namespace]
            await self._delete_variants_of(namespace, uid)
            if not self._sets and self._dependencies is not None:
                self._dependencies.stop()
                self._seen = {key: seen for key, seen in self._seen.items() if key[0] not in _ON_DEMAND}
            return
        self._sets.setdefault(namespace, {})[name] = uid
        self._queue.add((namespace, name))
        assert self._dependencies is not None
        await self._dependencies.start()

    def _namespace_changed(self, namespace: str) -> None:
        for name in list(self._sets.get(namespace, {})):
            self._queue.add((namespace, name))

    async def _other_changed(self, resource: str, event: WatchEvent) -> None:
        """Requeue the namespace's sets when an object changed in a way a set can see.

        A set sees of a Repository or a selected object its name, labels and annotations,
        and of a PackageRevision also its spec (the upstream lookup); a status write (the
        repository sync's every health check) changes none of them and requeues nothing.
        """
        metadata = event.object["metadata"]
        key = (resource, metadata.get("namespace", ""), metadata["name"])
        seen = _visible(event.object, with_spec=resource == PACKAGE_REVISION.resource)
        if event.type == "DELETED":
            self._seen.pop(key, None)
        elif self._seen.get(key) == seen:
            return
        else:
            self._seen[key] = seen
        self._namespace_changed(metadata.get("namespace", ""))

    async def _variant_changed(self, event: WatchEvent) -> None:
        """Requeue the namespace's sets; delete a set's variant whose set is gone (garbage)."""
        metadata = event.object["metadata"]
        namespace = metadata.get("namespace", "")
        owner = (metadata.get("labels") or {}).get(OWNER_LABEL)
        if event.type != "DELETED" and owner and not metadata.get("deletionTimestamp") \
                and owner not in self._sets.get(namespace, {}).values():
            if not await self._set_exists(namespace, owner):
                log.info("deleting PackageVariant %s/%s: its PackageVariantSet (uid %s) is gone",
                         namespace, metadata["name"], owner)
                await self._delete_variant(namespace, metadata["name"])
        self._namespace_changed(namespace)

    async def _set_exists(self, namespace: str, uid: str) -> bool:
        page = await self._store.list(ListQuery(PACKAGE_VARIANT_SET.resource, namespace))
        return any(item["metadata"].get("uid") == uid for item in page.items)

    async def _delete_variants_of(self, namespace: str, uid: str) -> None:
        if not uid:
            return
        page = await self._store.list(ListQuery(PACKAGE_VARIANT.resource, namespace,
                                                labels=LabelSelector.parse(f"{OWNER_LABEL}={uid}")))
        for variant in page.items:
            await self._delete_variant(namespace, variant["metadata"]["name"])

    async def _delete_variant(self, namespace: str, name: str) -> None:
        try:
            await self._engine.delete(PACKAGE_VARIANT, namespace, name)
        except NotFound:
            pass

    def _follow(self, kind: Kind) -> None:
        """Start following the objects of ``kind`` (once) so that their changes requeue sets."""
        if kind.resource in self._followed:
            return
        self._followed.add(kind.resource)
        assert self._nursery is not None
        self._nursery.start_soon(Informer(self._store, kind.resource, partial(self._other_changed, kind.resource),
                                          name=f"variant sets: {kind.plural}").run)

    # -- running -------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None]) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._followed.update({PACKAGE_VARIANT.resource, *_ON_DEMAND})
            # PackageVariants are followed always (a set's variant outliving its set is garbage);
            # what only sets look at is followed while there is one: a server without any never
            # lists its PackageRevisions for this controller.
            self._dependencies = OnDemand(nursery, lambda: [
                Informer(self._store, kind.resource, partial(self._other_changed, kind.resource),
                         name=f"variant sets: {kind.plural}") for kind in (REPOSITORY, PACKAGE_REVISION)],
                name="variant sets: dependencies")
            await nursery.start(Informer(self._store, PACKAGE_VARIANT_SET.resource, self._set_changed,
                                         name="variant sets").run)
            await nursery.start(Informer(self._store, PACKAGE_VARIANT.resource, self._variant_changed,
                                         name="variant sets: packagevariants").run)
            await nursery.start(self._queue.run)
            task_status.started()

    # -- reconciling ---------------------------------------------------------------------

    async def _reconcile(self, key: Key) -> None:
        namespace, name = key
        try:
            current = await self._store.get(PACKAGE_VARIANT_SET.resource, namespace, name)
        except NotFound:
            return
        if current["metadata"].get("deletionTimestamp"):
            return
        generation = int(current["metadata"].get("generation") or 1)
        try:
            await self._ensure(current)
            wanted = [_condition("Stalled", "False", "Valid", "all validation checks passed", generation),
                      _condition("Ready", "True", "Reconciled", "package variants successfully reconciled",
                                 generation)]
        except _Stalled as stalled:
            log.info("PackageVariantSet %s/%s is stalled: %s: %s", namespace, name, stalled.reason, stalled.message)
            wanted = [_condition("Stalled", "True", stalled.reason, stalled.message, generation),
                      _condition("Ready", "False", stalled.reason, stalled.message, generation)]
        await self._write_conditions(current, wanted)

    async def _write_conditions(self, current: Body, wanted: list[Body]) -> None:
        for _ in range(5):
            status = dict(current.get("status") or {})
            before = status.get("conditions") or []
            after = _conditions_with(before, wanted)
            if after == before:
                return
            status["conditions"] = after
            try:
                await self._engine.update(PACKAGE_VARIANT_SET, {**current, "status": status}, subresource="status",
                                          current=current)
                return
            except Conflict:
                metadata = current["metadata"]
                current = await self._store.get(PACKAGE_VARIANT_SET.resource, metadata["namespace"], metadata["name"])
        raise Conflict("the PackageVariantSet kept changing while its status was written")

    async def _ensure(self, body: Body) -> None:
        causes = variant_set_causes(body)
        if causes:
            raise _Stalled("ValidationError", "; ".join(c.message for c in causes))
        namespace = body["metadata"]["namespace"]
        upstream = await self._upstream(body)
        try:
            targets = await self._unroll(body)
        except StatusError as error:
            if isinstance(error, ServiceUnavailable):
                raise
            raise _Stalled("UnexpectedError", error.message) from None
        repositories = {r["metadata"]["name"]: r for r in
                        (await self._store.list(ListQuery(REPOSITORY.resource, namespace))).items}
        try:
            await self._ensure_variants(body, repositories, upstream, targets)
        except RenderError as error:
            raise _Stalled("UnexpectedError", str(error)) from None
        except StatusError as error:
            if isinstance(error, (ServiceUnavailable, Conflict)) and not error.causes:
                raise
            raise _Stalled("UnexpectedError", error.message) from None

    async def _upstream(self, body: Body) -> Body:
        """The upstream PackageRevision: same repo and package, and the revision or the workspace."""
        upstream = body["spec"]["upstream"]
        revision, workspace = int(upstream.get("revision") or 0), upstream.get("workspaceName") or ""
        page = await self._store.list(ListQuery(PACKAGE_REVISION.resource, body["metadata"]["namespace"]))
        for revision_body in page.items:
            spec = revision_body.get("spec") or {}
            if spec.get("repository") != upstream.get("repo") or spec.get("packageName") != upstream.get("package"):
                continue
            if (revision and int(spec.get("revision") or 0) == revision) or \
                    (workspace and spec.get("workspaceName") == workspace):
                return revision_body
        raise _Stalled("UpstreamNotFound", f"could not find upstream package revision "
                                           f"'{upstream.get('package')}/{revision}' in repo '{upstream.get('repo')}'")

    async def _unroll(self, body: Body) -> list[VariantTarget]:
        """Every target of the set as (repo default, package default, template, selected object)."""
        namespace = body["metadata"]["namespace"]
        upstream_package = body["spec"]["upstream"]["package"]
        result: list[VariantTarget] = []
        for index, target in enumerate(body["spec"]["targets"]):
            template = target.get("template") if isinstance(target.get("template"), dict) else None
            if target.get("repositories"):
                for repository in target["repositories"]:
                    for package in repository.get("packageNames") or [upstream_package]:
                        result.append(VariantTarget(repository["name"], package, template))
                continue
            selector = target.get("objectSelector")
            if target.get("repositorySelector") is not None:
                selector = {**target["repositorySelector"], "apiVersion": REPOSITORY.api_version,
                            "kind": REPOSITORY.kind}
            kind = next((k for k in ALL_KINDS if k.api_version == selector["apiVersion"]
                         and k.kind == selector["kind"] and "list" in k.verbs), None)
            if kind is None:
                raise _Stalled("NoMatchingTargets", f'no matches for kind "{selector["kind"]}" in version '
                                                    f'"{selector["apiVersion"]}"')
            self._follow(kind)
            labels = LabelSelector.from_json({k: v for k, v in selector.items()
                                              if k in ("matchLabels", "matchExpressions")})
            page = await self._store.list(ListQuery(kind.resource, namespace if kind.namespaced else "",
                                                    labels=labels))
            selected = [item for item in page.items
                        if not selector.get("name") or item["metadata"]["name"] == selector["name"]]
            if not selected:
                log.info("PackageVariantSet %s/%s: no objects selected by target %d", namespace,
                         body["metadata"]["name"], index)
            for item in sorted(selected, key=lambda item: item["metadata"]["name"]):
                result.append(VariantTarget(item["metadata"]["name"], upstream_package, template, item))
        return result

    async def _ensure_variants(self, body: Body, repositories: dict[str, Body], upstream: Body,
                               targets: list[VariantTarget]) -> None:
        """Create, update in place, and delete PackageVariants until they are what the set renders."""
        metadata = body["metadata"]
        namespace, set_name, uid = metadata["namespace"], metadata["name"], metadata["uid"]
        desired: dict[str, Body] = {}
        for target in targets:
            spec = render_variant_spec(body, repositories, upstream, target)
            desired[variant_identifier(set_name, spec)] = spec
        page = await self._store.list(ListQuery(PACKAGE_VARIANT.resource, namespace,
                                                labels=LabelSelector.parse(f"{OWNER_LABEL}={uid}")))
        existing: dict[str, Body] = {}
        terminating: set[str] = set()
        for variant in page.items:
            if variant["metadata"].get("deletionTimestamp"):
                terminating.add(variant["metadata"]["name"])
                continue
            identifier = variant_identifier(set_name, _spec_of(variant))
            if identifier in desired and identifier not in existing:
                existing[identifier] = variant
            else:
                await self._delete_variant(namespace, variant["metadata"]["name"])
        owner = {"apiVersion": body.get("apiVersion", PACKAGE_VARIANT_SET.api_version),
                 "kind": PACKAGE_VARIANT_SET.kind, "name": set_name, "uid": uid, "controller": True}
        for identifier, spec in desired.items():
            variant = existing.get(identifier)
            if variant is not None:
                await self._update_variant(variant, spec, owner)
                continue
            name = variant_name(identifier)
            if name in terminating:
                continue  # the old one is still being finalized; its deletion requeues this set
            await self._engine.create(PACKAGE_VARIANT, {
                "apiVersion": PACKAGE_VARIANT.api_version, "kind": PACKAGE_VARIANT.kind,
                "metadata": {"name": name, "namespace": namespace, "labels": {OWNER_LABEL: uid},
                             "finalizers": [VARIANT_FINALIZER], "ownerReferences": [owner]},
                "spec": spec,
            })

    async def _update_variant(self, variant: Body, spec: Body, owner: Body) -> None:
        """Bring one variant's spec (and the set's ownership marks) up to date, in place."""
        wanted = copy.deepcopy(variant)
        wanted["spec"] = copy.deepcopy(spec)
        if PACKAGE_VARIANT.defaults is not None:
            PACKAGE_VARIANT.defaults(wanted)
        metadata = wanted["metadata"]
        metadata["labels"] = {**(metadata.get("labels") or {}), OWNER_LABEL: owner["uid"]}
        references = list(metadata.get("ownerReferences") or [])
        index = next((i for i, r in enumerate(references) if r.get("uid") == owner["uid"]), None)
        if index is None:
            references.append(owner)
        else:
            references[index] = {**references[index], **owner}
        metadata["ownerReferences"] = references
        if wanted == variant:
            return
        await self._engine.update(PACKAGE_VARIANT, wanted, current=variant)


async def run_package_variant_sets(engine: Engine, settings: VariantSetSettings | None = None, *,
                                   task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Reconcile every PackageVariantSet until cancelled (run it on the leader only)."""
    await _Controller(engine, settings or VariantSetSettings()).run(task_status)
