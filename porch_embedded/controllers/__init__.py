"""Controllers: the repository sync schedule, the PackageVariant controller and the PackageVariantSet fan-out.

Each follows its objects through a ``store.Informer`` (list, watch, list again on Expired,
one handler call per object at a time), never through a hand-written watch loop; work
keyed by one object but triggered by others goes through a ``WorkQueue``.
"""

from porch_embedded.controllers._injection import InjectionSource, StoreInjectionSource
from porch_embedded.controllers._leader import ClusterLeases, Leases, run_while_leader
from porch_embedded.controllers._package_variant_sets import (
    OWNER_LABEL,
    VariantSetSettings,
    run_package_variant_sets,
)
from porch_embedded.controllers._package_variants import run_package_variants
from porch_embedded.controllers._repository_sync import SyncSettings, run_repository_sync
from porch_embedded.controllers._variant_set_render import (
    RenderError,
    VariantTarget,
    render_variant_spec,
    variant_name,
)
from porch_embedded.controllers._work_queue import WorkQueue

__all__ = [
    "ClusterLeases",
    "InjectionSource",
    "Leases",
    "OWNER_LABEL",
    "RenderError",
    "StoreInjectionSource",
    "SyncSettings",
    "VariantSetSettings",
    "VariantTarget",
    "WorkQueue",
    "render_variant_spec",
    "run_package_variant_sets",
    "run_package_variants",
    "run_repository_sync",
    "run_while_leader",
    "variant_name",
]
