"""``rpkg upgrade``: porchctl's upgrade of a downstream package, and its update discovery.

``porchctl rpkg upgrade NAME --workspace=WS [--revision=N] [--strategy=S]`` finds the
upstream revision NAME follows (its clone's upstreamRef, its upgrade's newUpstreamRef,
through a chain of copies, or by its upstreamLock) and creates a Draft of NAME's package
with an upgrade task from there to revision N of that upstream package (the latest
when N is 0). ``--discover=upstream [NAME...]`` lists, per revision, the newer published
revisions of its upstream; ``--discover=downstream [UPSTREAM...]`` lists, per upstream
revision, the downstream revisions that could move to it. Messages, the tables and the
quirks (a Repository matched on its git URL alone, the last match winning; a failed
create naming the revision ``""``) are porchctl's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from porch_embedded.cli._command import Command, Flag
from porch_embedded.cli._output import render_rows
from porch_embedded.cli._session import CommandError, Session
from porch_embedded.errors import Conflict, StatusError
from porch_embedded.kinds import PACKAGE_REVISION, REPOSITORY

__all__ = ["STRATEGIES", "upgrade_command"]

STRATEGIES = ("resource-merge", "fast-forward", "force-delete-replace", "copy-merge")
"""Porch's PackageMergeStrategy values, in porchctl's order."""
_CONFLICT_RETRIES = 5
"""client-go's retry.DefaultRetry: five tries, 10 ms apart, while the server answers Conflict."""

Body = dict[str, Any]


class _Conflicted(CommandError):
    """The create answered Conflict: porchctl tries the whole upgrade again (client-go's RetryOnConflict)."""


def _published(revision: Body) -> bool:
    return (revision.get("spec") or {}).get("lifecycle") in ("Published", "DeletionProposed")


def _spec(revision: Body) -> Body:
    return dict(revision.get("spec") or {})


def _number(revision: Body) -> int:
    return int(_spec(revision).get("revision") or 0)


def _first_task(revision: Body) -> Body:
    tasks = _spec(revision).get("tasks") or [{}]
    return dict(tasks[0])


def _revision_number(text: str) -> int:
    """Porch's Revision2Int: ``v2`` is 2, anything that is not a number is -1."""
    try:
        return int(text.removeprefix("v"))
    except ValueError:
        return -1


def _with_git_suffix(url: str) -> str:
    return url if url.endswith(".git") else url + ".git"


