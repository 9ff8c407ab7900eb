"""Kubernetes-worded errors, so clients recognise them and match on them.

The one place for apimachinery's wordings (``errors.NewNotFound``, ``NewAlreadyExists``,
``NewConflict`` with the optimistic-lock message or another reason, precondition
failures, ``NewForbidden``, ``NewInvalid``, ``NewMethodNotSupported``,
``NewResourceExpired``): the store raises them, and the engine raises them with Porch's
reasons. The ``details`` carry what a metav1.StatusDetails would: name, group and kind
(the plural, or the Kind for Invalid, as apimachinery fills them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from porch_embedded.errors import (
    AlreadyExists,
    Cause,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    MethodNotAllowed,
    NotFound,
)

__all__ = [
    "already_exists",
    "conflict",
    "expired",
    "forbidden",
    "invalid",
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


def conflict(resource: str, name: str, reason: str) -> Conflict:
    """``errors.NewConflict``: ``reason`` says why the write cannot be done now."""
    return Conflict(f'Operation cannot be fulfilled on {resource} "{name}": {reason}', details=_details(resource, name))


def stale_resource_version(resource: str, name: str) -> Conflict:
    return conflict(resource, name, OPTIMISTIC_LOCK_MESSAGE)


def precondition_failed(resource: str, name: str, what: str, expected: str, actual: str) -> Conflict:
    """A precondition (``UID`` or ``ResourceVersion``) that the stored object fails."""
    return conflict(resource, name, f"Precondition failed: {what} in precondition: {expected}, {what} in object meta: "
                                     f"{actual}")


def forbidden(resource: str, name: str, reason: str) -> Forbidden:
    """``errors.NewForbidden`` on one object: ``reason`` says what rule refused it."""
    return Forbidden(f'{resource} "{name}" is forbidden: {reason}', details=_details(resource, name))


def invalid(kind: str, group: str, name: str, causes: Sequence[Cause]) -> Invalid:
    """``errors.NewInvalid``: ``Kind.group "name" is invalid: <field>: <message>, ...``."""
    qualified = f"{kind}.{group}" if group else kind
    listed = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    return Invalid(f'{qualified} "{name}" is invalid: ' + (listed[0] if len(listed) == 1 else
                                                           "[" + ", ".join(listed) + "]"),
                   causes=causes, details={"name": name, "group": group, "kind": kind})


def expired(since: int, floor: int) -> Expired:
    """``since`` is older than the retained watch history, whose oldest event is floor+1."""
    return Expired(f"too old resource version: {since} ({floor})")


def method_not_supported(resource: str, action: str) -> MethodNotAllowed:
    """``errors.NewMethodNotSupported``: ``action`` names what the caller tried and what to do instead."""
    return MethodNotAllowed(f'{action} is not supported on resources of kind "{resource}"',
                            details=_details(resource, ""))
