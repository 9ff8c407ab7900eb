"""The only writer: object semantics, package lifecycle, tasks, approval, registration; and the read-only
diffs and previews a reviewer sees before a write."""

from porch_embedded.engine._cluster import (
    ClusterClient,
    ClusterInjectionSource,
    ClusterMirror,
    ClusterRepositorySource,
    ClusterWrites,
    run_cluster_mirror,
    run_status_writeback,
)
from porch_embedded.engine._engine import Engine
from porch_embedded.engine._objects import ObjectService, invalid
from porch_embedded.engine._previews import (
    Comparisons,
    CreationPreview,
    FunctionReport,
    PackagePreviews,
    RenderPreview,
    ResultItem,
    RevisionDiff,
    files_digest,
)
from porch_embedded.engine._repositories import AdapterFactory, RepositorySource, StoreRepositorySource, SyncResult

__all__ = [
    "AdapterFactory",
    "ClusterClient",
    "ClusterInjectionSource",
    "ClusterMirror",
    "ClusterRepositorySource",
    "ClusterWrites",
    "Comparisons",
    "CreationPreview",
    "FunctionReport",
    "PackagePreviews",
    "RenderPreview",
    "ResultItem",
    "RevisionDiff",
    "Engine",
    "ObjectService",
    "RepositorySource",
    "StoreRepositorySource",
    "SyncResult",
    "files_digest",
    "invalid",
    "run_cluster_mirror",
    "run_status_writeback",
]
