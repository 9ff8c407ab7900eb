"""The resource level of kpt's resource-merge: pairing resources and merging one file (kpt.md §5.2).

kpt pairs the resources of the old upstream (original), the new upstream (updated) and
the local package by API group (version ignored), kind, namespace, name and file path;
the namespace and name come from the ``internal.kpt.dev/upstream-identifier``
annotation that a clone writes, or from a ``# kpt-merge: ns/name`` comment on
``metadata``, when the resource has one, so a local rename still pairs with upstream.
The file path is part of the identity, so each file merges on its own.

Per pair: added on one side is kept, deleted upstream is dropped unless local changed it,
deleted locally stays deleted, present in all three merges field by field (``_merge3``).

A file or resource upstream did not change is kept as local has it, byte for byte and
unparsed. (kpt would still walk it: an explicit null local wrote would go, and a mapping
local deleted would come back empty; here a no-op upstream leaves local alone.)

Parsing with ruamel is the slow part, so a resource is first merged over a fast plain
parse: if nothing comes from upstream and the result equals local, local's text is kept
as written; if local did not touch the resource and the result equals upstream's,
upstream's text is taken as written; if both changed it, a line-wise merge of the three
texts (upstream's lines winning where both changed the same ones) is taken when it reads
exactly as the merged resource. These differ from kpt in looks only: kpt would keep
local's comments and quoting on the values it takes from upstream, a line taken from
upstream brings upstream's.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import yaml as pyyaml

from porch_embedded.errors import MergeConflict
from porch_embedded.kpt._kptfile import scalar_text
from porch_embedded.kpt._resourcelist import UPSTREAM_IDENTIFIER
from porch_embedded.kpt._merge3 import (
    MISSING,
    KindMismatch,
    Schema,
    merge_resource,
    resource_schema,
    same_content,
)
from porch_embedded.kpt._yaml import YamlError, detect_seqindent, dump_document, load_document, split_documents

__all__ = ["diff3", "file_resources", "load_tree", "merge_file", "texts_equal"]

_CNRM_ATTRIBUTION = "cnrm.cloud.google.com/blueprint"
_MERGE_COMMENT = re.compile(r"^metadata:[ \t]*#[ \t]*kpt-merge:[ \t]*(\S*)/(\S*)[ \t]*$", re.MULTILINE)
_NOT_PLAIN = object()


class _PlainLoader(pyyaml.CSafeLoader):
    """libyaml's fast loader, resolving plain scalars as YAML 1.2 (and ruamel, and go-yaml) do.

    Its trees decide when a merge changes nothing, and stand for the original in real
    merges (the original is only compared, never written), so they must read ``yes``,
    ``on`` or ``2001-12-14`` as the strings the round-trip parser sees.
    """


_PlainLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
):
    _PlainLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


@dataclass(eq=False)
class Doc:
    """One resource of one file: its text, position, identity and lazily parsed trees."""

    path: str
    text: str
    index: int
    ident: tuple[str, str, str, str] = ("", "", "", "")
    _plain: Any = field(default=MISSING, repr=False)
    _rt: Any = field(default=MISSING, repr=False)

    @property
    def plain(self) -> Any:
        """The fast plain tree (parsed once, on first use), or ``_NOT_PLAIN`` if libyaml cannot read it."""
        if self._plain is MISSING:
            try:
                self._plain = pyyaml.load(self.text, Loader=_PlainLoader)
            except pyyaml.YAMLError:
                self._plain = _NOT_PLAIN
        return self._plain

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


def _texts(path: str, text: str | None) -> list[str]:
    """The documents of a file that hold more than comments, in order (their index is their position)."""
    if text is None:
        return []
    try:
        texts = split_documents(text)
    except YamlError as exc:
        raise MergeConflict(f"{path}: {exc}; fix the document separators of this file and merge again") from exc
    return [t.rstrip("\n") + "\n" for t in texts
            if any(line.strip() and not line.lstrip().startswith("#") for line in t.split("\n"))]


_TOP_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):(?:[ \t]+(.*))?$")
_NESTED_KEY = re.compile(r"^[ ]+([A-Za-z][A-Za-z0-9_.-]*):(?:[ \t]+(.*))?$")
_IDENTIFIER_LINE = re.compile(r"^[ ]+internal\.kpt\.dev/upstream-identifier:[ \t]+(.*)$")
_SAFE_PLAIN = re.compile(r"^(?![-?:,\[\]{}#&*!|>'\"%@`])[^#]*?(?<![ \t])$")
_RESOLVES_DIFFERENTLY = re.compile(r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+.0-9].*)$")


def _simple_value(rest: str | None) -> str | None:
    """A scalar written on the key's line, if it is simple enough to read without a parser."""
    text = (rest or "").strip()
    if not text or text.startswith("#"):
        return ""
    if text[0] in "'\"":
        quote = text[0]
        end = text.find(quote, 1)
        if end < 0 or "\\" in text[:end] or text[end + 1 :].strip()[:1] not in ("", "#"):
            return None
        return text[1:end]
    value = text.split(" #", 1)[0].rstrip()
    if not _SAFE_PLAIN.match(value) or _RESOLVES_DIFFERENTLY.match(value) or ": " in value:
        return None
    return value


