"""A kpt package as a mapping of relative path to text: reading resources, writing them back.

The package is exactly the ``resources`` map of Porch's PackageRevisionResources:
slash-separated paths relative to the package root, text values. Which files are
resources, how multi-document files split, which directory is a subpackage and how
resources are written back (path/index invariants, pruning) follow kpt (reference
kpt.md §2). Nothing here touches a disk.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from porch_embedded.kpt._kptfile import KPTFILE, scalar_text
from porch_embedded.kpt._yaml import (
    COMPACT,
    YamlError,
    detect_seqindent,
    dump_document,
    dump_json,
    load_document,
    new_map,
    split_documents,
)

__all__ = [
    "KRMIGNORE",
    "PACKAGE_CONTEXT",
    "PackageError",
    "Resource",
    "ancestors",
    "default_path",
    "in_git",
    "is_resource_file",
    "krm_error",
    "package_context",
    "package_dirs",
    "read_resources",
    "write_resources",
]

KRMIGNORE = ".krmignore"
PACKAGE_CONTEXT = "package-context.yaml"
PACKAGE_CONTEXT_NAME = "kptfile.kpt.dev"
LOCAL_CONFIG = "config.kubernetes.io/local-config"


class PackageError(ValueError):
    """The package content breaks a kpt rule (bad YAML, non-KRM document, path clash)."""


@dataclass
class Resource:
    """One KRM object of a package, with where it lives.

    ``package`` is the owning package's directory relative to the root (``""`` for
    the root); ``path`` is the file path relative to that package; ``index`` the
    document's position among the file's non-empty documents; ``seqindent`` the
    document's sequence style (``compact``/``wide``). ``obj`` is a ruamel round-trip
    mapping that keeps comments and order.
    """

    obj: Any
    package: str
    path: str
    index: int
    seqindent: str = COMPACT

    @property
    def file(self) -> str:
        """The file's path relative to the root package."""
        return posixpath.join(self.package, self.path) if self.package else self.path


def is_resource_file(path: str) -> bool:
    """True for the files kpt reads as resources: ``Kptfile``, ``*.yaml``, ``*.yml``, ``*.json``."""
    base = path.rsplit("/", 1)[-1]
    return base == KPTFILE or base.endswith((".yaml", ".yml", ".json"))


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def ancestors(directory: str) -> list[str]:
    """The directory and every ancestor up to the root (``""``), nearest first."""
    out = [directory]
    while directory:
        directory = _parent(directory)
        out.append(directory)
    return out


def package_dirs(files: Iterable[str]) -> list[str]:
    """Every directory holding a Kptfile, root-relative, sorted (``""`` is the root)."""
    return sorted({_parent(p) for p in files if p.rsplit("/", 1)[-1] == KPTFILE and not in_git(p)})


def in_git(path: str) -> bool:
    """Whether a path lies in a ``.git`` directory (never package content)."""
    return path == ".git" or path.startswith(".git/") or "/.git/" in path


def owning_package(path: str, packages: Sequence[str]) -> str:
    """The nearest package directory that contains ``path``."""
    pkgs = set(packages)
    for directory in ancestors(_parent(path)):
        if directory in pkgs:
            return directory
    return ""


