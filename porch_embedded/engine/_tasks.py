"""What the first task of a new revision puts in its files: the task table, and the file edits.

``TaskTable`` maps ``spec.tasks[0].type`` (init, clone, edit, upgrade) to the
handler that checks the task's rules and makes the new revision's files, reading the
store and upstream repositories as needed. Below it, pure functions over a package's
file map; Kptfile edits go through the kpt layer's comment-preserving YAML so a user's
comments and field order survive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from porch_embedded.engine._repositories import Repositories
from porch_embedded.engine._upgrade import upgrade_files
from porch_embedded.errors import BadRequest, Conflict, Invalid
from porch_embedded.kinds import PACKAGE, PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES, Body
from porch_embedded.store import FieldMatch, ListQuery, Store

from porch_embedded.kpt import (
    KPTFILE,
    PACKAGE_CONTEXT,
    UPSTREAM_IDENTIFIER,
    dump_yaml,
    load_yaml,
    new_map,
    package_context,
    read_resources,
    write_resources,
)
from porch_embedded.vcs import kptfile_origin

__all__ = [
    "NewRevision",
    "TaskFiles",
    "TaskTable",
    "apply_package_metadata",
    "clone_files",
    "init_files",
    "stored_files",
    "with_render_condition",
]

LOCAL_CONFIG = "config.kubernetes.io/local-config"

_README = """\
# {name}

## Description
{description}

## Usage

### Fetch the package
`kpt pkg get REPO_URI[.git]/PKG_PATH[@VERSION] {name}`
Details: https://kpt.dev/reference/cli/pkg/get/

### View package content
`kpt pkg tree {name}`
Details: https://kpt.dev/reference/cli/pkg/tree/

### Apply the package
```
kpt live init {name}
kpt live apply {name} --reconcile-timeout=2m --output=table
```
Details: https://kpt.dev/reference/cli/live/
"""


@dataclass(frozen=True)
class TaskFiles:
    """The files a task produced and the task as it is recorded in the commit trailer."""

    files: dict[str, str]
    task: dict[str, Any]


@dataclass(frozen=True)
class NewRevision:
    """What a task is asked to start: a revision of ``package`` in ``repository``."""

    repository: Body
    package: str
    siblings: list[Body]
    """The package's revisions already stored (none for a new package)."""
    task: Body


TaskHandler = Callable[[NewRevision], Awaitable[TaskFiles]]


async def stored_files(store: Store, revision: Body) -> dict[str, str]:
    """The files of a stored PackageRevision (its PackageRevisionResources)."""
    metadata = revision["metadata"]
    resources = await store.get(PACKAGE_REVISION_RESOURCES.resource, metadata["namespace"], metadata["name"])
    return dict(resources["spec"].get("resources") or {})


