"""Whole-package diffs, file by file and resource by resource, pure and I/O-free.

A package is its file map (``_package``). ``diff_packages(old, new)`` compares two of
them twice over:

- by file: every path added, removed or changed, with its line diff;
- by resource: every KRM object keyed by apiVersion, kind, namespace and name, so a
  resource that moved to another file is one change (``moved``, with its content diff
  if it also changed), not a removal plus an addition.

A line diff (``TextDiff``) is a list of hunks as ``diff -u`` makes them (difflib's
grouped opcodes), and it renders both ways a reviewer reads: unified lines, or split
rows that pair each removed line with the added line that replaced it. The figures
(lines added and removed) are what a queue shows as a diff's size.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml as pyyaml

from porch_embedded.kpt._kptfile import scalar_text
from porch_embedded.kpt._package import PackageError, _Ignore, in_git, is_resource_file, krm_error
from porch_embedded.kpt._resource_merge import _PlainLoader
from porch_embedded.kpt._yaml import YamlError, load_document, split_documents

__all__ = [
    "MAX_DIFF_LINES",
    "DiffLine",
    "FileChange",
    "Hunk",
    "PackageDiff",
    "ResourceChange",
    "ResourceKey",
    "SplitRow",
    "TextDiff",
    "diff_packages",
    "diff_text",
]

MAX_DIFF_LINES = 20_000
"""Past this many lines (both sides together) a file is reported changed without a line diff.

difflib's matcher is quadratic in the worst case; a generated file that large is not
read line by line in a review anyway."""

LineKind = Literal["context", "added", "removed"]
ChangeKind = Literal["added", "removed", "modified", "moved"]


@dataclass(frozen=True)
class DiffLine:
    """One line of a hunk; ``old``/``new`` are its 1-based numbers on each side (None where absent)."""

    kind: LineKind
    text: str
    old: int | None
    new: int | None

    @property
    def prefix(self) -> str:
        return {"context": " ", "added": "+", "removed": "-"}[self.kind]


@dataclass(frozen=True)
class SplitRow:
    """One row of a side-by-side view: the old line on the left, the new one on the right."""

    left: DiffLine | None
    right: DiffLine | None


@dataclass(frozen=True)
class Hunk:
    """A run of changes with its context, as one ``@@`` block of a unified diff."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[DiffLine, ...]

    @property
    def header(self) -> str:
        return f"@@ -{_range(self.old_start, self.old_count)} +{_range(self.new_start, self.new_count)} @@"

    def split_rows(self) -> list[SplitRow]:
        """Context lines on both sides; each block of removals paired row by row with the additions after it."""
        rows: list[SplitRow] = []
        removed: list[DiffLine] = []
        added: list[DiffLine] = []

        def flush() -> None:
            for i in range(max(len(removed), len(added))):
                rows.append(SplitRow(removed[i] if i < len(removed) else None, added[i] if i < len(added) else None))
            removed.clear()
            added.clear()

        for line in self.lines:
            if line.kind == "context":
                flush()
                rows.append(SplitRow(line, line))
            elif line.kind == "removed":
                if added:
                    flush()
                removed.append(line)
            else:
                added.append(line)
        flush()
        return rows


def _range(start: int, count: int) -> str:
    return str(start) if count == 1 else f"{start},{count}"


@dataclass(frozen=True)
class TextDiff:
    """The line diff of two texts; ``too_large`` when it was not computed (see MAX_DIFF_LINES)."""

    hunks: tuple[Hunk, ...] = ()
    added: int = 0
    removed: int = 0
    too_large: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.hunks) or self.too_large

    def unified(self, old_label: str = "a", new_label: str = "b") -> str:
        """The diff as ``diff -u`` text (a final line without newline is shown as such)."""
        if not self.changed:
            return ""
        out = [f"--- {old_label}\n", f"+++ {new_label}\n"]
        if self.too_large:
            out.append(f"(too large to show: {self.removed} lines removed, {self.added} added)\n")
        for hunk in self.hunks:
            out.append(hunk.header + "\n")
            out.extend(f"{line.prefix}{line.text}\n" for line in hunk.lines)
        return "".join(out)


