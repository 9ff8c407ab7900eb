"""Upgrading a package: kpt's four update strategies over ``{path: text}`` maps (kpt.md §5).

``merge_package(original, updated, local, strategy)`` is what Porch's upgrade task runs:
original is the old upstream revision, updated the new one, local the downstream
revision being upgraded; all three are whole package trees, root-relative paths to text.
It behaves as kpt's updaters do when Porch calls them on the root package:

- ``resource-merge`` (the default) merges the root package and every local subpackage
  (a Kptfile without ``upstream``) found in any of the three trees: a subpackage added or
  deleted on one side is added or deleted (deleted upstream only if local did not change
  it), added on both sides is a conflict, present everywhere is merged: the Kptfile
  (``_kptfile_merge``), every ``*.yaml``/``*.yml`` file resource by resource
  (``_resource_merge``), every other file whole (a file local changed is kept as is; an
  unchanged one follows upstream).
- ``fast-forward`` refuses when local changed any file, else replaces.
- ``force-delete-replace`` replaces every package's content with updated's (the root
  Kptfile is merged).
- ``copy-merge`` copies updated over local and deletes what upstream deleted.

Subpackages with their own ``upstream`` (remote subpackages) are left as local has them,
as in Porch. Nothing here does I/O; errors are ``MergeConflict`` (422) naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from porch_embedded.errors import Invalid, MergeConflict
from porch_embedded.kpt._kptfile import KPTFILE
from porch_embedded.kpt._kptfile_merge import (
    clear_render_status,
    kptfile_changed,
    merge_kptfiles,
    read_kptfile,
    render_kptfile,
)
from porch_embedded.kpt._merge3 import Schema, crd_schemas
from porch_embedded.kpt._package import in_git, package_dirs
from porch_embedded.kpt._resource_merge import file_resources, merge_file, texts_equal

__all__ = [
    "COPY_MERGE",
    "FAST_FORWARD",
    "FORCE_DELETE_REPLACE",
    "RESOURCE_MERGE",
    "STRATEGIES",
    "merge_package",
]

RESOURCE_MERGE = "resource-merge"
FAST_FORWARD = "fast-forward"
FORCE_DELETE_REPLACE = "force-delete-replace"
COPY_MERGE = "copy-merge"
STRATEGIES = (RESOURCE_MERGE, FAST_FORWARD, FORCE_DELETE_REPLACE, COPY_MERGE)
"""The update strategies, spelled as Porch's ``upgrade.strategy`` and kpt's ``--strategy`` spell them."""

Files = Mapping[str, str]


def _under(path: str, directory: str) -> bool:
    return not directory or path.startswith(directory + "/")


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _exists(files: Files, directory: str) -> bool:
    """Whether a package directory exists in a tree (the root always does)."""
    return not directory or any(_under(path, directory) for path in files)


def _owned(files: Files, directory: str) -> list[str]:
    """The files of the package at ``directory``: below it, but not in a nested package or ``.git``."""
    nested = [p for p in package_dirs(files) if p != directory and _under(p, directory)]
    return sorted(
        path for path in files
        if _under(path, directory) and not in_git(path) and not any(_under(path, n) for n in nested)
    )


def _local_subpackages(*trees: Files) -> list[str]:
    """Subpackage directories whose Kptfile has no ``upstream``, in any of the trees, sorted."""
    found: set[str] = set()
    for files in trees:
        for directory in package_dirs(files):
            if not directory or directory in found:
                continue
            kptfile = read_kptfile(_join(directory, KPTFILE), files[_join(directory, KPTFILE)])
            if kptfile.get("upstream") is None:
                found.add(directory)
    return sorted(found)


def _is_yaml(path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


def _is_krm(path: str) -> bool:
    return path.rsplit("/", 1)[-1] == KPTFILE or _is_yaml(path)


def _files_equal(path: str, a: str, b: str) -> bool:
    """kpt's comparison of a non-Kptfile file: YAML equal once re-serialised, anything else byte for byte."""
    if a == b:
        return True
    if not _is_yaml(path):
        return False
    try:
        return texts_equal(path, a, b)
    except MergeConflict:
        return False


def _package_diff(local: Files, original: Files, directory: str) -> set[str]:
    """Files of one package that differ between local and original (kpt's PkgDiff)."""
    mine, theirs = set(_owned(local, directory)), set(_owned(original, directory))
    diff = mine ^ theirs
    for path in mine & theirs:
        if path.rsplit("/", 1)[-1] == KPTFILE:
            if kptfile_changed(local[path], original[path], root=False, package=directory):
                diff.add(path)
        elif not _files_equal(path, local[path], original[path]):
            diff.add(path)
    return diff


def _merged_kptfile(out: dict[str, str], updated: Files, original: Files, directory: str,
                    *, update_upstream: bool) -> None:
    path = _join(directory, KPTFILE)
    before = out.get(path)
    merged = merge_kptfiles(read_kptfile(path, before), read_kptfile(path, updated.get(path)),
                            read_kptfile(path, original.get(path)), update_upstream=update_upstream)
    out[path] = render_kptfile(merged, before)


def _remove(out: dict[str, str], paths: list[str]) -> None:
    for path in paths:
        out.pop(path, None)


def _crds(directory: str, *trees: Files) -> dict[tuple[str, str, str], Schema]:
    objs: list[Any] = []
    for files in trees:
        for path in _owned(files, directory):
            text = files[path]
            if _is_yaml(path) and "CustomResourceDefinition" in text:
                objs.extend(doc.plain if isinstance(doc.plain, dict) else doc.rt()
                            for doc in file_resources(path, text))
    return crd_schemas(objs)


