"""Read-only views of packages for review: diffs between revisions, and previews that write nothing.

A reviewer compares a revision with the revision it came from (its origin), with the
newest revision of the upstream package it follows, or with any other revision; the
engine fetches both sides as every read does (the store's PackageRevisionResources)
and the kpt layer compares them. Before an edit is saved, its files are checked and
rendered here without writing anything; before a clone or an upgrade is created, the
package lifecycle computes the new revision's files exactly as its create would
(``PackageLifecycle.plan``), and they are compared with what they replace.
"""

from __future__ import annotations

import hashlib

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from porch_embedded.engine._lifecycle import PUBLISHED
from porch_embedded.engine._packages import PackageLifecycle
from porch_embedded.engine._tasks import stored_files
from porch_embedded.errors import BadRequest, NotFound, StatusError
from porch_embedded.kinds import PACKAGE_REVISION, Body
from porch_embedded.kpt import (
    KPTFILE,
    FileProblem,
    FunctionEvaluator,
    FunctionResultList,
    PackageDiff,
    check_package,
    diff_packages,
    render,
)
from porch_embedded.store import FieldMatch, ListQuery, Store

__all__ = [
    "Comparisons",
    "CreationPreview",
    "FunctionReport",
    "PackagePreviews",
    "RenderPreview",
    "ResultItem",
    "RevisionDiff",
    "files_digest",
    "function_reports",
    "label",
]

PURE_THREADS = 2
"""Comparisons and checks run in worker threads (a package of thousands of resources takes tenths of a
second), this many at a time; they are pure, so a cancelled request abandons them."""

MAX_CHAIN = 64
"""How many edit/copy steps back a search for a revision's upstream follows (a guard against cycles)."""


@dataclass(frozen=True)
class RevisionDiff:
    """Two sides compared: ``old`` and ``new`` are the PackageRevisions (None: an empty package or files
    that are not stored yet), with labels a reader recognises."""

    old: Body | None
    new: Body | None
    old_label: str
    new_label: str
    diff: PackageDiff


@dataclass(frozen=True)
class Comparisons:
    """What a revision can be compared with: its origin, the newest upstream, and the revisions of both packages."""

    origin: Body | None
    upstream: Body | None
    others: list[Body]


@dataclass(frozen=True)
class ResultItem:
    """One structured result of a function, as a reader wants it: severity, message and where."""

    severity: str
    message: str
    file: str = ""
    resource: str = ""
    field: str = ""


