"""Package files to and from kpt's ResourceList and a local directory, for ``rpkg pull`` and ``push``.

``pull`` emits what porchctl emits: a ``config.kubernetes.io/v1`` ResourceList whose
items are the package's KRM files (``Kptfile``, ``*.yaml``, ``*.yml``) annotated
with their path and index, in path order, led by a synthetic ``KptRevisionMetadata``
item carrying the PackageRevisionResources metadata (its resourceVersion is what
makes the later ``push`` an optimistic update). Comments and key order of the files
survive the round trip (ruamel.yaml round-trip mode, as kyaml keeps them).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

__all__ = ["METADATA_FILE", "directory_files", "is_krm_file", "resource_list", "resource_list_files",
           "write_directory"]

METADATA_FILE = ".KptRevisionMetadata"
_PATH, _INDEX = "config.kubernetes.io/path", "config.kubernetes.io/index"
_INTERNAL_PATH, _INTERNAL_INDEX = "internal.config.kubernetes.io/path", "internal.config.kubernetes.io/index"
_STRIPPED = (_PATH, _INDEX, _INTERNAL_PATH, _INTERNAL_INDEX, "config.k8s.io/id",
             "internal.config.kubernetes.io/id", "internal.config.kubernetes.io/seqindent",
             "internal.config.kubernetes.io/annotations-migration-resource-id")


def _yaml() -> YAML:
    handler = YAML(typ="rt")
    handler.preserve_quotes = True
    handler.width = 4096
    handler.indent(mapping=2, sequence=2, offset=0)
    return handler


def is_krm_file(path: str) -> bool:
    """Whether kpt reads ``path`` as resources: ``Kptfile``, ``*.yaml`` or ``*.yml``."""
    base = path.rsplit("/", 1)[-1]
    return base == "Kptfile" or base.endswith((".yaml", ".yml"))


def metadata_item(metadata: Mapping[str, Any]) -> CommentedMap:
    """The ``KptRevisionMetadata`` object holding a PackageRevisionResources' metadata."""
    item = CommentedMap()
    item["apiVersion"] = ""
    item["kind"] = "KptRevisionMetadata"
    item["metadata"] = CommentedMap(metadata)
    return item


def _annotate(item: Any, path: str, index: int) -> None:
    metadata = item.get("metadata")
    if not isinstance(metadata, dict):
        metadata = item["metadata"] = CommentedMap()
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = CommentedMap()
    for key, value in ((_INDEX, str(index)), (_PATH, path), (_INTERNAL_INDEX, str(index)),
                       (_INTERNAL_PATH, path)):
        annotations[key] = value


def resource_list(files: Mapping[str, str], metadata: Mapping[str, Any]) -> str:
    """The ResourceList YAML of a package's files, led by its KptRevisionMetadata item.

    Raises ValueError naming the file when a KRM file is not valid YAML.
    """
    handler = _yaml()
    items: list[Any] = []
    first = metadata_item(metadata)
    _annotate(first, METADATA_FILE, 0)
    items.append(first)
    for path in sorted(files):
        if not is_krm_file(path):
            continue
        try:
            documents = [d for d in handler.load_all(files[path]) if d is not None]
        except Exception as error:  # ruamel raises many unrelated types for bad YAML
            raise ValueError(f"{path}: not valid YAML: {error}") from error
        for index, document in enumerate(documents):
            if isinstance(document, dict):
                _annotate(document, path, index)
                items.append(document)
    result = CommentedMap()
    result["apiVersion"] = "config.kubernetes.io/v1"
    result["kind"] = "ResourceList"
    result["items"] = items
    buffer = io.StringIO()
    handler.dump(result, buffer)
    return buffer.getvalue()


def _strip(document: Any) -> tuple[str, int]:
    """Remove the path/index annotations from an item; return its path and index."""
    metadata = document.get("metadata") if isinstance(document, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return "", 0
    path = str(annotations.get(_PATH) or annotations.get(_INTERNAL_PATH) or "")
    index = int(str(annotations.get(_INDEX) or annotations.get(_INTERNAL_INDEX) or 0))
    for key in _STRIPPED:
        annotations.pop(key, None)
    if not annotations:
        del metadata["annotations"]
    return path, index


def resource_list_files(text: str) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Files (path -> text) and the KptRevisionMetadata's metadata from ResourceList YAML.

    Raises ValueError when the text is not a ResourceList or an item has no path.
    """
    handler = _yaml()
    try:
        document = handler.load(text)
    except Exception as error:  # ruamel raises many unrelated types for bad YAML
        raise ValueError(f"input is not valid YAML: {error}") from error
    if not isinstance(document, dict) or document.get("kind") != "ResourceList":
        raise ValueError("input is not a ResourceList (kind: ResourceList with items)")
    by_path: dict[str, list[tuple[int, Any]]] = {}
    metadata: dict[str, Any] | None = None
    for item in document.get("items") or []:
        path, index = _strip(item)
        if isinstance(item, dict) and item.get("kind") == "KptRevisionMetadata":
            metadata = dict(item.get("metadata") or {})
            continue
        if not path:
            raise ValueError(f"item {item.get('kind')}/{(item.get('metadata') or {}).get('name')} has no "
                             f"{_PATH} annotation")
        by_path.setdefault(path, []).append((index, item))
    files: dict[str, str] = {}
    for path, documents in by_path.items():
        parts = []
        for _, item in sorted(documents, key=lambda pair: pair[0]):
            buffer = io.StringIO()
            handler.dump(item, buffer)
            parts.append(buffer.getvalue())
        files[path] = "---\n".join(parts)
    return files, metadata


def write_directory(directory: Path, files: Mapping[str, str], metadata: Mapping[str, Any]) -> None:
    """Write a package to a new directory, with its metadata in ``.KptRevisionMetadata``."""
    directory.mkdir(parents=True)
    for path, text in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    buffer = io.StringIO()
    _yaml().dump(metadata_item(metadata), buffer)
    (directory / METADATA_FILE).write_text(buffer.getvalue())


def directory_files(directory: Path) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Every file under ``directory`` (path -> text) and the metadata of its ``.KptRevisionMetadata``.

    Raises ValueError for a file that is not UTF-8 text: the API carries text only.
    """
    files: dict[str, str] = {}
    metadata: dict[str, Any] | None = None
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = file.relative_to(directory).as_posix()
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{relative}: the porch API doesn't support binary files") from error
        if relative == METADATA_FILE:
            loaded = _yaml().load(text)
            metadata = dict((loaded or {}).get("metadata") or {})
            continue
        files[relative] = text
    return files, metadata
