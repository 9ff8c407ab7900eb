"""The one error tree of porch-embedded.

Base classes are named after the metav1 Status reasons that Kubernetes clients
understand; domain errors sit below them. Code raises where the fact is known,
with a message that says what to fix; only ``api/`` renders a Status from these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "BadRequest",
    "BranchNotFound",
    "Cause",
    "Conflict",
    "Expired",
    "Forbidden",
    "Gone",
    "Internal",
    "Invalid",
    "MergeConflict",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "PackageContentInvalid",
    "RefConflict",
    "RepositoryAuthFailed",
    "RepositoryNotFound",
    "RepositoryUnavailable",
    "RequestEntityTooLarge",
    "ServiceUnavailable",
    "StatusError",
    "StoreUnavailable",
    "Timeout",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
]


@dataclass(frozen=True)
class Cause:
    """One field-level reason of a Status, as metav1.StatusCause."""

    message: str
    field: str = ""
    reason: str = "FieldValueInvalid"

    def as_json(self) -> dict[str, str]:
        cause = {"reason": self.reason, "message": self.message}
        if self.field:
            cause["field"] = self.field
        return cause


class StatusError(Exception):
    """Base of every error a client may see; carries the HTTP code and metav1 reason."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        causes: Sequence[Cause] = (),
        details: dict[str, Any] | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.causes = tuple(causes)
        self.details = dict(details or {})
        self.retry_after_s = retry_after_s


class BadRequest(StatusError):
    """The request cannot be understood: malformed body, bad selector, bad query."""

    code, reason = 400, "BadRequest"


class Unauthorized(StatusError):
    """No credentials, or credentials that do not identify anyone."""

    code, reason = 401, "Unauthorized"


class Forbidden(StatusError):
    """The caller is known but may not do this, or a lifecycle rule forbids it."""

    code, reason = 403, "Forbidden"


class NotFound(StatusError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(StatusError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(StatusError):
    code, reason = 406, "NotAcceptable"


class Conflict(StatusError):
    """A stale resourceVersion or a concurrent change to the same object."""

    code, reason = 409, "Conflict"


class AlreadyExists(StatusError):
    code, reason = 409, "AlreadyExists"


class Gone(StatusError):
    code, reason = 410, "Gone"


class Expired(Gone):
    """A watch or continue token refers to history that has been compacted."""

    reason = "Expired"


class RequestEntityTooLarge(StatusError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(StatusError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(StatusError):
    """The object is well-formed but breaks a validation rule; causes name the fields."""

    code, reason = 422, "Invalid"


class TooManyRequests(StatusError):
    code, reason = 429, "TooManyRequests"


class Internal(StatusError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(StatusError):
    code, reason = 503, "ServiceUnavailable"


class StoreUnavailable(ServiceUnavailable):
    """The database failed us; the caller's request was fine and may be retried."""


class RepositoryUnavailable(ServiceUnavailable):
    """The git or OCI server failed us; the caller's request was fine and may be retried."""


class RepositoryAuthFailed(RepositoryUnavailable):
    """The git or OCI server refused the credentials of the Repository's Secret.

    Not a 401: the API caller's own credentials were fine, and kubectl treats a 401 as
    "you must log in". The message names the Secret to fix and never its contents.
    """


class RepositoryNotFound(NotFound):
    """The repository URL or its registered branch does not exist on the server."""


class BranchNotFound(RepositoryNotFound):
    """The repository exists but its registered (or asked-for) branch does not."""


class RefConflict(Conflict):
    """A git ref moved under a write (another writer, or an external push); re-read and retry."""


class MergeConflict(Invalid):
    """A three-way package merge that cannot be done as asked; the message names the file and what to fix."""


class PackageContentInvalid(Invalid):
    """A package in the repository holds content porch cannot serve (a file that is not UTF-8 text)."""


class Timeout(StatusError):
    code, reason = 504, "Timeout"