def _quick_identity(text: str) -> tuple[str, str, str, str] | None:
    """The identity read off a plain block-style document's lines, or None when in doubt.

    Most resources start with ``apiVersion``, ``kind`` and a block ``metadata``; reading
    those lines avoids parsing every document of a file only to pair them. Anything
    unusual (flow style, quoting with escapes, values that would not read back as the
    same string, tabs) returns None and the document is parsed.
    """
    top: dict[str, str | None] = {}
    metadata: dict[str, str | None] = {}
    comment = ""
    section = child = ""
    child_indent = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in line:
            return None
        if not line.startswith(" "):
            match = _TOP_KEY.match(line)
            if match is None:
                return None
            key, rest = match.group(1), match.group(2)
            section = key if key == "metadata" else ""
            if key == "metadata":
                if rest and not rest.lstrip().startswith("#"):
                    return None
                comment = rest or ""
                child_indent = 0
            else:
                top[key] = _simple_value(rest)
            continue
        if section != "metadata":
            continue
        indent = len(line) - len(line.lstrip(" "))
        child_indent = child_indent or indent
        if indent == child_indent:
            match = _NESTED_KEY.match(line)
            if match is None:
                return None
            child = match.group(1)
            metadata[child] = _simple_value(match.group(2))
        elif "upstream-identifier" in line:
            if child != "annotations":
                return None
            match = _IDENTIFIER_LINE.match(line)
            value = _simple_value(match.group(1)) if match else None
            if value is None:
                return None
            metadata["identifier"] = value
    api_version, kind, name = top.get("apiVersion"), top.get("kind"), metadata.get("name")
    namespace = metadata.get("namespace", "")
    if not api_version or not kind or not name or namespace is None:
        return None
    probe = {"apiVersion": api_version, "kind": kind,
             "metadata": {"name": name, "namespace": namespace,
                          "annotations": {UPSTREAM_IDENTIFIER: metadata.get("identifier", "")}}}
    return _identity(probe, f"metadata:{comment}")


def _parse(path: str, text: str, index: int) -> Doc | None:
    """One document with its identity (None for an empty one); raises when it is not a mapping."""
    ident = _quick_identity(text)
    if ident is not None:
        return Doc(path, text, index, ident)
    doc = Doc(path, text, index)
    tree = doc.rt() if doc.plain is _NOT_PLAIN else doc.plain
    if tree is None:
        return None
    if not isinstance(tree, dict):
        raise MergeConflict(f"{path}: document {index} is not a mapping; a package's YAML files must hold KRM resources")
    doc.ident = _identity(tree, text)
    return doc


def file_resources(path: str, text: str | None) -> list[Doc]:
    """The resources of a YAML file, each with its identity."""
    docs = (_parse(path, t, i) for i, t in enumerate(_texts(path, text)))
    return [doc for doc in docs if doc is not None]


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


