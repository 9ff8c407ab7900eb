"""Repository adapters behind one ``RepositoryAdapter`` protocol: git (dulwich) and OCI (oras),
each in Porch's layout.

The engine reads and writes package storage only through ``RepositoryAdapter``, and opens
adapters through the ``Storage`` of a Repository's ``spec.type``; the composition root
picks ``GitStorage`` (over one ``GitCache``) for ``git`` and ``OciStorage`` for ``oci``.
"""

from porch_embedded.vcs._cache import GitCache
from porch_embedded.vcs._git import GitAdapter, GitSpec, open_git_adapter
from porch_embedded.vcs._git_storage import GitStorage, GitUpstream
from porch_embedded.vcs._oci import OciAdapter, OciSpec, open_oci_adapter
from porch_embedded.vcs._oci_storage import OciStorage, OciUpstream
from porch_embedded.vcs._origin import kptfile_origin
from porch_embedded.vcs._protocol import (
    Author,
    Credentials,
    DraftWrite,
    Lifecycle,
    RepositoryAdapter,
    Revision,
    Snapshot,
    Storage,
    StorageLocation,
    StorageSpec,
    Upstream,
)

__all__ = [
    "Author",
    "Credentials",
    "DraftWrite",
    "GitAdapter",
    "GitCache",
    "GitSpec",
    "GitStorage",
    "GitUpstream",
    "Lifecycle",
    "OciAdapter",
    "OciSpec",
    "OciStorage",
    "OciUpstream",
    "RepositoryAdapter",
    "Revision",
    "Snapshot",
    "Storage",
    "StorageLocation",
    "StorageSpec",
    "Upstream",
    "kptfile_origin",
    "open_git_adapter",
    "open_oci_adapter",
]