class TaskTable:
    """The tasks a revision can be created with, by type; each checks its own rules (Porch's messages)."""

    def __init__(self, store: Store, repositories: Repositories) -> None:
        self._store = store
        self._repositories = repositories
        self._handlers: dict[str, TaskHandler] = {
            "init": self._init, "clone": self._clone, "edit": self._edit, "upgrade": self._upgrade}

    async def files_for(self, new: NewRevision) -> TaskFiles:
        """The new revision's files and recorded task; BadRequest for a type not in the table."""
        kind = new.task.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            *others, last = self._handlers
            raise BadRequest(f"unsupported task type {kind!r}: use {', '.join(others)} or {last}")
        return await handler(new)

    async def _init(self, new: NewRevision) -> TaskFiles:
        if new.siblings:
            raise Conflict(f'package "{new.package}" already exists in repository '
                           f'"{new.repository["metadata"]["name"]}"')
        await self._refuse_nesting(new.repository, new.package)
        return init_files(new.package, new.task)

    async def _edit(self, new: NewRevision) -> TaskFiles:
        repository_name = new.repository["metadata"]["name"]
        source_name = ((new.task.get("edit") or {}).get("sourceRef") or {}).get("name", "")
        source = await self._source_revision(new.repository["metadata"]["namespace"], source_name)
        if source["spec"]["repository"] != repository_name or source["spec"]["packageName"] != new.package:
            raise Invalid(f"source revision must be from same package {repository_name}/{new.package}")
        if source["spec"]["lifecycle"] != "Published":
            raise Invalid("source revision must be published")
        if int(source["spec"].get("revision", 0)) < 1:
            raise Invalid(f"source revision may not be the placeholder package revision "
                          f"{repository_name}/{source_name}")
        return TaskFiles(await stored_files(self._store, source), new.task)

    async def _clone(self, new: NewRevision) -> TaskFiles:
        if new.siblings:
            raise Conflict(f"`clone` cannot create a new revision for package \"{new.package}\" that already "
                           f"exists in repo \"{new.repository['metadata']['name']}\"; make subsequent revisions "
                           "using `copy`")
        await self._refuse_nesting(new.repository, new.package)
        repository, package, task = new.repository, new.package, new.task
        upstream_ref = (task.get("clone") or {}).get("upstreamRef") or {}
        registered = (upstream_ref.get("upstreamRef") or {}).get("name", "")
        deployment = bool((repository.get("spec") or {}).get("deployment"))
        if not registered and ((upstream_ref.get("git") or {}).get("repo")
                               or upstream_ref.get("type") not in (None, "", "git")):
            upstream = await self._repositories.read_upstream(repository["metadata"]["namespace"], upstream_ref)
            return clone_files(upstream.files, package, upstream.lock, task, deployment=deployment)
        if not registered:
            raise BadRequest("a clone task needs an upstream: spec.tasks[0].clone.upstreamRef.upstreamRef.name "
                             "(a registered package revision) or .git (repo, ref, directory)")
        source = await self._source_revision(repository["metadata"]["namespace"], registered)
        if int(source["spec"].get("revision", 0)) < 0:
            raise Invalid(f"upstream revision may not be the placeholder package revision "
                          f"{source['spec']['repository']}/{registered}")
        lock = (source.get("status") or {}).get("selfLock") or {}
        return clone_files(await stored_files(self._store, source), package, lock, task, deployment=deployment)

    async def _upgrade(self, new: NewRevision) -> TaskFiles:
        upgraded = await upgrade_files(self._store, new.repository, new.package, new.task)
        return clone_files(upgraded.files, new.package, upgraded.lock, new.task, deployment=False)

    async def _refuse_nesting(self, repository: Body, package: str) -> None:
        page = await self._store.list(ListQuery(PACKAGE.resource, repository["metadata"]["namespace"], fields=(
            FieldMatch(("spec", "repository"), "=", repository["metadata"]["name"]),)))
        for item in page.items:
            other = item["spec"]["packageName"]
            if package.startswith(other + "/") or other.startswith(package + "/"):
                raise Conflict(f'package path "{package}" conflicts with existing package "{other}": '
                               "packages cannot be nested")

    async def _source_revision(self, namespace: str, name: str) -> Body:
        if not name:
            raise BadRequest("the task must name its source package revision")
        return await self._store.get(PACKAGE_REVISION.resource, namespace, name)


def init_files(package: str, task: Mapping[str, Any]) -> TaskFiles:
    """``kpt pkg init`` in memory: a Kptfile with info, a README, and package-context.yaml."""
    init = dict(task.get("init") or {})
    name = package.rsplit("/", 1)[-1]
    prefix = f"{init['subpackage'].strip('/')}/" if init.get("subpackage") else ""
    kptfile = new_map({
        "apiVersion": "kpt.dev/v1",
        "kind": "Kptfile",
        "metadata": new_map({"name": prefix.rstrip("/").rsplit("/", 1)[-1] if prefix else name,
                             "annotations": new_map({LOCAL_CONFIG: "true"})}),
    })
    info = new_map()
    if init.get("site"):
        info["site"] = init["site"]
    if init.get("description"):
        info["description"] = init["description"]
    if init.get("keywords"):
        info["keywords"] = list(init["keywords"])
    if info:
        kptfile["info"] = info
    files = {
        f"{prefix}{KPTFILE}": dump_yaml(kptfile, "wide"),
        f"{prefix}README.md": _README.format(name=name, description=init.get("description", "")),
        f"{prefix}{PACKAGE_CONTEXT}": dump_yaml(package_context("example")),
    }
    return TaskFiles(files, {"type": "init", "init": init} if init else {"type": "init"})


def _kptfile(files: Mapping[str, str]) -> Any:
    text = files.get(KPTFILE)
    return load_yaml(text) if text else None