def _lines(text: str) -> list[str]:
    """Lines split on LF only, so a CR (a file saved with CRLF line ends) stays a visible difference."""
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines if text else []


def diff_text(old: str, new: str, *, context: int = 3) -> TextDiff:
    """The line diff of ``old`` and ``new`` with ``context`` lines around each change."""
    if old == new:
        return TextDiff()
    a, b = _lines(old), _lines(new)
    if len(a) + len(b) > MAX_DIFF_LINES:
        return TextDiff(added=len(b), removed=len(a), too_large=True)
    if a == b:  # only the final newline differs
        a = [*a[:-1], a[-1] + ("" if old.endswith("\n") else " (no newline at end of file)")] if a else a
        b = [*b[:-1], b[-1] + ("" if new.endswith("\n") else " (no newline at end of file)")] if b else b
    hunks: list[Hunk] = []
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        lines: list[DiffLine] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(DiffLine("context", a[i], i + 1, j1 + (i - i1) + 1) for i in range(i1, i2))
                continue
            if tag in ("replace", "delete"):
                lines.extend(DiffLine("removed", a[i], i + 1, None) for i in range(i1, i2))
                removed += i2 - i1
            if tag in ("replace", "insert"):
                lines.extend(DiffLine("added", b[j], None, j + 1) for j in range(j1, j2))
                added += j2 - j1
        first, last = group[0], group[-1]
        old_count, new_count = last[2] - first[1], last[4] - first[3]
        hunks.append(Hunk(first[1] + (1 if old_count else 0), old_count,
                          first[3] + (1 if new_count else 0), new_count, tuple(lines)))
    return TextDiff(tuple(hunks), added, removed)


@dataclass(frozen=True)
class FileChange:
    """One file that differs: its path and status, and its line diff."""

    path: str
    status: Literal["added", "removed", "modified"]
    diff: TextDiff