_MERGE_COMMENT_ANYWHERE = re.compile(r"[ \t]*#[ \t]*kpt-merge:.*$", re.MULTILINE)


def _comparable(path: str, text: str) -> str:
    """A document re-serialised without what get, clone and attribution add to it."""
    obj = load_tree(path, _MERGE_COMMENT_ANYWHERE.sub("", text))
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if isinstance(annotations, dict):
        for key in (_CNRM_ATTRIBUTION, UPSTREAM_IDENTIFIER):
            annotations.pop(key, None)
        if not annotations:
            del metadata["annotations"]
    return dump_document(obj)


def texts_equal(path: str, a: str, b: str) -> bool:
    """kpt's "local did not change it" for YAML text: equal once re-serialised, comments included.

    kpt's get (and Porch's clone) add a ``# kpt-merge`` comment and an upstream-identifier
    annotation to every resource, and kpt adds them to the versions it compares with as
    well; so here they do not count as changes, nor does kpt's attribution annotation.
    Raises ``MergeConflict`` for text that is not YAML.
    """
    if a.strip() == b.strip():
        return True
    left, right = ([_comparable(path, t) for t in _texts(path, text)] for text in (a, b))
    return left == right


@dataclass
class _Out:
    """One resource of the merged file: where it goes (index, then pairing order) and its text."""

    index: int
    order: int
    text: str
    local_index: int | None = None
    """Set when the text is the local document at this index, unchanged."""


def _merge_pair(path: str, o: Doc, u: Doc, d: Doc, crds: Mapping[tuple[str, str, str], Schema]) -> _Out | None:
    """A resource present locally and upstream, merged field by field (cheapest faithful text first)."""
    name = f"{d.ident[1]} {d.ident[2]}/{d.ident[3]}"
    plain = d.plain is not _NOT_PLAIN and o.plain is not _NOT_PLAIN and u.plain is not _NOT_PLAIN
    try:
        if plain:
            result, took = merge_resource(d.fresh_plain(), o.plain, u.plain, resource_schema(d.plain, crds))
            if not took and same_content(result, d.plain):
                return _Out(d.index, 0, d.text, d.index)
            if d.text == o.text and same_content(result, u.plain):
                return _Out(d.index, 0, u.text)
            for append_additions in (False, True):
                lines = diff3(o.text, d.text, u.text, append_additions=append_additions)
                if _reads_as(lines, result):
                    return _Out(d.index, 0, lines)
        tree = d.rt()
        origin = o.plain if o.plain is not _NOT_PLAIN else o.rt()
        result, _ = merge_resource(tree, origin, u.rt(), resource_schema(tree, crds))
    except KindMismatch as exc:
        raise MergeConflict(
            f'{path}: cannot merge {name}: {exc}; make the local value the same kind as upstream\'s '
            "(or remove it locally) and merge again"
        ) from exc
    if result is MISSING:
        return None
    return _Out(d.index, 0, dump_document(result, detect_seqindent(d.text)))


def _identical(texts: list[list[str]]) -> tuple[list[_Out], list[list[tuple[int, str]]]]:
    """Local documents whose exact text is also in original and updated, and what is left to pair.

    A resource's identity is a function of its text, so such documents pair with each
    other and merge to themselves without being parsed. (Unparsed, they are not checked
    for duplicate identities: a file holding the same resource twice is refused only
    once one of the copies changes.)
    """
    original, updated = Counter(texts[0]), Counter(texts[1])
    outs: list[_Out] = []
    for index, text in enumerate(texts[2]):
        if original[text] and updated[text]:
            original[text] -= 1
            updated[text] -= 1
            outs.append(_Out(index, len(outs), text, index))
    consumed = [Counter(texts[0]) - original, Counter(texts[1]) - updated, Counter(o.text for o in outs)]
    parsed: list[list[tuple[int, str]]] = []
    for side, skip in zip(texts, consumed, strict=True):
        rest = []
        for index, text in enumerate(side):
            if skip[text]:
                skip[text] -= 1
            else:
                rest.append((index, text))
        parsed.append(rest)
    return outs, parsed


