"""Controllers: the repository sync schedule and the PackageVariantSet fan-out.

Each follows its objects through a ``store.Informer`` (list, watch, list again on Expired,
one handler call per object at a time), never through a hand-written watch loop.
"""

from porch_embedded.controllers._leader import ClusterLeases, Leases, run_while_leader
from porch_embedded.controllers._package_variant_sets import (
    OWNER_LABEL,
    VariantSetSettings,
    run_package_variant_sets,
)
from porch_embedded.controllers._repository_sync import SyncSettings, run_repository_sync
from porch_embedded.controllers._variant_set_render import (
    RenderError,
    VariantTarget,
    render_variant_spec,
    variant_name,
)

__all__ = [
    "ClusterLeases",
    "Leases",
    "OWNER_LABEL",
    "RenderError",
    "SyncSettings",
    "VariantSetSettings",
    "VariantTarget",
    "render_variant_spec",
    "run_package_variant_sets",
    "run_repository_sync",
    "run_while_leader",
    "variant_name",
]