@dataclass(frozen=True, order=True)
class ResourceKey:
    """What names a resource across revisions: apiVersion, kind, namespace and name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.api_version} {self.kind} {where}{self.name}"


@dataclass(frozen=True)
class ResourceChange:
    """One resource that differs. A ``moved`` resource changed file (and maybe content too)."""

    key: ResourceKey
    status: ChangeKind
    old_path: str | None
    new_path: str | None
    diff: TextDiff

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


@dataclass(frozen=True)
class PackageDiff:
    """Two packages compared by file and by resource.

    ``resource_error`` says why a resource-level comparison was not possible (a side that
    does not parse as a kpt package); the file-level comparison is always there.
    """

    files: tuple[FileChange, ...] = ()
    resources: tuple[ResourceChange, ...] = ()
    unchanged_files: int = 0
    unchanged_resources: int = 0
    resource_error: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def added(self) -> int:
        """Lines added over all files."""
        return sum(change.diff.added for change in self.files)

    @property
    def removed(self) -> int:
        """Lines removed over all files."""
        return sum(change.diff.removed for change in self.files)

    @property
    def size(self) -> int:
        """Lines changed (added plus removed): the one figure a list of reviews shows."""
        return self.added + self.removed

    @property
    def empty(self) -> bool:
        return not self.files


def diff_packages(old: Mapping[str, str], new: Mapping[str, str], *, context: int = 3) -> PackageDiff:
    """Compare package ``old`` with package ``new`` (file maps), by file and by resource."""
    files: list[FileChange] = []
    unchanged = 0
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            unchanged += 1
        elif before is None:
            files.append(FileChange(path, "added", diff_text("", after or "", context=context)))
        elif after is None:
            files.append(FileChange(path, "removed", diff_text(before, "", context=context)))
        else:
            files.append(FileChange(path, "modified", diff_text(before, after, context=context)))
    try:
        resources, same = _diff_resources(old, new, context)
        error = None
    except PackageError as exc:
        resources, same, error = [], 0, str(exc)
    counts = {kind: sum(1 for r in resources if r.status == kind) for kind in ("added", "removed", "modified", "moved")}
    return PackageDiff(tuple(files), tuple(resources), unchanged, same, error, counts)


def _texts(path: str, text: str) -> list[str]:
    try:
        return [text] if path.endswith(".json") else split_documents(text)
    except YamlError as exc:
        raise PackageError(f"{path}: {exc}") from exc


def _load(path: str, text: str) -> Any:
    """A document as plain data: libyaml first (fast, YAML 1.2 scalars), ruamel when libyaml cannot read it."""
    try:
        return pyyaml.load(text, Loader=_PlainLoader)
    except pyyaml.YAMLError:
        try:
            return load_document(text)
        except YamlError as exc:
            raise PackageError(f"{path}: {exc}") from exc


def _keyed(files: Mapping[str, str], paths: list[str], side: str) -> dict[tuple[ResourceKey, int], tuple[str, str]]:
    """Each resource of ``paths`` (files of package ``files``) as (file, its document's text) under its key
    and its occurrence number of that key. PackageError names the side that cannot be read."""
    seen: dict[ResourceKey, int] = {}
    keyed: dict[tuple[ResourceKey, int], tuple[str, str]] = {}
    try:
        for path in paths:
            for text in _texts(path, files[path]):
                obj = _load(path, text)
                if obj is None:
                    continue
                reason = krm_error(obj, path)
                if reason:
                    raise PackageError(f"{path}: not a KRM resource: {reason}")
                key = _key(obj)
                occurrence = seen.get(key, 0)
                seen[key] = occurrence + 1
                keyed[(key, occurrence)] = (path, text if text.endswith("\n") else text + "\n")
    except PackageError as exc:
        raise PackageError(f"the {side} side is not a readable kpt package: {exc}") from exc
    return keyed


def _key(obj: Any) -> ResourceKey:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return ResourceKey(scalar_text(obj.get("apiVersion")), scalar_text(obj.get("kind")),
                       scalar_text(metadata.get("namespace")), scalar_text(metadata.get("name")))


def _resource_paths(files: Mapping[str, str], ignore: _Ignore) -> list[str]:
    return [path for path in sorted(files)
            if is_resource_file(path) and not in_git(path) and not ignore.ignored(path)]


def _count_documents(path: str, text: str) -> int:
    """Documents of a file holding something other than comments (what a parse would find), unparsed."""
    try:
        texts = _texts(path, text)
    except PackageError:
        return 0
    return sum(1 for t in texts if any(line.strip() and not line.lstrip().startswith("#") for line in t.split("\n")))


def _diff_resources(old: Mapping[str, str], new: Mapping[str, str],
                    context: int) -> tuple[list[ResourceChange], int]:
    """Resources compared by key; only files that differ are read.

    A file with the same text on both sides holds the same resources at the same place,
    so none of them can have changed or moved (a resource moved into or out of it would
    change its text); its documents are only counted.
    """
    old_ignore, new_ignore = _Ignore(old), _Ignore(new)
    old_paths, new_paths = _resource_paths(old, old_ignore), _resource_paths(new, new_ignore)
    same_files = [p for p in old_paths if new.get(p) == old[p] and p in new_paths]
    kept = set(same_files)
    before = _keyed(old, [p for p in old_paths if p not in kept], "old")
    after = _keyed(new, [p for p in new_paths if p not in kept], "new")
    changes: list[ResourceChange] = []
    same = 0
    for slot in sorted(set(before) | set(after)):
        key = slot[0]
        if slot not in after:
            path, text = before[slot]
            changes.append(ResourceChange(key, "removed", path, None, diff_text(text, "", context=context)))
        elif slot not in before:
            path, text = after[slot]
            changes.append(ResourceChange(key, "added", None, path, diff_text("", text, context=context)))
        else:
            (old_path, old_text), (new_path, new_text) = before[slot], after[slot]
            if old_path != new_path:
                changes.append(ResourceChange(key, "moved", old_path, new_path,
                                              diff_text(old_text, new_text, context=context)))
            elif old_text != new_text:
                changes.append(ResourceChange(key, "modified", old_path, new_path,
                                              diff_text(old_text, new_text, context=context)))
            else:
                same += 1
    return changes, same + sum(_count_documents(p, old[p]) for p in same_files)

