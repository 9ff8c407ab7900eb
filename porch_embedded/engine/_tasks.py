"""What the first task of a new revision puts in its files: init, clone, and Kptfile metadata.

Pure functions over a package's file map. Kptfile edits go through the kpt layer's
comment-preserving YAML so a user's comments and field order survive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porch_embedded.kpt import (
    KPTFILE,
    PACKAGE_CONTEXT,
    dump_yaml,
    load_yaml,
    new_map,
    package_context,
    read_resources,
    write_resources,
)

__all__ = ["TaskFiles", "apply_package_metadata", "clone_files", "init_files", "with_render_condition"]

UPSTREAM_IDENTIFIER = "internal.kpt.dev/upstream-identifier"
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

    ``lock`` is the upstream's own git lock (repo, directory, ref, commit). Into a
    deployment repository the package context gets the new package's name.
    """
    result = dict(files)
    name = package.rsplit("/", 1)[-1]
    kptfile = _kptfile(files)
    if kptfile is not None:
        kptfile.setdefault("metadata", new_map())["name"] = name
        git = new_map({"repo": lock.get("repo", ""), "directory": lock.get("directory", ""),
                       "ref": lock.get("ref", "")})
        kptfile["upstream"] = new_map({"type": "git", "git": git})
        kptfile["upstreamLock"] = new_map({"type": "git", "git": new_map({
            "repo": lock.get("repo", ""), "directory": lock.get("directory", ""), "ref": lock.get("ref", ""),
            "commit": lock.get("commit", "")})})
        result[KPTFILE] = dump_yaml(kptfile, "wide")
    if deployment:
        result[PACKAGE_CONTEXT] = dump_yaml(package_context(name, package))
    return TaskFiles(_with_upstream_identifiers(result), dict(task))


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
