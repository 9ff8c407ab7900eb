"""Small facts about object bodies: identity, timestamps. Objects stay JSON dicts."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ObjectKey", "format_time", "now_rfc3339", "parse_time"]


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Where an object lives: its resource (``plural.group``), namespace ('' if cluster-wide), name."""

    resource: str
    namespace: str
    name: str

    @classmethod
    def of(cls, resource: str, body: Mapping[str, Any]) -> ObjectKey:
        metadata = body.get("metadata") or {}
        return cls(resource, metadata.get("namespace") or "", metadata.get("name") or "")

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def format_time(moment: _dt.datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    return format_time(_dt.datetime.now(_dt.UTC))


def parse_time(text: str) -> _dt.datetime:
    """Parse an RFC 3339 timestamp (``Z`` or offset, optional fraction)."""
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