def apply_package_metadata(files: Mapping[str, str], spec: Mapping[str, Any], *, replace: bool) -> dict[str, str]:
    """Mirror ``spec.packageMetadata`` and ``spec.readinessGates`` into the Kptfile, as Porch does.

    A new revision merges the requested labels and annotations into what its task wrote
    (a clone keeps its upstream's); an update replaces them, so a removed key goes. Only
    the maps the spec gives are touched, and the local-config annotation always stays.
    """
    result = dict(files)
    kptfile = _kptfile(files)
    if kptfile is None:
        return result
    changed = False
    metadata = spec.get("packageMetadata")
    if isinstance(metadata, Mapping):
        target = kptfile.setdefault("metadata", new_map())
        for key in ("labels", "annotations"):
            if metadata.get(key) is None:
                continue
            current = dict(target.get(key) or {})
            wanted = {**({} if replace else current), **dict(metadata[key])}
            if key == "annotations" and LOCAL_CONFIG in current:
                wanted.setdefault(LOCAL_CONFIG, current[LOCAL_CONFIG])
            if current != wanted:
                if wanted:
                    target[key] = new_map(wanted)
                else:
                    target.pop(key, None)
                changed = True
    gates = spec.get("readinessGates")
    if isinstance(gates, list):
        wanted_gates = [{"conditionType": g.get("conditionType", "")} for g in gates if isinstance(g, Mapping)]
        info = kptfile.get("info")
        current = [dict(g) for g in (info or {}).get("readinessGates") or []]
        if current != wanted_gates:
            info = kptfile.setdefault("info", new_map())
            if wanted_gates:
                info["readinessGates"] = [new_map(g) for g in wanted_gates]
            else:
                info.pop("readinessGates", None)
            changed = True
    if changed:
        result[KPTFILE] = dump_yaml(kptfile, "wide")
    return result


def clone_files(files: Mapping[str, str], package: str, lock: Mapping[str, Any], task: Mapping[str, Any], *,
                deployment: bool) -> TaskFiles:
    """A clone of an upstream revision: renamed, with upstream and upstreamLock recorded.

    ``lock`` is the upstream's own lock body (its ``selfLock``, or what the storage read
    for an unregistered upstream); the storage says what a Kptfile records for it. Into
    a deployment repository the package context gets the new package's name.
    """
    result = dict(files)
    name = package.rsplit("/", 1)[-1]
    kptfile = _kptfile(files)
    if kptfile is not None:
        kptfile.setdefault("metadata", new_map())["name"] = name
        upstream, upstream_lock = kptfile_origin(lock)
        if upstream is None:
            kptfile.pop("upstream", None)
        else:
            kptfile["upstream"] = _new_maps(upstream)
        kptfile["upstreamLock"] = _new_maps(upstream_lock)
        result[KPTFILE] = dump_yaml(kptfile, "wide")
    if deployment:
        result[PACKAGE_CONTEXT] = dump_yaml(package_context(name, package))
    return TaskFiles(_with_upstream_identifiers(result), dict(task))


def _new_maps(value: Mapping[str, Any]) -> Any:
    """``value`` as nested round-trip mappings, so it dumps in block style as kpt writes it."""
    return new_map({k: _new_maps(v) if isinstance(v, Mapping) else v for k, v in value.items()})


def _with_upstream_identifiers(files: Mapping[str, str]) -> dict[str, str]:
    """Mark every resource with where it came from upstream (``group|kind|namespace|name``).

    ``kpt pkg get`` and Porch's clone write this annotation into the files so that a
    later three-way merge can pair each resource with its upstream original; an unset
    namespace is written ``default``, as the kpt CLI writes it.
    """
    resources, read = read_resources(files)
    for resource in resources:
        obj = resource.obj
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict) or not metadata.get("name"):
            continue
        api_version = str(obj.get("apiVersion") or "")
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        identifier = f"{group}|{obj.get('kind', '')}|{metadata.get('namespace') or 'default'}|{metadata['name']}"
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = metadata["annotations"] = new_map()
        annotations[UPSTREAM_IDENTIFIER] = identifier
    return write_resources(files, resources, read)


def with_render_condition(files: Mapping[str, str], error: str | None) -> dict[str, str]:
    """Record the render outcome in the Kptfile's ``status.conditions`` (type Rendered), as kpt does.

    The engine records successes only: files saved despite a failed render (the
    push-on-render-failure annotation) are kept exactly as the user pushed them.
    """
    result = dict(files)
    kptfile = _kptfile(files)
    if kptfile is None:
        return result
    condition = new_map({"type": "Rendered", "status": "True" if error is None else "False",
                         "reason": "RenderSuccess" if error is None else "RenderFailed"})
    if error is not None:
        condition["message"] = error
    status = kptfile.get("status")
    if not isinstance(status, dict):
        status = kptfile["status"] = new_map()
    others = [c for c in status.get("conditions") or [] if not (isinstance(c, dict) and c.get("type") == "Rendered")]
    status["conditions"] = [*others, condition]
    result[KPTFILE] = dump_yaml(kptfile, "wide")
    return result
