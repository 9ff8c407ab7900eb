"""Git trees as package directories: find packages, read files, write and splice subtrees.

Blocking helpers over a dulwich object store; the caller owns the ``Repo`` and the thread.
A package is a directory holding a regular file named ``Kptfile``; discovery stops there,
so packages never nest (a Kptfile deeper down belongs to the package's own subpackage).
"""

from __future__ import annotations

import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Protocol

from dulwich.object_store import BaseObjectStore
from dulwich.objects import S_ISGITLINK, Blob, ShaFile, Tree

from porch_embedded.errors import Invalid

__all__ = [
    "ObjectSink",
    "Recorder",
    "find_packages",
    "is_package",
    "lookup_tree",
    "read_files",
    "replace_subtree",
    "tree_of_files",
]

KPTFILE = b"Kptfile"
_FILE_MODE = 0o100644


class ObjectSink(Protocol):
    """What the writing helpers need of an object store: read an object, add one."""

    def __getitem__(self, sha: bytes, /) -> ShaFile: ...

    def add_object(self, obj: ShaFile, /) -> None: ...


class Recorder:
    """An object store that remembers every object added through it: what one write created.

    A push then sends exactly these objects (``Remote.push_blocking``), instead of asking
    dulwich to find them by walking the history behind every ref on the server, which
    costs O(repository) per push. Objects still go to the real store, so the cache holds
    whatever its refs point at.
    """

    def __init__(self, store: BaseObjectStore) -> None:
        self.store = store
        self.added: dict[bytes, ShaFile] = {}

    def __getitem__(self, sha: bytes, /) -> ShaFile:
        found = self.added.get(sha)
        return found if found is not None else self.store[sha]

    def add_object(self, obj: ShaFile, /) -> None:
        if obj.id not in self.added:
            self.store.add_object(obj)
            self.added[obj.id] = obj


TREE_CACHE_SIZE = 2048
"""Parsed trees kept in memory: a pack stores trees as delta chains that cost ~0.1-2 ms to
resolve per read, and discovery and every write read the same directories over and over."""
_trees: OrderedDict[bytes, Tree] = OrderedDict()
_trees_lock = threading.Lock()


def _tree(store: BaseObjectStore | ObjectSink, tree_id: bytes) -> Tree:
    """The parsed tree ``tree_id``, from a process-wide cache when it was read before.

    An id names its content in every repository, so one cache serves them all; the
    cached objects are only ever read (writers build new trees).
    """
    with _trees_lock:
        cached = _trees.get(tree_id)
        if cached is not None:
            _trees.move_to_end(tree_id)
            return cached
    obj = store[tree_id]
    if not isinstance(obj, Tree):
        raise TypeError(f"{tree_id.decode()} is a {obj.type_name.decode()}, not a tree")
    with _trees_lock:
        _trees[tree_id] = obj
        if len(_trees) > TREE_CACHE_SIZE:
            _trees.popitem(last=False)
    return obj


def _entry(store: BaseObjectStore | ObjectSink, tree_id: bytes, name: bytes) -> tuple[int, bytes] | None:
    """(mode, id) of the entry ``name`` of a tree; None when it has none.

    A store that read the tree ahead in bulk (``Prefetched.entry``) answers from its bytes
    without building a Tree; otherwise the parsed tree's dict answers (no sorting).
    """
    entry = getattr(store, "entry", None)
    if entry is not None:
        found = entry(tree_id, name)
        if found is not False:
            return found  # type: ignore[no-any-return]
    try:
        return _tree(store, tree_id)[name]  # type: ignore[no-any-return]
    except KeyError:
        return None


def lookup_tree(store: BaseObjectStore | ObjectSink, root: bytes | None, path: str) -> bytes | None:
    """The id of the directory ``path`` under the tree ``root``; None when it is absent or not a directory."""
    current = root
    for part in (p for p in path.split("/") if p):
        if current is None:
            return None
        found = _entry(store, current, part.encode())
        if found is None or not stat.S_ISDIR(found[0]):
            return None
        current = found[1]
    return current


def is_package(store: BaseObjectStore | ObjectSink, tree_id: bytes) -> bool:
    """True when the directory holds a regular file called Kptfile."""
    found = _entry(store, tree_id, KPTFILE)
    return found is not None and stat.S_ISREG(found[0])


