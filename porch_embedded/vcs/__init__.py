"""Repository adapters behind one ``RepositoryAdapter`` protocol: git (dulwich), in Porch's layout.

The engine reads and writes package storage only through ``RepositoryAdapter``; the
composition root picks ``GitAdapter`` (via ``open_git_adapter`` and one ``GitCache``).
"""

from porch_embedded.vcs._cache import GitCache
from porch_embedded.vcs._git import GitAdapter, GitSpec, open_git_adapter
from porch_embedded.vcs._protocol import (
    Author,
    DraftWrite,
    Lifecycle,
    RepositoryAdapter,
    Revision,
    Snapshot,
)
from porch_embedded.vcs._remote import Credentials

__all__ = [
    "Author",
    "Credentials",
    "DraftWrite",
    "GitAdapter",
    "GitCache",
    "GitSpec",
    "Lifecycle",
    "RepositoryAdapter",
    "Revision",
    "Snapshot",
    "open_git_adapter",
]
