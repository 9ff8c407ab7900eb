"""Who is making a request, as authentication established it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["UserInfo"]


@dataclass(frozen=True)
class UserInfo:
    """The authenticated caller, as Kubernetes' user.Info: name, uid, groups, extra."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_anonymous(self) -> bool:
        return self.name == "system:anonymous"
