"""Rendering errors as metav1.Status: the only place a StatusError becomes a response."""

from __future__ import annotations

from typing import Any

from porch_embedded.errors import StatusError

__all__ = ["status_body", "success_status"]


def status_body(error: StatusError) -> dict[str, Any]:
    """The Status object for ``error``, with details and field causes when known."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": error.message,
        "reason": error.reason,
        "code": error.code,
    }
    details = dict(error.details)
    if error.causes:
        details["causes"] = [cause.as_json() for cause in error.causes]
    if error.retry_after_s is not None:
        details["retryAfterSeconds"] = error.retry_after_s
    if details:
        body["details"] = details
    return body


def success_status(name: str, group: str, kind: str, uid: str) -> dict[str, Any]:
    """What a DELETE of a core kind returns once the object is gone."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": group, "kind": kind, "uid": uid},
    }