def _merge_non_krm(out: dict[str, str], updated: Files, original: Files, directory: str) -> None:
    """kpt's ReplaceNonKRMFiles: local edits win whole; unchanged files follow upstream."""
    def non_krm(files: Files) -> set[str]:
        return {p for p in _owned(files, directory) if not _is_krm(p) and ".git" not in p}

    local_files, original_files, updated_files = non_krm(out), non_krm(original), non_krm(updated)
    modified: set[str] = set()
    for path in local_files:
        if path not in original_files or out[path] != original[path]:
            modified.add(path)
        elif path not in updated_files:
            del out[path]
    for path in updated_files - modified:
        out[path] = updated[path]


def _merge_package_dir(out: dict[str, str], updated: Files, original: Files, directory: str, *,
                       root: bool) -> None:
    _merged_kptfile(out, updated, original, directory, update_upstream=not root)
    crds = _crds(directory, updated, out)
    paths = {p for files in (out, updated, original) for p in _owned(files, directory) if _is_yaml(p)}
    for path in sorted(paths):
        merged = merge_file(path, original.get(path), updated.get(path), out.get(path), crds)
        if merged is None:
            out.pop(path, None)
        else:
            out[path] = merged
    _merge_non_krm(out, updated, original, directory)


def _resource_merge(original: Files, updated: Files, local: Files) -> dict[str, str]:
    out = dict(local)
    for directory in ["", *_local_subpackages(local, updated, original)]:
        in_original, in_local, in_updated = (_exists(t, directory) for t in (original, out, updated))
        if not in_original and in_local and in_updated:
            raise MergeConflict(
                f'subpackage "{directory}" added in both upstream and local; rename or remove the local '
                f'subpackage "{directory}" and upgrade again'
            )
        if not in_original and not in_local and in_updated:
            for path in _owned(updated, directory):
                out[path] = updated[path]
        elif in_original and in_local and not in_updated:
            if not _package_diff(out, original, directory):
                _remove(out, [p for p in out if _under(p, directory)])
        elif in_original and in_local and in_updated:
            _merge_package_dir(out, updated, original, directory, root=not directory)
    return out


def _replace(original: Files, updated: Files, local: Files) -> dict[str, str]:
    out = dict(local)
    _merged_kptfile(out, updated, original, "", update_upstream=True)
    for directory in ["", *_local_subpackages(out, updated)]:
        keep_kptfile = not directory
        _remove(out, [p for p in _owned(out, directory) if not (keep_kptfile and p == KPTFILE)])
        if not _exists(updated, directory):
            _remove(out, [p for p in out if _under(p, directory)])
            continue
        for path in _owned(updated, directory):
            if not (keep_kptfile and path == KPTFILE):
                out[path] = updated[path]
    return out


def _fast_forward(original: Files, updated: Files, local: Files) -> dict[str, str]:
    changed: set[str] = set()
    for directory in ["", *_local_subpackages(local, original)]:
        if not _exists(local, directory) or not _exists(original, directory):
            changed.add(f"{directory} (Package)")
            continue
        diff = _package_diff(local, original, directory)
        if not directory and KPTFILE in diff and not kptfile_changed(
            local.get(KPTFILE), original.get(KPTFILE), root=True, package=""
        ):
            diff.discard(KPTFILE)
        changed |= diff
    if changed:
        raise MergeConflict(
            f"local package files have been modified: [{' '.join(sorted(changed))}].\n"
            "  use a different update --strategy."
        )
    out = _replace(original, updated, local)
    if KPTFILE in out:
        tree = read_kptfile(KPTFILE, out[KPTFILE])
        clear_render_status(tree)
        out[KPTFILE] = render_kptfile(tree, out[KPTFILE])
    return out


def _copy_merge(original: Files, updated: Files, local: Files) -> dict[str, str]:
    out = dict(local)
    _merged_kptfile(out, updated, original, "", update_upstream=True)
    for path, text in updated.items():
        if in_git(path) or (path == KPTFILE and KPTFILE in out):
            continue
        out[path] = text
    for path in list(out):
        if path != KPTFILE and path not in updated and path in original:
            del out[path]
    return out


_UPDATERS = {
    RESOURCE_MERGE: _resource_merge,
    FAST_FORWARD: _fast_forward,
    FORCE_DELETE_REPLACE: _replace,
    COPY_MERGE: _copy_merge,
}


def merge_package(original: Files, updated: Files, local: Files, strategy: str = RESOURCE_MERGE) -> dict[str, str]:
    """The local package upgraded from ``original`` to ``updated`` with an update strategy.

    All three are ``{path: text}`` maps of whole package trees; the result is the new
    local tree. An empty strategy means ``resource-merge``. The root Kptfile's
    ``upstream``/``upstreamLock`` are left as the strategy leaves them (resource-merge
    keeps local's); the caller points them at the new upstream. Raises ``Invalid`` for
    an unknown strategy and ``MergeConflict`` for what kpt refuses: local changes under
    fast-forward, a subpackage added on both sides, duplicate resources, a field whose
    kind differs between versions, a Kptfile or YAML file that cannot be read.
    """
    name = strategy or RESOURCE_MERGE
    updater = _UPDATERS.get(name)
    if updater is None:
        raise Invalid(f"unknown update strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    return updater(original, updated, local)
