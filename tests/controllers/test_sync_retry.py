"""How soon a failed repository is synced again depends on the error's type, never its name or text."""

from __future__ import annotations

import trio

from porch_embedded.controllers import SyncSettings
from porch_embedded.errors import (
    Internal,
    RepositoryAuthFailed,
    RepositoryNotFound,
    RepositoryUnavailable,
    StatusError,
)


class MirrorMissing(RepositoryNotFound):
    """A more specific error a repository adapter may raise: retried as its parent is."""


class LookAlike(StatusError):
    """An unrelated error that happens to share a name with a known one."""


LookAlike.__name__ = LookAlike.__qualname__ = "RepositoryAuthFailed"


def test_each_error_type_has_its_retry_delay_and_subclasses_inherit_it() -> None:
    settings = SyncSettings()
    assert settings.retry_after(RepositoryAuthFailed("the credentials were refused")) == 600.0
    assert settings.retry_after(RepositoryNotFound("no such repository")) == 120.0
    assert settings.retry_after(MirrorMissing("no such mirror")) == 120.0
    assert settings.retry_after(RepositoryUnavailable("the git server broke off")) == 30.0
    assert settings.retry_after(trio.TooSlowError()) == 60.0
    assert settings.retry_after(Internal("a bug")) == 30.0


def test_an_error_is_not_classified_by_its_class_name() -> None:
    assert SyncSettings().retry_after(LookAlike("RepositoryAuthFailed: but not that one")) == 30.0


def test_the_delays_are_settings() -> None:
    settings = SyncSettings(retry_s={RepositoryUnavailable: 5.0, Exception: 1.0})
    assert settings.retry_after(RepositoryAuthFailed("refused")) == 5.0
    assert settings.retry_after(RepositoryNotFound("gone")) == 1.0
