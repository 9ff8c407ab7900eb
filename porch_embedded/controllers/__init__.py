"""Controllers: the repository sync schedule (PackageVariant and PackageVariantSet come later)."""

from porch_embedded.controllers._leader import run_while_leader
from porch_embedded.controllers._repository_sync import SyncSettings, run_repository_sync

__all__ = ["SyncSettings", "run_repository_sync", "run_while_leader"]