class _Ignore:
    """gitignore-style rules of the .krmignore files (each applies below its directory)."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self._rules: list[tuple[str, re.Pattern[str], bool, bool]] = []
        for path in sorted(files):
            if path.rsplit("/", 1)[-1] != KRMIGNORE:
                continue
            base = _parent(path)
            for raw in files[path].splitlines():
                line = raw.rstrip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                if negate:
                    line = line[1:]
                dir_only = line.endswith("/")
                line = line.strip("/") if dir_only else line
                anchored = "/" in line.rstrip("/")
                line = line.lstrip("/")
                pattern = _glob_regex(line, anchored)
                self._rules.append((base, pattern, negate, dir_only))

    def ignored(self, path: str) -> bool:
        """True if ``path`` or one of its directories is ignored."""
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            candidate = "/".join(parts[:depth])
            is_dir = depth < len(parts)
            if self._match(candidate, is_dir):
                return True
        return False

    def _match(self, path: str, is_dir: bool) -> bool:
        result = False
        for base, pattern, negate, dir_only in self._rules:
            if base and not path.startswith(base + "/"):
                continue
            rel = path[len(base) + 1 :] if base else path
            if dir_only and not is_dir:
                continue
            if pattern.match(rel):
                result = not negate
        return result


def _glob_regex(pattern: str, anchored: bool) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            char = pattern[i]
            out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
            i += 1
    body = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{prefix}{body}$")


_KUSTOMIZATION_FILES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}


def krm_error(obj: Any, file: str) -> str | None:
    """Why ``obj`` (read from ``file``) is not a KRM resource, or None if it is.

    kustomization files are exempt, as in kpt.
    """
    base = file.rsplit("/", 1)[-1]
    if base in _KUSTOMIZATION_FILES:
        return None
    if not isinstance(obj, dict):
        return "resource must be a mapping"
    api_version = scalar_text(obj.get("apiVersion"))
    kind = scalar_text(obj.get("kind"))
    if api_version.startswith("kustomize.config.k8s.io") or (kind == "Kustomization" and not api_version):
        return None
    if not api_version:
        return "resource must have `apiVersion`"
    if not kind:
        return "resource must have `kind`"
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not scalar_text(metadata.get("name")):
        return "resource must have `metadata.name`"
    return None


def read_resources(files: Mapping[str, str]) -> tuple[list[Resource], set[str]]:
    """Read every resource of the package tree, in kpt's order, with its owning package.

    Returns the resources (files in lexical path order, documents in file order) and
    the set of root-relative paths that held at least one resource (the files a write
    may prune). Ignored files
    (.krmignore), ``.git`` and non-resource files are skipped. Raises
    ``PackageError`` for text that is not YAML or a document that is not KRM.
    """
    packages = package_dirs(files)
    ignore = _Ignore(files)
    resources: list[Resource] = []
    read: set[str] = set()
    for path in sorted(files):
        if not is_resource_file(path) or in_git(path) or ignore.ignored(path):
            continue
        package = owning_package(path, packages)
        rel = path[len(package) + 1 :] if package else path
        index = 0
        for text in split_documents(files[path]) if not path.endswith(".json") else [files[path]]:
            try:
                obj = load_document(text)
            except YamlError as exc:
                raise PackageError(f"{path}: {exc}") from exc
            if obj is None:
                continue
            reason = krm_error(obj, path)
            if reason:
                raise PackageError(f"input resource list must contain only KRM resources: {path}: {reason}")
            resources.append(Resource(obj, package, rel, index, detect_seqindent(text)))
            read.add(path)
            index += 1
    return resources, read


def default_path(obj: Any) -> str:
    """Where kpt puts a new resource that has no path: ``[<namespace>/]<kind>_<name>.yaml``."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    kind = scalar_text(obj.get("kind") if isinstance(obj, dict) else "").lower()
    name = scalar_text(metadata.get("name"))
    namespace = scalar_text(metadata.get("namespace"))
    base = f"{kind}_{name}.yaml"
    return f"{namespace}/{base}" if namespace else base


def write_resources(
    files: Mapping[str, str], resources: Sequence[Resource], read: set[str], *, prune: bool = True
) -> dict[str, str]:
    """The package files after replacing every resource file by ``resources``.

    Every file holding at least one resource is rewritten (documents sorted by index,
    ``---`` between them, a single-resource ``.json`` file as JSON); files that were
    read as resources but hold none any more are deleted when ``prune``; every other
    file is kept byte for byte. Raises ``PackageError`` when two resources claim the
    same file and index.
    """
    by_file: dict[str, list[Resource]] = {}
    for resource in resources:
        by_file.setdefault(resource.file, []).append(resource)
    out = dict(files)
    for path in read:
        if path not in by_file and prune:
            out.pop(path, None)
    for path, group in by_file.items():
        group.sort(key=lambda r: r.index)
        for first, second in zip(group, group[1:], strict=False):
            if first.index == second.index:
                raise PackageError(f'resource at path "{path}" and index "{first.index}" already exists')
        if path.endswith(".json") and len(group) == 1:
            out[path] = dump_json(group[0].obj)
            continue
        out[path] = "---\n".join(dump_document(r.obj, r.seqindent) for r in group)
    return out


def package_context(name: str, package_path: str | None = None) -> Any:
    """The ``kptfile.kpt.dev`` ConfigMap kpt keeps in package-context.yaml (reference §2.6)."""
    data = new_map({"name": name})
    if package_path is not None:
        data["package-path"] = package_path
    return new_map(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": new_map(
                {"name": PACKAGE_CONTEXT_NAME, "annotations": new_map({LOCAL_CONFIG: "true"})}
            ),
            "data": data,
        }
    )
