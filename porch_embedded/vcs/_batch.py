"""Many git objects read at once: ``git cat-file --batch`` when git is installed.

dulwich reads one object at a time from a pack in Python (find the pack, bisect its
index, inflate, resolve the delta chain): ~0.1-0.3 ms an object, and a first sync of
10,000 revisions reads ~70,000 (each tag's commit, the trees down to its package, the
package's files). Asked for a whole level at once (every tag's commit, then every root
tree, then every next directory, ...), git does the same work in C in one process. What
it returns is kept in a ``Prefetched`` store, which the unchanged readers (history,
trees, discovery) use as their object store: objects it holds come from memory, any
other from dulwich as before. Without git, ``prefetch`` does nothing. Blocking.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable

from dulwich.object_store import BaseObjectStore
from dulwich.objects import S_ISGITLINK, ShaFile, parse_tree

from porch_embedded.vcs._cache import GIT

__all__ = ["Prefetched"]

_TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}


class Prefetched:
    """An object store that answers from objects read in bulk, else from the real store.

    Objects are parsed when asked for, so a prefetch that read more than a reader uses
    costs only the bytes. ``forget`` drops them (a caller reads in chunks to bound memory).
    """

    def __init__(self, store: BaseObjectStore, controldir: str) -> None:
        self.store = store
        self._controldir = controldir
        self._raw: dict[bytes, tuple[int, bytes]] = {}

    def __getitem__(self, sha: bytes, /) -> ShaFile:
        found = self._raw.get(sha)
        if found is None:
            return self.store[sha]
        return ShaFile.from_raw_string(found[0], found[1], sha)

    def __contains__(self, sha: bytes) -> bool:
        return sha in self._raw or sha in self.store

    def add_object(self, obj: ShaFile, /) -> None:
        self.store.add_object(obj)

    def raw(self, sha: bytes) -> tuple[int, bytes] | None:
        """The type number and bytes of a read-ahead object; None if it was not read ahead."""
        return self._raw.get(sha)

    def entry(self, tree: bytes, name: bytes) -> tuple[int, bytes] | None | bool:
        """(mode, id) of ``name`` in a read-ahead tree, None if it has no such entry, and
        False when the tree was not read ahead (the caller then asks dulwich).

        Scans the raw tree with dulwich's compiled parser: no Tree object is built.
        """
        found = self._raw.get(tree)
        if found is None or found[0] != 2:
            return False
        for entry_name, mode, sha in parse_tree(found[1], 20):
            if entry_name == name:
                return mode, sha
        return None

    def prefetch_below(self, trees: Iterable[bytes]) -> None:
        """Read ahead everything below these trees (their files and directories), a level at a time."""
        level = list(dict.fromkeys(trees))
        while level and GIT is not None:
            self.prefetch(level)
            below: list[bytes] = []
            for tree in level:
                found = self._raw.get(tree)
                if found is not None and found[0] == 2:
                    below.extend(sha for _name, mode, sha in parse_tree(found[1], 20) if not S_ISGITLINK(mode))
            self.prefetch(sha for sha in below if sha not in self._raw)
            level = [sha for sha in below if (found := self._raw.get(sha)) is not None and found[0] == 2]

    def forget(self) -> None:
        self._raw.clear()

    def prefetch(self, shas: Iterable[bytes]) -> None:
        """Read these objects (hex ids) with one ``git cat-file --batch``; unknown ones are skipped.

        Without git on this machine, or when git fails, nothing is read ahead and every
        object comes from dulwich.
        """
        wanted = [sha for sha in dict.fromkeys(shas) if sha not in self._raw]
        if GIT is None or not wanted:
            return
        env = {"GIT_DIR": self._controldir, "PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}
        try:
            done = subprocess.run([GIT, "cat-file", "--batch"], input=b"\n".join(wanted) + b"\n", env=env,
                                  capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return
        out = done.stdout
        position = 0
        while position < len(out):
            end = out.index(b"\n", position)
            header = out[position:end].split()
            position = end + 1
            if len(header) != 3:
                continue  # "<sha> missing" (or ambiguous): dulwich answers for it, or raises KeyError
            sha, kind, size = header[0], header[1], int(header[2])
            self._raw[sha] = (_TYPES[kind], out[position : position + size])
            position += size + 1
