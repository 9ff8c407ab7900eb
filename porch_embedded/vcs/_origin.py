"""What a Kptfile records about where a cloned package came from, for each storage type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["kptfile_origin"]

GENERIC_STORE_ID = "oci"


def kptfile_origin(lock: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The Kptfile ``upstream`` and ``upstreamLock`` of a package cloned from a revision with this lock.

    ``lock`` is a ``selfLock`` (or an upstream's lock) body. Git: ``upstream.git`` (repo,
    directory, ref) and ``upstreamLock.git`` (with the commit). kpt's Kptfile cannot
    name an OCI upstream, so an OCI source gets no ``upstream`` and kpt's generic lock,
    ``{storeID: oci, resourceID: HOST/PATH/<package>:<tag>, resourceVersion: sha256:...}``
    (the manifest digest): valid for kpt, and it names exactly what was cloned.
    """
    if lock.get("type") == "oci":
        image = str((lock.get("oci") or {}).get("image", ""))
        reference, _, digest = image.partition("@")
        return None, {"type": "generic", "generic": {"storeID": GENERIC_STORE_ID, "resourceID": reference,
                                                     "resourceVersion": digest}}
    git = lock.get("git") or {}
    located = {"repo": git.get("repo", ""), "directory": git.get("directory", ""), "ref": git.get("ref", "")}
    return {"type": "git", "git": located}, {"type": "git", "git": {**located, "commit": git.get("commit", "")}}