def diff3(original: str, local: str, updated: str, *, append_additions: bool = False) -> str:
    """A line-wise three-way merge of texts; where both sides changed the same lines, upstream's win.

    Lines unchanged on both sides anchor the merge; between anchors a side that left
    the original's lines alone takes the other side's. With ``append_additions``, lines
    only upstream added go to the end of the block they were added to, where kpt puts
    new keys. The result is only a candidate: the caller keeps it only if it reads
    exactly as kpt's field-level merge.
    """
    base, mine, theirs = (t.splitlines(keepends=True) for t in (original, local, updated))
    to_mine, to_theirs = (
        {b.a + k: b.b + k for b in SequenceMatcher(None, base, side, autojunk=False).get_matching_blocks()
         for k in range(b.size)}
        for side in (mine, theirs)
    )
    out: list[str] = []
    additions: list[tuple[int, list[str]]] = []
    at_base = at_mine = at_theirs = 0
    for index in [*(i for i in range(len(base)) if i in to_mine and i in to_theirs), len(base)]:
        end_mine, end_theirs = (to_mine[index], to_theirs[index]) if index < len(base) else (len(mine), len(theirs))
        if end_mine < at_mine or end_theirs < at_theirs:
            continue
        old, ours, other = base[at_base:index], mine[at_mine:end_mine], theirs[at_theirs:end_theirs]
        if append_additions and not old and not ours and other:
            additions.append((len(out), other))
        elif len(ours) == len(old) == len(other):  # edits in place: settle line by line
            out.extend(m if t == b else t for b, m, t in zip(old, ours, other, strict=True))
        else:
            out.extend(ours if other == old else other)
        if index < len(base):
            out.append(base[index])
        at_base, at_mine, at_theirs = index + 1, end_mine + 1, end_theirs + 1
    for start, lines in reversed(additions):
        out[_block_end(out, start, _indent(lines[0])):0] = lines
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """The first line from ``start`` that closes a block indented by ``indent``."""
    for index in range(start, len(lines)):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#") and _indent(lines[index]) < indent:
            return index
    return len(lines)


def _reads_as(text: str, tree: Any) -> bool:
    """Whether ``text`` holds exactly ``tree`` (keys in the same order)."""
    try:
        return same_content(pyyaml.load(text, Loader=_PlainLoader), tree)
    except pyyaml.YAMLError:
        return False


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
    if original == updated:
        return local
    if original is None and local is None:
        return updated
    texts = [_texts(path, t) for t in (original, updated, local)]
    outs, parsed = _identical(texts)
    tuples = _pair(path, *([d for d in (_parse(path, t, i) for i, t in side) if d is not None] for side in parsed))
    for order, (o, u, d) in enumerate(tuples, start=len(outs)):
        out: _Out | None = None
        if o is None and u is None and d is not None:
            out = _Out(d.index, order, d.text, d.index)
        elif o is None and u is not None and d is None:
            out = _Out(u.index, order, u.text)
        elif u is None and d is None:
            out = None
        elif o is not None and u is None and d is not None:
            out = None if texts_equal(path, o.text, d.text) else _Out(d.index, order, d.text, d.index)
        elif o is not None and d is None:
            out = None
        elif o is not None and u is not None and d is not None and o.text == u.text:
            out = _Out(d.index, order, d.text, d.index)
        elif u is not None and d is not None:
            if o is None:
                o = Doc(path, "", 0, d.ident, {}, {})
            out = _merge_pair(path, o, u, d, crds)
            if out is not None:
                out.order = order
        if out is not None:
            outs.append(out)
    if not outs:
        return None
    outs.sort(key=lambda out: (out.index, out.order))
    if [out.local_index for out in outs] == list(range(len(texts[2]))):
        return local
    return "---\n".join(out.text.rstrip("\n") + "\n" for out in outs)
