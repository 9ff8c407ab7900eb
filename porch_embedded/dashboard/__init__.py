"""The web dashboard: a quart-trio app under ``/ui`` beside the Kubernetes API.

It reads the store as the API does, writes through the engine (same lifecycle rules,
same messages) and asks the API's own Authenticator and Authorizer who the user is and
what they may do, so a user sees and may do in the browser exactly what kubectl lets them.

Importing this package costs nothing: ``Dashboard``, ``DashboardServices`` and
``DashboardSettings`` (quart, flask and jinja2 behind them) load on first access, and the
server mounts a ``LazyDashboard`` that builds the app on the first ``/ui`` request.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from porch_embedded.dashboard._mount import PREFIX, LazyDashboard, mount

if TYPE_CHECKING:
    from porch_embedded.dashboard._app import Dashboard, DashboardSettings
    from porch_embedded.dashboard._services import Services as DashboardServices

__all__ = ["PREFIX", "Dashboard", "DashboardServices", "DashboardSettings", "LazyDashboard", "mount"]

_ON_FIRST_ACCESS = {
    "Dashboard": ("porch_embedded.dashboard._app", "Dashboard"),
    "DashboardSettings": ("porch_embedded.dashboard._app", "DashboardSettings"),
    "DashboardServices": ("porch_embedded.dashboard._services", "Services"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _ON_FIRST_ACCESS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value
