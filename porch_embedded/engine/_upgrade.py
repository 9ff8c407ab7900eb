"""The ``upgrade`` task: a new revision of a downstream package with a newer upstream merged in.

``spec.tasks[0]`` is ``{type: upgrade, upgrade: {oldUpstreamRef: {name}, newUpstreamRef:
{name}, localPackageRevisionRef: {name}, strategy}}``. The three references name
PackageRevisions of the same namespace: the upstream revision the local package was
last cloned or upgraded from, the upstream revision to move to, and the downstream
revision whose files (with their local changes) are upgraded. The new revision's files
are kpt's three-way merge of the three (``porch_embedded.kpt.merge_package``); the task
table points the Kptfile's ``upstream`` and ``upstreamLock`` at the new upstream, as for
a clone, and the create flow then renders them like any other new revision.

Porch checks only some of this (the placeholder as new upstream or as local, and that a
referenced revision of the package being created is published) and answers everything
with 500. Here every reference is checked before anything is read or written, each
refusal is a 4xx saying what to fix, and Porch's own message is used where it has one:
- missing ``upgrade`` or an empty reference name: 400;
- an unknown strategy: 422 on ``spec.tasks[0].upgrade.strategy``;
- a reference that does not exist: 404, in Porch's order (old upstream, new upstream,
  local) and words;
- the placeholder (branch) revision as new upstream or as local, a reference that is
  not published, old and new upstream of different packages, a local revision of
  another package (the new draft always lands in the local revision's repository and
  package): 422;
- what the merge refuses (local changes under fast-forward, a subpackage added on both
  sides, ...): 422 with Porch's prefix and the merge's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porch_embedded.engine._lifecycle import PUBLISHED
from porch_embedded.errors import BadRequest, Cause, Invalid, NotFound, StatusError
from porch_embedded.kinds import PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, Body
from porch_embedded.kpt import KPTFILE, STRATEGIES, merge_package
from porch_embedded.store import Store

__all__ = ["Upgraded", "upgrade_files"]

_FIELD = "spec.tasks[0].upgrade"


@dataclass(frozen=True)
class Upgraded:
    """The merged files of an upgrade and the new upstream's lock (its selfLock), which the Kptfile is to
    record."""

    files: dict[str, str]
    lock: dict[str, Any]


@dataclass(frozen=True)
class _Refs:
    """The three names an upgrade task gives, and its strategy ("" means resource-merge)."""

    old: str
    new: str
    local: str
    strategy: str


def _refs(task: Mapping[str, Any]) -> _Refs:
    """Read the task's references; 400 when the task is not shaped as Porch's upgrade task."""
    upgrade = task.get("upgrade")
    if not isinstance(upgrade, Mapping):
        raise BadRequest(f'upgrade field not set for task of type "upgrade": give {_FIELD}.oldUpstreamRef, '
                         ".newUpstreamRef and .localPackageRevisionRef")
    names = []
    for field in ("oldUpstreamRef", "newUpstreamRef", "localPackageRevisionRef"):
        ref = upgrade.get(field)
        name = ref.get("name") if isinstance(ref, Mapping) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{_FIELD}.{field}.name is required: the name of a published PackageRevision")
        names.append(name)
    strategy = upgrade.get("strategy") or ""
    if not isinstance(strategy, str) or (strategy and strategy not in STRATEGIES):
        supported = ", ".join(f'"{s}"' for s in STRATEGIES)
        message = f'Unsupported value: "{strategy}": supported values: {supported}'
        raise Invalid(f"{_FIELD}.strategy: {message}",
                      causes=[Cause(message, f"{_FIELD}.strategy", "FieldValueNotSupported")])
    return _Refs(*names, strategy=strategy)


async def _revision(store: Store, namespace: str, name: str, missing: str) -> Body:
    try:
        return await store.get(PACKAGE_REVISION.resource, namespace, name)
    except NotFound:
        raise NotFound(f'{missing}: cannot find package revision "{name}"',
                       details={"name": name, "group": PACKAGE_REVISION.group,
                                "kind": PACKAGE_REVISION.resource}) from None


async def _files(store: Store, revision: Body) -> dict[str, str]:
    metadata = revision["metadata"]
    resources = await store.get(PACKAGE_REVISION_RESOURCES.resource, metadata["namespace"], metadata["name"])
    return dict(resources["spec"].get("resources") or {})


def _is_placeholder(revision: Body) -> bool:
    return int(revision["spec"].get("revision", 0)) == -1


def _package_of(revision: Body) -> str:
    return f"{revision['spec']['repository']}/{revision['spec']['packageName']}"


async def upgrade_files(store: Store, repository: Body, package: str, task: Mapping[str, Any]) -> Upgraded:
    """The merged files of a new revision of ``package`` in ``repository`` made by an upgrade task.

    Checks every reference first (see the module docstring for each refusal), then merges
    the old upstream's, new upstream's and local revision's files with the task's
    strategy. The task table then records the returned lock as the Kptfile's upstream and
    upstreamLock, as a clone does; the package context stays as the merge leaves it.
    """
    refs = _refs(task)
    namespace, repository_name = repository["metadata"]["namespace"], repository["metadata"]["name"]
    old = await _revision(store, namespace, refs.old, f'error fetching the resources for package "{package}" '
                                                      f"with ref {{Name:{refs.old}}}")
    new = await _revision(store, namespace, refs.new, f'error fetching revision for target upstream "{refs.new}"')
    if _is_placeholder(new):
        raise Invalid(f"target upstream revision may not be the placeholder package revision "
                      f"{new['spec']['repository']}/{refs.new}")
    local = await _revision(store, namespace, refs.local, f'error fetching revision "{refs.local}" to be upgraded')
    if _is_placeholder(local):
        raise Invalid(f"source revision may not be the placeholder package revision "
                      f"{local['spec']['repository']}/{refs.local}")
    if local["spec"]["repository"] != repository_name or local["spec"]["packageName"] != package:
        raise Invalid(f"{_FIELD}.localPackageRevisionRef must be a revision of the package being created, "
                      f'{repository_name}/{package}; "{refs.local}" is a revision of {_package_of(local)}')
    for revision in (old, new, local):
        if revision["spec"]["lifecycle"] not in PUBLISHED:
            raise Invalid(f"all source PackageRevisions of upgrade task must be published, "
                          f"\"{revision['metadata']['name']}\" is not")
    if _package_of(old) != _package_of(new):
        raise Invalid(f"{_FIELD}.oldUpstreamRef and .newUpstreamRef must be revisions of the same upstream "
                      f'package: "{refs.old}" is a revision of {_package_of(old)}, "{refs.new}" of {_package_of(new)}')
    original, updated, local_files = await _files(store, old), await _files(store, new), await _files(store, local)
    try:
        merged = merge_package(original, updated, local_files, refs.strategy)
    except StatusError as error:
        raise type(error)(f'error updating the package "{package}" to revision "{refs.new}": {error.message}',
                          causes=error.causes, details=error.details) from error
    if KPTFILE not in merged:
        raise Invalid(f'failed to apply upstream lock to package "{package}": the merged package has no Kptfile; '
                      f'give "{refs.local}" a Kptfile, or pick a strategy that keeps one')
    return Upgraded(merged, dict((new.get("status") or {}).get("selfLock") or {}))
