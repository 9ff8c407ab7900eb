"""Controllers: the repository sync schedule (PackageVariant and PackageVariantSet come later).

Each follows its objects through a ``store.Informer`` (list, watch, list again on Expired,
one handler call per object at a time), never through a hand-written watch loop.
"""

from porch_embedded.controllers._leader import ClusterLeases, Leases, run_while_leader
from porch_embedded.controllers._repository_sync import SyncSettings, run_repository_sync

__all__ = ["ClusterLeases", "Leases", "SyncSettings", "run_repository_sync", "run_while_leader"]