@dataclass(frozen=True)
class FunctionReport:
    """One function that ran in a render, in order, with its results."""

    name: str
    package: str
    exit_code: int
    stderr: str
    validator: bool
    items: tuple[ResultItem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class RenderPreview:
    """An edit checked and rendered without writing anything.

    ``problems`` lists what kpt refuses in the files (then nothing ran); otherwise
    ``functions`` is what ran, ``error`` why the render failed (None if it passed) and
    ``diff`` what the render changes in the edited files.
    """

    problems: list[FileProblem]
    functions: list[FunctionReport] = field(default_factory=list)
    error: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    diff: PackageDiff = field(default_factory=PackageDiff)

    @property
    def ran(self) -> bool:
        return not self.problems

    @property
    def ok(self) -> bool:
        return not self.problems and self.error is None


@dataclass(frozen=True)
class CreationPreview:
    """A new revision as its create would make it, compared with ``diff.old`` (what it replaces or copies)."""

    files: dict[str, str]
    task: Body
    render: RenderPreview
    diff: RevisionDiff

    @property
    def digest(self) -> str:
        """A fingerprint of the files, so a confirmation can insist on creating exactly what was shown."""
        return files_digest(self.files)


def files_digest(files: Mapping[str, str]) -> str:
    """sha256 over the sorted paths and contents (length-prefixed, so no two packages collide by framing)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        for part in (path.encode(), files[path].encode()):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def _spec(revision: Body) -> Body:
    return dict(revision.get("spec") or {})


def _number(revision: Body) -> int:
    return int(_spec(revision).get("revision") or 0)


def _first_task(revision: Body) -> Body:
    tasks = _spec(revision).get("tasks") or [{}]
    return dict(tasks[0] or {})


def _task_ref(task: Mapping[str, Any]) -> tuple[str, str]:
    """(kind of reference, name) a first task points back along: edit source, upgrade local, clone upstream."""
    kind = task.get("type")
    if kind == "edit":
        return "origin", str(((task.get("edit") or {}).get("sourceRef") or {}).get("name") or "")
    if kind == "upgrade":
        return "origin", str(((task.get("upgrade") or {}).get("localPackageRevisionRef") or {}).get("name") or "")
    if kind == "clone":
        ref = (((task.get("clone") or {}).get("upstreamRef") or {}).get("upstreamRef") or {}).get("name")
        return "upstream", str(ref or "")
    return "", ""


def label(revision: Body) -> str:
    """How a revision is named to a reader: its name and lifecycle (``v<N>`` once published)."""
    spec = _spec(revision)
    number = f" v{_number(revision)}" if _number(revision) > 0 else ""
    return f"{revision['metadata']['name']} ({spec.get('lifecycle', '')}{number})"


def function_reports(results: FunctionResultList) -> list[FunctionReport]:
    """The functions of a FunctionResultList with their structured results flattened for display."""
    return [FunctionReport(item.name or item.image or item.exec, item.package, item.exit_code, item.stderr,
                           item.validator, tuple(_result_item(r) for r in item.results)) for item in results.items]


def _result_item(result: Mapping[str, Any]) -> ResultItem:
    ref = result.get("resourceRef") or {}
    where = "/".join(x for x in (ref.get("namespace"), ref.get("name")) if x)
    resource = " ".join(v for v in (ref.get("kind"), where) if v)
    return ResultItem(str(result.get("severity") or "info"), str(result.get("message") or ""),
                      str((result.get("file") or {}).get("path") or ""), resource,
                      str((result.get("field") or {}).get("path") or ""))


class PackagePreviews:
    """Diffs and previews; reads the store only and never writes."""

    def __init__(self, store: Store, packages: PackageLifecycle, evaluate: FunctionEvaluator) -> None:
        self._store = store
        self._packages = packages
        self._evaluate = evaluate
        self._pure = trio.CapacityLimiter(PURE_THREADS)

    async def _compared(self, old: Mapping[str, str], new: Mapping[str, str]) -> PackageDiff:
        """``diff_packages`` off the event loop."""
        return await trio.to_thread.run_sync(diff_packages, old, new, limiter=self._pure, abandon_on_cancel=True)

    async def _get(self, namespace: str, name: str) -> Body:
        return await self._store.get(PACKAGE_REVISION.resource, namespace, name)

    async def _find(self, namespace: str, name: str) -> Body | None:
        if not name:
            return None
        try:
            return await self._get(namespace, name)
        except NotFound:
            return None

    async def _published_of(self, namespace: str, repository: str, package: str) -> list[Body]:
        page = await self._store.list(ListQuery(PACKAGE_REVISION.resource, namespace, fields=(
            FieldMatch(("spec", "repository"), "=", repository), FieldMatch(("spec", "packageName"), "=", package))))
        return [r for r in page.items if _spec(r).get("lifecycle") in PUBLISHED and _number(r) > 0]

    async def files(self, revision: Body) -> dict[str, str]:
        """A stored revision's files."""
        return await stored_files(self._store, revision)

    # ---- what to compare with --------------------------------------------------------------

    async def origin(self, revision: Body) -> Body | None:
        """The published revision ``revision`` came from.

        An edit (a copy of a package) came from its source, an upgrade from the local
        revision it upgraded; any other new revision of a package is compared with the
        package's latest published revision before it. A first revision (init, clone) has none.
        """
        namespace = revision["metadata"]["namespace"]
        kind, name = _task_ref(_first_task(revision))
        if kind == "origin":
            found = await self._find(namespace, name)
            if found is not None:
                return found
        spec = _spec(revision)
        published = await self._published_of(namespace, spec["repository"], spec["packageName"])
        own = _number(revision) if _spec(revision).get("lifecycle") in PUBLISHED else 0
        older = [r for r in published if r["metadata"]["name"] != revision["metadata"]["name"]
                 and (own <= 0 or _number(r) < own)]
        return max(older, key=_number) if older else None

    async def followed(self, revision: Body) -> Body | None:
        """The upstream revision ``revision`` was last cloned or upgraded from, if it follows one.

        That is the revision its clone named, or its last upgrade's new upstream, found
        through a chain of edits (copies) back to that clone or upgrade; what an upgrade
        of the package names as its old upstream.
        """
        namespace = revision["metadata"]["namespace"]
        current: Body | None = revision
        for _ in range(MAX_CHAIN):
            if current is None:
                return None
            task = _first_task(current)
            if task.get("type") == "upgrade":
                name = str(((task.get("upgrade") or {}).get("newUpstreamRef") or {}).get("name") or "")
                return await self._find(namespace, name)
            kind, name = _task_ref(task)
            if kind == "upstream":
                return await self._find(namespace, name)
            if kind != "origin" or not name:
                return None
            current = await self._find(namespace, name)
        return None

    async def upstream(self, revision: Body) -> Body | None:
        """The newest published revision of the upstream package ``revision`` follows (see ``followed``)."""
        return await self._newest_of(revision["metadata"]["namespace"], await self.followed(revision))

    async def upstream_revisions(self, followed: Body) -> list[Body]:
        """The published revisions of ``followed``'s package, newest first (what an upgrade can move to)."""
        spec = _spec(followed)
        published = await self._published_of(followed["metadata"]["namespace"], spec["repository"],
                                              spec["packageName"])
        return sorted(published, key=_number, reverse=True)

    async def _newest_of(self, namespace: str, upstream: Body | None) -> Body | None:
        if upstream is None:
            return None
        spec = _spec(upstream)
        published = await self._published_of(namespace, spec["repository"], spec["packageName"])
        return max(published, key=_number) if published else upstream

    async def comparisons(self, namespace: str, name: str) -> Comparisons:
        """What revision ``name`` can be compared with: its origin, its newest upstream, and as others
        every revision of its own package and of the upstream package it follows.

        Others are listed per package (two indexed queries), not per namespace, so the
        choice stays short in a namespace of thousands of revisions; any other revision
        can still be named to ``diff``.
        """
        revision = await self._get(namespace, name)
        followed = await self.followed(revision)
        packages = {(_spec(revision)["repository"], _spec(revision)["packageName"])}
        if followed is not None:
            packages.add((_spec(followed)["repository"], _spec(followed)["packageName"]))
        others = []
        for repository, package in sorted(packages):
            page = await self._store.list(ListQuery(PACKAGE_REVISION.resource, namespace, fields=(
                FieldMatch(("spec", "repository"), "=", repository),
                FieldMatch(("spec", "packageName"), "=", package))))
            others += [r for r in page.items if r["metadata"]["name"] != name and _number(r) >= 0]
        others.sort(key=lambda r: (_spec(r).get("repository", ""), _spec(r).get("packageName", ""), -_number(r),
                                   r["metadata"]["name"]))
        upstream = await self._newest_of(namespace, followed)
        return Comparisons(await self.origin(revision), upstream, others)

    # ---- diffs -----------------------------------------------------------------------------

    async def diff(self, namespace: str, name: str, against: str) -> RevisionDiff:
        """Revision ``name`` compared with ``against``: "origin", "upstream", or another revision's name.

        The other side is on the left. NotFound when ``against`` names no revision;
        BadRequest when the revision has no origin or upstream to compare with.
        """
        revision = await self._get(namespace, name)
        if against == "origin":
            other = await self.origin(revision)
            if other is None:
                raise BadRequest(f"{name} has no published revision it came from (it was created by "
                                 f"{_first_task(revision).get('type') or 'init'}): compare it with another revision")
        elif against == "upstream":
            other = await self.upstream(revision)
            if other is None:
                raise BadRequest(f"{name} follows no upstream package (it was not cloned from a registered "
                                 f"repository's package): compare it with another revision")
        else:
            other = await self._get(namespace, against)
        old_files, new_files = await self.files(other), await self.files(revision)
        compared = await self._compared(old_files, new_files)
        return RevisionDiff(other, revision, label(other), label(revision), compared)

    # ---- previews --------------------------------------------------------------------------

    async def check(self, files: Mapping[str, str]) -> list[FileProblem]:
        """Every problem kpt would refuse in ``files`` (``kpt.check_package``), off the event loop."""
        problems: list[FileProblem] = await trio.to_thread.run_sync(check_package, files, limiter=self._pure,
                                                                    abandon_on_cancel=True)
        return problems

    async def preview_render(self, files: Mapping[str, str]) -> RenderPreview:
        """Check ``files`` and run their pipeline; nothing is written anywhere.

        Problems in the files stop it before any function runs, as the save would refuse
        them; a function's failure is reported as the save would report it.
        """
        problems = await self.check(files)
        if KPTFILE not in files:
            problems.insert(0, FileProblem(KPTFILE, "No Kptfile found at the package root: a render needs one"))
        if problems:
            return RenderPreview(problems)
        try:
            result = await render(files, self._evaluate)
        except StatusError as error:  # a Kptfile rule the per-file check does not see (a subpackage clash)
            return RenderPreview([FileProblem(KPTFILE, error.message)])
        rendered = dict(result.files)
        return RenderPreview([], function_reports(result.results), result.error, rendered,
                             await self._compared(files, rendered))

    async def preview_creation(self, body: Body) -> CreationPreview:
        """A new revision (``body`` as a PackageRevision create would carry it) computed and compared, unwritten.

        A clone is compared with the upstream revision it copies, an upgrade with the
        local revision it upgrades, an edit with its source; refusals are the create's.
        """
        planned = await self._packages.plan(body)
        namespace = (body.get("metadata") or {}).get("namespace", "")
        kind, name = _task_ref(planned.task)
        base = await self._find(namespace, name) if kind else None
        files = planned.rendered if planned.error is None else planned.files
        base_files = await self.files(base) if base is not None else {}
        spec = _spec(body)
        new_label = f"new {spec.get('repository', '')}/{spec.get('packageName', '')} ({spec.get('workspaceName', '')})"
        result_preview = RenderPreview([], function_reports_of(planned.render_status), planned.error, files,
                                       await self._compared(planned.files, files))
        return CreationPreview(files, planned.task, result_preview,
                               RevisionDiff(base, None, label(base) if base else "(empty)", new_label,
                                            await self._compared(base_files, files)))


def function_reports_of(render_status: Body) -> list[FunctionReport]:
    """``function_reports`` read back from a stored renderStatus (kpt's FunctionResultList as data)."""
    return [FunctionReport(str(item.get("image") or item.get("exec") or ""), "", int(item.get("exitCode") or 0),
                           str(item.get("stderr") or ""), False,
                           tuple(_result_item(r) for r in item.get("results") or []))
            for item in ((render_status or {}).get("result") or {}).get("items") or []]