@dataclass
class _Upgrade:
    """One run: the session, the flags, and (discovery) the PackageRevisions listed once."""

    session: Session
    revisions: list[Body] = field(default_factory=list)

    @property
    def discovering(self) -> bool:
        return bool(self.session.args.discover)

    # -- finding revisions: by GET when upgrading, in the listed revisions when discovering --------------

    def find(self, name: str) -> Body | None:
        if self.discovering:
            return next((r for r in self.revisions if r["metadata"]["name"] == name), None)
        try:
            return self.session.client.get(PACKAGE_REVISION, name)
        except StatusError:
            return None

    def list_all(self) -> list[Body]:
        """PackageRevisions of ``--namespace``, or of every namespace without it (porchctl's List)."""
        args = self.session.args
        scoped = "namespace" in args.changed and bool(args.namespace)
        listed = self.session.client.list(PACKAGE_REVISION, all_namespaces=not scoped)
        return list(listed.get("items") or [])

    def published_of(self, package: str, repository: str, revision: int = 0) -> list[Body]:
        """Published revisions of an upstream package (only revision ``revision`` when given)."""
        if self.discovering:
            candidates = self.revisions
        else:
            selector = [f"spec.packageName={package}", f"spec.repository={repository}"]
            if revision > 0:
                selector.append(f"spec.revision={revision}")
            try:
                candidates = list(self.session.client.list(PACKAGE_REVISION, field_selector=",".join(selector))
                                  .get("items") or [])
            except StatusError:
                return []
        return [c for c in candidates if _spec(c).get("packageName") == package and
                _spec(c).get("repository") == repository and _published(c)]

    # -- which upstream a revision follows ---------------------------------------------------------------

    def upstream_name(self, revision: Body) -> str:
        task = _first_task(revision)
        kind = task.get("type")
        if kind == "clone":
            return str((((task.get("clone") or {}).get("upstreamRef") or {}).get("upstreamRef") or {})
                       .get("name", ""))
        if kind == "upgrade":
            return str(((task.get("upgrade") or {}).get("newUpstreamRef") or {}).get("name", ""))
        if kind == "edit":
            origin = self.edit_origin(revision)
            if origin:
                return origin
            lock = (revision.get("status") or {}).get("upstreamLock")
            if lock:
                self.revisions = self.list_all()
                found = self.by_lock(lock)
                return found["metadata"]["name"] if found else ""
        return ""

    def edit_origin(self, revision: Body) -> str:
        """Follow a chain of copies back to the revision that was cloned or upgraded."""
        current: Body | None = revision
        while current is not None and _first_task(current).get("type") == "edit":
            source = ((_first_task(current).get("edit") or {}).get("sourceRef") or {}).get("name", "")
            current = self.find(source)
        return self.upstream_name(current) if current is not None else ""

    def by_lock(self, lock: Body) -> Body | None:
        """The highest published revision whose own upstreamLock has the same repo, directory and ref."""
        target = lock.get("git") or {}
        best: Body | None = None
        for candidate in self.revisions:
            theirs = ((candidate.get("status") or {}).get("upstreamLock") or {}).get("git")
            if not _published(candidate) or not theirs:
                continue
            if theirs.get("repo") != target.get("repo") or theirs.get("directory") != target.get("directory"):
                continue
            if target.get("ref") and theirs.get("ref") == target.get("ref") and \
                    (best is None or _number(candidate) > _number(best)):
                best = candidate
        return best

    # -- the upgrade itself --------------------------------------------------------------------------------

    def upgrade(self, name: str) -> None:
        local = self.find(name)
        if local is None:
            raise CommandError(f"could not find package revision {name}")
        for attempt in range(_CONFLICT_RETRIES):
            try:
                local = self.session.client.get(PACKAGE_REVISION, name)
                created = self.create_upgrade(local)
                break
            except (Conflict, _Conflicted):
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
                time.sleep(0.01)
        self.session.out(f"{name} upgraded to {created['metadata']['name']}")

    def create_upgrade(self, local: Body) -> Body:
        args = self.session.args
        if not _published(local):
            raise CommandError(f"to upgrade a package, it must be in a published state, not "
                               f"{json.dumps(_spec(local).get('lifecycle', ''))}")
        old_name = self.upstream_name(local)
        if not old_name:
            raise CommandError(f"upstream source not found for package revision "
                               f"{json.dumps(_spec(local).get('packageName', ''))}: no clone or upgrade type package "
                               "revision was found in the history of the package")
        old = self.find(old_name)
        if old is None:
            raise CommandError(f"upstream package revision {old_name} no longer exists")
        if not _published(old):
            raise CommandError(f"old upstream package revision {old['metadata']['name']} is not published")
        package, repository = _spec(old)["packageName"], _spec(old)["repository"]
        if args.revision == 0:
            candidates = [c for c in self.published_of(package, repository) if _number(c) > 0]
            if not candidates:
                raise CommandError(f"failed to find latest published revision for package {package} in repo "
                                   f"{repository} (--revision was {args.revision})")
            new = max(candidates, key=_number)
        else:
            chosen = [c for c in self.published_of(package, repository, args.revision)
                      if _number(c) == args.revision]
            if not chosen:
                raise CommandError(f"revision {args.revision} does not exist for package {package} in repo "
                                   f"{repository}")
            new = chosen[0]
        task = {"type": "upgrade", "upgrade": {
            "oldUpstreamRef": {"name": old["metadata"]["name"]}, "newUpstreamRef": {"name": new["metadata"]["name"]},
            "localPackageRevisionRef": {"name": local["metadata"]["name"]}, "strategy": args.strategy}}
        body = {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                "metadata": {"namespace": local["metadata"]["namespace"]},
                "spec": {"packageName": _spec(local)["packageName"], "repository": _spec(local)["repository"],
                         "workspaceName": args.workspace, "tasks": [task]}}
        self.session.progress(f"upgrading {local['metadata']['name']}...")
        try:
            return self.session.client.create(PACKAGE_REVISION, body, namespace=local["metadata"]["namespace"])
        except StatusError as error:
            # The request's object has no name yet, and porchctl names it so.
            failed = _Conflicted if isinstance(error, Conflict) else CommandError
            raise failed(f'failed to do create package revision "": {error.message}') from error
        finally:
            self.session.progress("")

    # -- discovery -----------------------------------------------------------------------------------------

    def updates(self, lock: Body | None, repositories: list[Body], holder: str) -> tuple[list[Body], str, str]:
        """Newer published revisions of what ``lock`` points at, the upstream Repository's name, the draft's name."""
        git = (lock or {}).get("git")
        if not git:
            return [], "", ""
        ref = str(git.get("ref", ""))
        slash = ref.rfind("/")
        if slash < 0:
            raise CommandError(f"could not parse upstreamLock in Kptfile of package {json.dumps(holder)}: "
                               f"malformed upstreamLock.Git.Ref {json.dumps(ref)}")
        draft = ""
        if ref.startswith("drafts"):
            current, draft = 0, ref[slash + 1:]
        else:
            current = _revision_number(ref[slash + 1:])
        upstream_package = ref[:slash].removeprefix("drafts").removeprefix("/")
        url = _with_git_suffix(str(git.get("repo", "")))
        upstream, found = "", []
        for repository in repositories:
            spec = repository.get("spec") or {}
            if spec.get("type") != "git" or _with_git_suffix(str((spec.get("git") or {}).get("repo", ""))) != url:
                continue
            upstream = repository["metadata"]["name"]
            directory = str((spec.get("git") or {}).get("directory") or "")
            wanted = upstream_package.removeprefix(directory.removeprefix("/") + "/") if directory else upstream_package
            found = [r for r in self.revisions if _published(r) and _spec(r).get("repository") == upstream and
                     (str(_spec(r).get("packageName", "")).removeprefix(directory + "/") if directory
                      else _spec(r).get("packageName")) == wanted]
        return [r for r in found if _number(r) > current], upstream, draft

    def discover(self, names: list[str]) -> None:
        args = self.session.args
        self.revisions = self.list_all()
        selected = self.revisions
        if names and args.discover == "upstream":
            missing = [n for n in names if self.find(n) is None]
            if missing:
                raise CommandError("errors:\n  " + "\n  ".join(f"could not find package revision {n}"
                                                              for n in missing))
            selected = [found for n in names if (found := self.find(n)) is not None]
        repositories = list(self.session.client.list(REPOSITORY, all_namespaces=True).get("items") or [])
        rows: list[list[str]] = []
        if args.discover == "upstream":
            for revision in selected:
                newer, upstream, _ = self.updates((revision.get("status") or {}).get("upstreamLock"), repositories,
                                                  revision["metadata"]["name"])
                rows.append([revision["metadata"]["name"], upstream,
                             ", ".join(f"v{_number(r)}" for r in newer) or "No update available"])
            self.session.io.stdout.write(render_rows([["PACKAGE REVISION", "UPSTREAM REPOSITORY",
                                                       "UPSTREAM UPDATES"], *rows]))
            return
        downstream: dict[tuple[str, int, str], list[Body]] = {}
        for revision in selected:
            lock = (revision.get("status") or {}).get("upstreamLock")
            newer, _, draft = self.updates(lock, repositories, revision["metadata"]["name"])
            for update in newer:
                downstream.setdefault((update["metadata"]["name"], _number(update), draft), []).append(revision)
        for (upstream_name, number, draft), revisions in downstream.items():
            for revision in revisions:
                if draft:
                    rows.append([upstream_name, revision["metadata"]["name"], f'(draft "{draft}")->v{number}'])
                    continue
                ref = str((((revision.get("status") or {}).get("upstreamLock") or {}).get("git") or {})
                          .get("ref", ""))
                if "v" not in ref:
                    continue
                rows.append([upstream_name, revision["metadata"]["name"], f"{ref[ref.rfind('v'):]}->v{number}"])
        if names:
            rows = [row for name in names for row in rows if row[0] == name]
        if not rows:
            self.session.out("All downstream packages are up to date.")
            return
        self.session.io.stdout.write(render_rows([["PACKAGE REVISION", "DOWNSTREAM PACKAGE", "DOWNSTREAM UPDATE"],
                                                  *rows]))


