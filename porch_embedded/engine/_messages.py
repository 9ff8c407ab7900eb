"""Porch's own messages, each written once, for the errors the package engine raises.

Kubernetes' wordings (NotFound, Conflict, Forbidden, Invalid, ...) are in the store's
message module; these are the reasons Porch puts inside them, or the plain texts Porch
returns, so that scripts matching Porch's messages match ours.
"""

from __future__ import annotations

from porch_embedded.errors import BadRequest, Conflict, Invalid
from porch_embedded.kinds import PACKAGE_REVISION, PACKAGE_REVISION_RESOURCES
from porch_embedded.store import conflict

__all__ = [
    "creation_in_progress",
    "in_progress",
    "render_not_pushed",
    "render_pushed_anyway",
    "resource_version_required",
    "resources_in_progress",
]


def render_not_pushed(error: str) -> Invalid:
    """The kpt pipeline failed and nothing was saved."""
    return Invalid("error rendering package in kpt function pipeline. Package NOT pushed to remote. Fix locally "
                   f"(until 'kpt fn render' succeeds) and retry. Details: {error}")


def render_pushed_anyway(error: str) -> Invalid:
    """The kpt pipeline failed and the files were saved as sent (push-on-render-failure)."""
    return Invalid("error rendering package in kpt function pipeline. Package pushed to remote despite render "
                   f"failure. Details: {error}")


def in_progress(namespace: str, name: str) -> Conflict:
    """Another write of this PackageRevision is running in this process."""
    return conflict(PACKAGE_REVISION.resource, name,
                    f'another request is already in progress on package revision "{namespace}/{name}"')


def resources_in_progress(namespace: str, name: str) -> Conflict:
    """Another write of this PackageRevisionResources is running in this process."""
    return conflict(PACKAGE_REVISION_RESOURCES.resource, name,
                    f'another request is already in progress on package revision resources "{namespace}/{name}"')


def creation_in_progress(namespace: str, repository: str, package: str, workspace: str) -> Conflict:
    """Another create of the same revision is running; Porch words this one without an object name."""
    return Conflict(f'another request is already in progress to create package revision with details '
                    f'namespace="{namespace}", repository="{repository}", package="{package}",'
                    f'workspace="{workspace}"')


def resource_version_required() -> BadRequest:
    """An update of a package object must say which resourceVersion it read (no blind writes)."""
    return BadRequest("resourceVersion must be specified for an update")
