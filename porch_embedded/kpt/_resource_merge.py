"""The resource level of kpt's resource-merge: pairing resources and merging one file (kpt.md §5.2).

kpt pairs the resources of the old upstream (original), the new upstream (updated) and
the local package by API group (version ignored), kind, namespace, name and file path;
the namespace and name come from the ``internal.kpt.dev/upstream-identifier``
annotation that a clone writes, or from a ``# kpt-merge: ns/name`` comment on
``metadata``, when the resource has one, so a local rename still pairs with upstream.
The file path is part of the identity, so each file merges on its own.

Per pair: added on one side is kept, deleted upstream is dropped unless local changed it,
deleted locally stays deleted, present in all three merges field by field (``_merge3``).

Parsing with ruamel is the slow part, so a file no side changed is kept byte for byte
without parsing, and a resource is first merged over a fast plain parse: if nothing
comes from upstream and the result equals local, local's text is kept as written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml as pyyaml

from porch_embedded.errors import MergeConflict
from porch_embedded.kpt._merge3 import (
    MISSING,
    KindMismatch,
    Schema,
    merge_resource,
    resource_schema,
    same_content,
    scalar_text,
)
from porch_embedded.kpt._yaml import YamlError, detect_seqindent, dump_document, load_document, split_documents

__all__ = ["UPSTREAM_IDENTIFIER", "file_resources", "load_tree", "merge_file", "resources_equal"]

UPSTREAM_IDENTIFIER = "internal.kpt.dev/upstream-identifier"
_CNRM_ATTRIBUTION = "cnrm.cloud.google.com/blueprint"
_MERGE_COMMENT = re.compile(r"^metadata:[ \t]*#[ \t]*kpt-merge:[ \t]*(\S*)/(\S*)[ \t]*$", re.MULTILINE)
_NOT_PLAIN = object()


class _PlainLoader(pyyaml.CSafeLoader):
    """libyaml's fast loader; used only to decide that a merge changes nothing."""


@dataclass(eq=False)
class Doc:
    """One resource of one file: its text, position, identity and lazily parsed trees."""

    path: str
    text: str
    index: int
    plain: Any
    ident: tuple[str, str, str, str] = ("", "", "", "")
    _rt: Any = field(default=MISSING, repr=False)

    def rt(self) -> Any:
        """The ruamel round-trip tree (parsed once, on first use)."""
        if self._rt is MISSING:
            self._rt = load_tree(self.path, self.text)
        return self._rt

    def fresh_plain(self) -> Any:
        """A plain tree to merge into (the stored one stays unchanged for comparisons)."""
        return copy.deepcopy(self.plain)


def load_tree(path: str, text: str) -> Any:
    try:
        return load_document(text)
    except YamlError as exc:
        raise MergeConflict(f"{path}: {exc}; fix the YAML of this file and merge again") from exc


def _identity(obj: Any, text: str) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name) as kpt pairs resources; an unset namespace reads ``default``."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    api_version = scalar_text(obj.get("apiVersion"))
    group = api_version.rpartition("/")[0]
    namespace, name = scalar_text(metadata.get("namespace")), scalar_text(metadata.get("name"))
    annotations = metadata.get("annotations")
    identifier = scalar_text(annotations.get(UPSTREAM_IDENTIFIER)) if isinstance(annotations, dict) else ""
    parts = identifier.split("|")
    comment = _MERGE_COMMENT.search(text)
    if len(parts) == 4 and parts[3]:
        namespace, name = parts[2], parts[3]
    elif comment:
        namespace, name = comment.group(1), comment.group(2)
    return group, scalar_text(obj.get("kind")), namespace or "default", name


def file_resources(path: str, text: str | None) -> list[Doc]:
    """The non-empty documents of a YAML file, each with its identity."""
    if text is None:
        return []
    try:
        texts = split_documents(text)
    except YamlError as exc:
        raise MergeConflict(f"{path}: {exc}; fix the document separators of this file and merge again") from exc
    docs: list[Doc] = []
    for doc_text in texts:
        try:
            plain = pyyaml.load(doc_text, Loader=_PlainLoader)
        except pyyaml.YAMLError:
            plain = _NOT_PLAIN
        doc = Doc(path, doc_text, len(docs), plain)
        if plain is _NOT_PLAIN:
            tree = doc.rt()
            if tree is None:
                continue
            doc.plain = _NOT_PLAIN
            doc.ident = _identity(tree, doc_text)
        elif plain is None:
            continue
        else:
            doc.ident = _identity(plain, doc_text)
        if not isinstance(doc.plain if doc.plain is not _NOT_PLAIN else doc.rt(), dict):
            raise MergeConflict(
                f"{path}: document {doc.index} is not a mapping; a package's YAML files must hold KRM resources"
            )
        docs.append(doc)
    return docs