def _run(session: Session) -> None:
    args = session.args
    names: list[str] = args.args
    run = _Upgrade(session)
    if args.discover in ("upstream", "downstream"):
        run.discover(names)
        return
    if args.discover:
        raise CommandError("argument for 'discover' must be one of 'upstream' or 'downstream'")
    if not names:
        raise CommandError("SOURCE_PACKAGE_REVISION is a required positional argument")
    if len(names) > 1:
        raise CommandError("too many arguments; SOURCE_PACKAGE_REVISION is the only accepted positional arguments")
    if args.revision < 0:
        raise CommandError("revision must be positive (and not main)")
    if not args.workspace:
        raise CommandError("workspace is required")
    if args.strategy and args.strategy not in STRATEGIES:
        raise CommandError(f"invalid strategy {json.dumps(args.strategy)}; must be one of: [{' '.join(STRATEGIES)}]")
    run.upgrade(names[0])


def upgrade_command() -> Command:
    """``rpkg upgrade`` with porchctl's flags."""
    summary = "Update a downstream package revision to a more recent revision of its upstream package."
    return Command(
        "upgrade SOURCE_PACKAGE_REVISION", summary,
        long=f"{summary}\nCreates a new Draft of the package with an upgrade task: the upstream's changes merged "
             "into the local ones with the chosen strategy.",
        example="  porchctl rpkg upgrade deployments.my-ns.v1 --workspace=v2 --namespace=default\n"
                "  porchctl rpkg upgrade --discover=upstream --namespace=default",
        flags=[Flag("revision", "int", 0, "Revision of the upstream package to upgrade to."),
               Flag("workspace", help="Workspace name of the upgrade package revision."),
               Flag("strategy", default="resource-merge",
                    help="Strategy to use for the upgrade. Options: resource-merge (default), fast-forward, "
                         "force-delete-replace, copy-merge."),
               Flag("discover", help="If set, search for available updates instead of performing an update.\n"
                                     "Setting this to 'upstream' will discover upstream updates of downstream "
                                     "packages.\nSetting this to 'downstream' will discover downstream package "
                                     "revisions of upstream packages that need to be updated.")],
        run=_run)
