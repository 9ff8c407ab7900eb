"""Porch's git layout as pure functions: ref names, commit messages and ``kpt:`` trailers.

Keeping these exact is what lets a repository move between Porch and porch-embedded, and
lets kpt read it (``kpt pkg get repo.git/pkg@pkg/v1``). Full path = directory + package.

- draft ``refs/heads/drafts/<fullpath>/<ws>``, proposal ``refs/heads/proposed/<fullpath>/<ws>``
- published ``refs/tags/<fullpath>/v<N>``; deletion proposal
  ``refs/heads/deletionProposed/<fullpath>/<tag suffix or branch>``
- a commit message is a summary, a blank line, and ``kpt:`` + compact JSON
  ``{"package", "workspaceName", "revision", "task"}`` (empty fields left out).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DELETION_PROPOSED",
    "DRAFTS",
    "HEADS",
    "PROPOSED",
    "TAGS",
    "Annotation",
    "annotate",
    "approval_message",
    "branch_ref",
    "deletion_proposed_ref",
    "draft_ref",
    "full_path",
    "in_directory",
    "message_for_task",
    "parse_annotations",
    "parse_draft_ref",
    "parse_tag_ref",
    "proposed_ref",
    "ref_of_short",
    "relative_package",
    "revision_of_tag",
    "short_ref",
    "tag_ref",
]

HEADS = "refs/heads/"
TAGS = "refs/tags/"
DRAFTS = HEADS + "drafts/"
PROPOSED = HEADS + "proposed/"
DELETION_PROPOSED = HEADS + "deletionProposed/"

INITIAL_COMMIT_MESSAGE = "Initial commit: Creating main branch"
INITIAL_README = "Created by porch"
PORCH_NAME = "Package Orchestration Service"
PORCH_EMAIL = "porch@kpt.dev"

FIRST_TASK_TYPES = frozenset({"init", "clone", "edit", "upgrade"})

_MESSAGES = {
    "init": "Creating new empty revision",
    "clone": "Creating new revision by cloning",
    "edit": "Creating new revision by copying previous revision",
    "upgrade": "Upgrading revision",
    "render": "Rendering package",
}
_VERSION = re.compile(r"v(\d+)")


def full_path(directory: str, package: str) -> str:
    """The package's path in the repository: the registered directory joined with the package."""
    return "/".join(part for part in (directory.strip("/"), package.strip("/")) if part)


def in_directory(path: str, directory: str) -> bool:
    """True when ``path`` lies under the registered ``directory`` (the root holds everything)."""
    directory = directory.strip("/")
    return not directory or path == directory or path.startswith(directory + "/")


def relative_package(path: str, directory: str) -> str:
    """The package name (path relative to the directory) of a full path under it."""
    directory = directory.strip("/")
    return path[len(directory) :].strip("/") if directory else path


def branch_ref(branch: str) -> str:
    return HEADS + branch


def short_ref(ref: str) -> str:
    """The ref without ``refs/heads/`` or ``refs/tags/``: what Porch shows in ``selfLock.git.ref``."""
    for prefix in (HEADS, TAGS):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def ref_of_short(short: str, branch: str) -> str:
    """The full ref a ``selfLock.git.ref`` names: Porch's draft, proposal and deletion branches
    and the registered branch are heads, anything else a tag."""
    heads = short.startswith(tuple(p.removeprefix(HEADS) for p in (DRAFTS, PROPOSED, DELETION_PROPOSED)))
    return (HEADS if heads or short == branch else TAGS) + short


def draft_ref(path: str, workspace: str) -> str:
    return f"{DRAFTS}{path}/{workspace}"


def proposed_ref(path: str, workspace: str) -> str:
    return f"{PROPOSED}{path}/{workspace}"


def tag_ref(path: str, number: int) -> str:
    return f"{TAGS}{path}/v{number}"


def deletion_proposed_ref(path: str, version: str) -> str:
    """Porch's deletion proposal: named after the tag suffix (``v3``) or, for the placeholder, the branch."""
    return f"{DELETION_PROPOSED}{path}/{version}"


def parse_draft_ref(ref: str) -> tuple[str, str, str] | None:
    """``refs/heads/drafts/a/b/ws`` -> ("Draft", "a/b", "ws"); None for any other ref."""
    for prefix, lifecycle in ((DRAFTS, "Draft"), (PROPOSED, "Proposed")):
        if ref.startswith(prefix):
            path, slash, workspace = ref[len(prefix) :].rpartition("/")
            if slash and path and workspace:
                return lifecycle, path, workspace
    return None


def parse_tag_ref(ref: str) -> tuple[str, str] | None:
    """``refs/tags/a/b/v1`` -> ("a/b", "v1"); None for tags with no ``/`` (not a package's)."""
    if not ref.startswith(TAGS) or ref.endswith("^{}"):
        return None
    path, slash, version = ref[len(TAGS) :].rpartition("/")
    if not slash or not path or not version:
        return None
    return path, version


def revision_of_tag(version: str) -> int:
    """``v<int>`` -> int; any other tag suffix -> -1 (published, but not numbered)."""
    match = _VERSION.fullmatch(version)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else -1


@dataclass(frozen=True)
class Annotation:
    """One ``kpt:`` trailer of a commit."""

    package: str = ""
    workspace: str = ""
    revision: str = ""
    task: Mapping[str, Any] | None = None


def _go_json(value: Mapping[str, Any]) -> str:
    """Compact JSON as Go's encoding/json writes it (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def annotate(message: str, annotation: Annotation) -> str:
    """``message`` + blank line + ``kpt:{json}`` + newline, with empty fields left out as Porch does."""
    body: dict[str, Any] = {}
    if annotation.package:
        body["package"] = annotation.package
    if annotation.workspace:
        body["workspaceName"] = annotation.workspace
    if annotation.revision:
        body["revision"] = annotation.revision
    if annotation.task:
        body["task"] = dict(annotation.task)
    return f"{message}\n\nkpt:{_go_json(body)}\n"


def parse_annotations(message: str) -> list[Annotation]:
    """Every ``kpt:`` line of a commit message; lines that are not valid JSON objects are skipped."""
    found = []
    for line in message.splitlines():
        line = line.strip()
        if not line.startswith("kpt:"):
            continue
        try:
            body = json.loads(line[4:])
        except ValueError:
            continue
        if not isinstance(body, dict):
            continue
        task = body.get("task")
        found.append(
            Annotation(
                package=str(body.get("package") or ""),
                workspace=str(body.get("workspaceName") or ""),
                revision=str(body.get("revision") or ""),
                task=task if isinstance(task, dict) else None,
            )
        )
    return found


def message_for_task(task: Mapping[str, Any] | None) -> str:
    """Porch's commit summary for a draft commit made by ``task`` (none: an intermediate commit)."""
    if not task:
        return "Intermediate commit"
    return _MESSAGES.get(str(task.get("type", "")), "Intermediate commit")


def approval_message(path: str, number: int) -> str:
    return f"Approving package revision {path}/{number}"
