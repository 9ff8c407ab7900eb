"""PackageRevision, PackageRevisionResources and PorchPackage bodies from storage facts.

Storage (through the adapter) says what a revision is and where (its ``selfLock``, which
the engine keeps without reading it); its Kptfile says its metadata,
readiness gates, conditions and upstream lock; the store keeps what only the API
holds (labels, annotations, finalizers, owner references, creation time). These
functions put the three together into the objects the API serves.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from porch_embedded.engine._naming import package_object_name, revision_name, revision_uid
from porch_embedded.errors import StatusError
from porch_embedded.kinds import PACKAGE, PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, Body
from porch_embedded.kpt import KPTFILE, Kptfile, read_kptfile
from porch_embedded.meta import format_time, now_rfc3339
from porch_embedded.vcs import Revision

__all__ = [
    "LATEST_LABEL",
    "PUSH_ON_RENDER_FAILURE",
    "kptfile_of",
    "package_body",
    "resources_body",
    "revision_body",
]

LATEST_LABEL = "kpt.dev/latest-revision"
PUSH_ON_RENDER_FAILURE = "porch.kpt.dev/push-on-render-failure"
_KEPT_METADATA = ("labels", "annotations", "finalizers", "ownerReferences", "creationTimestamp",
                  "deletionTimestamp", "deletionGracePeriodSeconds")


def kptfile_of(files: Mapping[str, str]) -> Kptfile | None:
    """The package's root Kptfile, or None when it is missing or unreadable."""
    text = files.get(KPTFILE)
    if text is None:
        return None
    try:
        return read_kptfile(text)
    except StatusError:
        return None


def revision_body(repository: Body, revision: Revision, kptfile: Kptfile | None, self_lock: Mapping[str, Any], *,
                  kept: Body | None = None, latest: bool = False) -> Body:
    """The PackageRevision for ``revision`` of ``repository``; ``kept`` is the stored object, if any.

    ``self_lock`` is the adapter's ``selfLock`` body of the revision (``RepositoryAdapter.self_lock``).
    """
    namespace = repository["metadata"]["namespace"]
    repo_name = repository["metadata"]["name"]
    name = revision_name(repo_name, revision.package, revision.workspace)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "uid": revision_uid(namespace, name)}
    if kept is not None:
        for key in _KEPT_METADATA:
            if key in kept.get("metadata", {}):
                metadata[key] = copy.deepcopy(kept["metadata"][key])
    metadata.setdefault("creationTimestamp", now_rfc3339())
    labels = dict(metadata.get("labels") or {})
    labels.pop(LATEST_LABEL, None)
    if latest:
        labels[LATEST_LABEL] = "true"
    if labels:
        metadata["labels"] = labels
    else:
        metadata.pop("labels", None)
    spec: dict[str, Any] = {
        "packageName": revision.package,
        "repository": repo_name,
        "workspaceName": revision.workspace,
        "lifecycle": revision.lifecycle,
    }
    if revision.revision:
        spec["revision"] = revision.revision
    if revision.tasks:
        spec["tasks"] = [dict(revision.tasks[0])]
    status: dict[str, Any] = {
        "selfLock": copy.deepcopy(dict(self_lock)),
        "deployment": bool((repository.get("spec") or {}).get("deployment")),
    }
    if kptfile is not None:
        spec["packageMetadata"] = {"labels": dict(kptfile.labels), "annotations": dict(kptfile.annotations)}
        if kptfile.readiness_gates:
            spec["readinessGates"] = [{"conditionType": c} for c in kptfile.readiness_gates]
        if kptfile.conditions:
            status["conditions"] = [
                {k: v for k, v in (("type", c.type), ("status", c.status), ("reason", c.reason),
                                   ("message", c.message)) if v}
                for c in kptfile.conditions
            ]
        lock = kptfile.upstream_lock
        if lock and isinstance(lock.get("git"), Mapping) and (kptfile.upstream or {}).get("git"):
            status["upstreamLock"] = {"type": lock.get("type", "git"), "git": dict(lock["git"])}
    if revision.lifecycle in ("Published", "DeletionProposed"):
        if revision.published_by:
            status["publishedBy"] = revision.published_by
        if revision.published_at is not None:
            status["publishTimestamp"] = format_time(revision.published_at)
    return {"apiVersion": PACKAGE_REVISION.api_version, "kind": PACKAGE_REVISION.kind,
            "metadata": metadata, "spec": spec, "status": status}


def resources_body(revision_object: Body, files: Mapping[str, str], render_status: Body | None = None) -> Body:
    """The PackageRevisionResources twin of a PackageRevision: same name, the files, the last render."""
    metadata = revision_object["metadata"]
    spec = revision_object["spec"]
    body: Body = {
        "apiVersion": PACKAGE_REVISION_RESOURCES.api_version,
        "kind": PACKAGE_REVISION_RESOURCES.kind,
        "metadata": {"name": metadata["name"], "namespace": metadata["namespace"],
                     "uid": metadata.get("uid") or revision_uid(metadata["namespace"], metadata["name"]),
                     "creationTimestamp": metadata.get("creationTimestamp", now_rfc3339())},
        "spec": {"packageName": spec["packageName"], "workspaceName": spec["workspaceName"],
                 "repository": spec["repository"], "resources": dict(sorted(files.items()))},
        "status": {},
    }
    if spec.get("revision"):
        body["spec"]["revision"] = spec["revision"]
    if render_status:
        body["status"]["renderStatus"] = render_status
    return body


def package_body(namespace: str, repository: str, package: str, latest_revision: int) -> Body:
    name = package_object_name(repository, package)
    return {
        "apiVersion": PACKAGE.api_version, "kind": PACKAGE.kind,
        "metadata": {"name": name, "namespace": namespace, "uid": revision_uid(namespace, name, kind="package")},
        "spec": {"packageName": package, "repository": repository},
        "status": {"latestRevision": latest_revision},
    }