def _pair(path: str, original: list[Doc], updated: list[Doc], local: list[Doc]) -> list[list[Doc | None]]:
    tuples: dict[tuple[str, str, str, str], list[Doc | None]] = {}
    for slot, (source, docs) in enumerate((("original", original), ("updated", updated), ("dest", local))):
        for doc in docs:
            entry = tuples.setdefault(doc.ident, [None, None, None])
            if entry[slot] is not None:
                group, kind, namespace, name = doc.ident
                raise MergeConflict(
                    f'found duplicate "{source}" resources in file "{path}", please refer to "update" '
                    f"documentation for the fix: two resources are {kind} {namespace}/{name}"
                    f"{f' (group {group})' if group else ''}; give each its own name, namespace or file"
                )
            entry[slot] = doc
    return list(tuples.values())


def _strip_for_compare(obj: Any) -> Any:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if isinstance(annotations, dict):
        for key in (_CNRM_ATTRIBUTION, UPSTREAM_IDENTIFIER):
            annotations.pop(key, None)
        if not annotations:
            del metadata["annotations"]
    return obj


def resources_equal(a: Doc, b: Doc) -> bool:
    """kpt's "local did not change it": equal once re-serialised, comments included.

    The attribution and upstream-identifier annotations (which kpt's get and our clone
    add) do not count as changes.
    """
    if a.text.strip() == b.text.strip():
        return True
    left = _strip_for_compare(load_tree(a.path, a.text))
    right = _strip_for_compare(load_tree(b.path, b.text))
    return dump_document(left) == dump_document(right)


@dataclass
class _Out:
    index: int
    order: int
    text: str
    verbatim_local: Doc | None = None


def _merge_pair(path: str, o: Doc, u: Doc, d: Doc, crds: Mapping[tuple[str, str, str], Schema]) -> _Out | None:
    name = f"{d.ident[1]} {d.ident[2]}/{d.ident[3]}"
    try:
        if d.plain is not _NOT_PLAIN and o.plain is not _NOT_PLAIN and u.plain is not _NOT_PLAIN:
            schema = resource_schema(d.plain, crds)
            result, took = merge_resource(d.fresh_plain(), o.plain, u.plain, schema)
            if not took and same_content(result, d.plain):
                return _Out(d.index, 0, d.text, d)
        tree = d.rt()
        result, _ = merge_resource(tree, o.rt(), u.rt(), resource_schema(tree, crds))
    except KindMismatch as exc:
        raise MergeConflict(
            f'{path}: cannot merge {name}: {exc}; make the local value the same kind as upstream\'s '
            "(or remove it locally) and merge again"
        ) from exc
    if result is MISSING:
        return None
    return _Out(d.index, 0, dump_document(result, detect_seqindent(d.text)))


def merge_file(
    path: str,
    original: str | None,
    updated: str | None,
    local: str | None,
    crds: Mapping[tuple[str, str, str], Schema],
) -> str | None:
    """The merged text of one YAML file of a package, or None if no resource is left in it.

    Raises ``MergeConflict`` for duplicate identities, unparsable YAML and fields whose
    kind differs between the versions.
    """
    if original == updated == local:
        return local
    if original == updated and local is None:
        return None
    local_docs = file_resources(path, local)
    tuples = _pair(path, file_resources(path, original), file_resources(path, updated), local_docs)
    outs: list[_Out] = []
    for order, (o, u, d) in enumerate(tuples):
        out: _Out | None = None
        if o is None and u is None and d is not None:
            out = _Out(d.index, order, d.text, d)
        elif o is None and u is not None and d is None:
            out = _Out(u.index, order, u.text)
        elif u is None and d is None:
            out = None
        elif o is not None and u is None and d is not None:
            out = None if resources_equal(o, d) else _Out(d.index, order, d.text, d)
        elif o is not None and d is None:
            out = None
        elif u is not None and d is not None:
            if o is None:
                o = Doc(path, "", 0, {}, d.ident, {})
            out = _merge_pair(path, o, u, d, crds)
            if out is not None:
                out.order = order
        if out is not None:
            outs.append(out)
    if not outs:
        return None
    outs.sort(key=lambda out: (out.index, out.order))
    if [out.verbatim_local for out in outs] == local_docs:
        return local
    return "---\n".join(out.text.rstrip("\n") + "\n" for out in outs)
