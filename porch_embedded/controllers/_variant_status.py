"""A PackageVariant's status as Porch writes it: Stalled and Ready conditions, downstream targets.

Conditions follow metav1.Condition rules (meta.SetStatusCondition): setting one keeps its
lastTransitionTime unless its status flips, so writing the same outcome twice changes
nothing and a steady state writes no status.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from porch_embedded.kinds import Body
from porch_embedded.meta import now_rfc3339

__all__ = ["INVALID_MESSAGE", "Status", "downstream_targets", "with_condition"]

INVALID_MESSAGE = "invalid packagevariant object"


def with_condition(conditions: list[dict[str, Any]], kind: str, status: str, reason: str, message: str,
                   generation: int) -> list[dict[str, Any]]:
    """``conditions`` with the one of type ``kind`` set (added at the end when new).

    ``observedGeneration`` (a metav1.Condition field Porch leaves empty) says which spec
    the condition speaks of, so a client can wait for the outcome of its own change.
    """
    result = [dict(c) for c in conditions]
    for condition in result:
        if condition.get("type") == kind:
            if condition.get("status") != status:
                condition["lastTransitionTime"] = now_rfc3339()
            condition.update(status=status, reason=reason, message=message, observedGeneration=generation)
            return result
    result.append({"type": kind, "status": status, "reason": reason, "message": message,
                   "lastTransitionTime": now_rfc3339(), "observedGeneration": generation})
    return result


def downstream_targets(previous: list[dict[str, Any]], targets: Iterable[Body]) -> list[dict[str, Any]]:
    """One entry per target, keeping what ``previous`` knew of it (its renderStatus)."""
    known = {entry.get("name"): entry for entry in previous}
    return [known.get(t["metadata"]["name"]) or {"name": t["metadata"]["name"]} for t in targets]


@dataclass
class Status:
    """The status being worked out by one reconcile."""

    generation: int
    conditions: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, variant: Body) -> Status:
        status = copy.deepcopy(variant.get("status") or {})
        return cls(int(variant["metadata"].get("generation") or 1), list(status.get("conditions") or []),
                   list(status.get("downstreamTargets") or []))

    def set(self, kind: str, status: str, reason: str, message: str) -> None:
        self.conditions = with_condition(self.conditions, kind, status, reason, message, self.generation)

    def stalled(self, message: str) -> None:
        """The spec cannot be acted on (invalid, or its upstream is missing): Porch's ValidationError."""
        self.set("Stalled", "True", "ValidationError", message)
        self.set("Ready", "False", "Error", INVALID_MESSAGE)

    def render_status(self, name: str, render_status: Any) -> None:
        """Record the render outcome of a draft the controller just wrote."""
        if render_status is None:
            return
        for entry in self.targets:
            if entry.get("name") == name:
                entry["renderStatus"] = render_status
                return
        self.targets.append({"name": name, "renderStatus": render_status})

    def as_json(self) -> dict[str, Any]:
        status: dict[str, Any] = {"conditions": self.conditions}
        if self.targets:
            status["downstreamTargets"] = self.targets
        return status
