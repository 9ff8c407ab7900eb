"""Kubernetes-worded store errors, so clients recognise them and match on them.

The texts are apimachinery's (``errors.NewNotFound``, ``NewAlreadyExists``, ``NewConflict``
with the optimistic-lock message, precondition failures, ``NewResourceExpired``); the
``details`` carry what a metav1.StatusDetails would: name, group and kind (the plural).
"""

from __future__ import annotations

from typing import Any

from porch_embedded.errors import AlreadyExists, Conflict, Expired, MethodNotAllowed, NotFound

__all__ = [
    "already_exists",
    "expired",
    "method_not_supported",
    "not_found",
    "precondition_failed",
    "stale_resource_version",
]

OPTIMISTIC_LOCK_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def _details(resource: str, name: str) -> dict[str, Any]:
    plural, _, group = resource.partition(".")
    return {"name": name, "group": group, "kind": plural}


def not_found(resource: str, name: str) -> NotFound:
    return NotFound(f'{resource} "{name}" not found', details=_details(resource, name))


def already_exists(resource: str, name: str) -> AlreadyExists:
    return AlreadyExists(f'{resource} "{name}" already exists', details=_details(resource, name))


def stale_resource_version(resource: str, name: str) -> Conflict:
    return Conflict(
        f'Operation cannot be fulfilled on {resource} "{name}": {OPTIMISTIC_LOCK_MESSAGE}',
        details=_details(resource, name),
    )


def precondition_failed(resource: str, name: str, what: str, expected: str, actual: str) -> Conflict:
    """A delete precondition (``UID`` or ``ResourceVersion``) that the stored object fails."""
    return Conflict(
        f'Operation cannot be fulfilled on {resource} "{name}": Precondition failed: '
        f"{what} in precondition: {expected}, {what} in object meta: {actual}",
        details=_details(resource, name),
    )


def expired(since: int, floor: int) -> Expired:
    """``since`` is older than the retained watch history, whose oldest event is floor+1."""
    return Expired(f"too old resource version: {since} ({floor})")


def method_not_supported(resource: str, action: str) -> MethodNotAllowed:
    """``errors.NewMethodNotSupported``: ``action`` names what the caller tried and what to do instead."""
    return MethodNotAllowed(f'{action} is not supported on resources of kind "{resource}"',
                            details=_details(resource, ""))