def find_packages(
    store: BaseObjectStore | ObjectSink,
    root: bytes | None,
    directory: str,
    memo: dict[bytes, tuple[tuple[str, bytes], ...]] | None = None,
) -> dict[str, bytes]:
    """Every package under ``directory`` of the tree ``root``: full path -> its tree id.

    The directory itself is not a package of the repository (its name would be empty);
    below it the walk stops at each Kptfile. ``memo`` maps a (non-package) tree id to the
    packages below it (paths relative to it); trees are immutable, so a walk of a branch
    that moved reads only the directories that changed. It is trimmed to the trees one
    walk reached when it grows well past that, so it stays O(directories of one branch).
    """
    base = lookup_tree(store, root, directory)
    found: dict[str, bytes] = {}
    if base is None:
        return found
    prefix = directory.strip("/")
    known = memo if memo is not None else {}
    reached: set[bytes] = set()

    def walk(tree_id: bytes) -> tuple[tuple[str, bytes], ...]:
        reached.add(tree_id)
        below = known.get(tree_id)
        if below is None:
            entries: list[tuple[str, bytes]] = []
            for name, mode, sha in _tree(store, tree_id).iteritems():
                if not stat.S_ISDIR(mode):
                    continue
                child = name.decode()
                if is_package(store, sha):
                    entries.append((child, sha))
                else:
                    entries.extend((f"{child}/{path}", tree) for path, tree in walk(sha))
            below = known[tree_id] = tuple(entries)
        return below

    for path, tree in walk(base):
        found[f"{prefix}/{path}" if prefix else path] = tree
    if len(known) > 4 * len(reached) + 256:
        for stale in known.keys() - reached:
            del known[stale]
    return found


def _files(store: BaseObjectStore | ObjectSink, tree_id: bytes, prefix: str) -> Iterator[tuple[str, bytes]]:
    for name, mode, sha in _tree(store, tree_id).iteritems():
        path = f"{prefix}{name.decode()}"
        if stat.S_ISDIR(mode):
            yield from _files(store, sha, path + "/")
        elif S_ISGITLINK(mode):
            continue  # a submodule has no content here
        else:
            blob = store[sha]
            assert isinstance(blob, Blob)
            yield path, blob.as_raw_string()


def read_files(store: BaseObjectStore | ObjectSink, tree_id: bytes) -> dict[str, bytes]:
    """Every file below a directory: path relative to it -> bytes (a symlink gives its target)."""
    return dict(_files(store, tree_id, ""))


def _check_path(path: str) -> list[str]:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
        raise Invalid(
            f"resource path {path!r} is not a relative file path inside the package "
            "(no leading '/', no empty, '.', '..' or '.git' segments)"
        )
    return parts


def tree_of_files(store: BaseObjectStore | ObjectSink, files: Mapping[str, bytes]) -> bytes:
    """Write blobs and trees for ``files`` (relative path -> bytes); return the top tree id.

    Raises Invalid when a path is not a plain relative path, or is both a file and a directory.
    """
    nested: dict[str, object] = {}
    for path, data in files.items():
        parts = _check_path(path)
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise Invalid(f"resource path {path!r} runs through the file {part!r}")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise Invalid(f"resource path {path!r} is also a directory")
        node[parts[-1]] = data

    def write(node: Mapping[str, object]) -> bytes:
        tree = Tree()
        for name, value in node.items():
            if isinstance(value, dict):
                tree.add(name.encode(), stat.S_IFDIR, write(value))
            else:
                assert isinstance(value, bytes)
                blob = Blob.from_string(value)
                store.add_object(blob)
                tree.add(name.encode(), _FILE_MODE, blob.id)
        store.add_object(tree)
        return tree.id

    return write(nested)


def replace_subtree(store: BaseObjectStore | ObjectSink, root: bytes | None, path: str, subtree: bytes | None) -> bytes:
    """A copy of the tree ``root`` whose directory ``path`` is ``subtree`` (None removes it).

    Everything outside ``path`` keeps its ids, so concurrent changes to other packages
    survive; directories left empty by a removal disappear, as git cannot hold them.
    """
    parts = [p for p in path.split("/") if p]

    def splice(tree_id: bytes | None, depth: int) -> bytes | None:
        tree = Tree()
        if tree_id is not None:
            for name, mode, sha in _tree(store, tree_id).iteritems():
                tree.add(name, mode, sha)
        name = parts[depth].encode()
        existing = next(((m, s) for n, m, s in tree.iteritems() if n == name), None)
        if depth == len(parts) - 1:
            child = subtree
        else:
            below = existing[1] if existing and stat.S_ISDIR(existing[0]) else None
            child = splice(below, depth + 1)
        if existing is not None:
            del tree[name]
        if child is not None:
            tree.add(name, stat.S_IFDIR, child)
        if not len(tree) and depth > 0:
            return None
        store.add_object(tree)
        return tree.id

    if not parts:
        raise Invalid("a package path cannot be empty")
    result = splice(root, 0)
    assert result is not None
    return result
