"""The ``/ui`` prefix in the server's one ASGI dispatch, and the dashboard built on first use.

Free of quart, flask and jinja2 on purpose: the server imports this at start and the
dashboard's app (a few hundred milliseconds of imports, and an index that lists every
revision) only when a browser first asks for a page, so a restart answers the API sooner.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from porch_embedded.dashboard._app import Dashboard

__all__ = ["PREFIX", "LazyDashboard", "mount"]

PREFIX = "/ui"

Asgi = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class LazyDashboard:
    """An ASGI callable that builds the dashboard on its first request.

    ``build`` makes the dashboard once its modules are imported (the import runs in a worker
    thread, so API requests keep being served meanwhile); ``run`` is the parent of the
    dashboard's own task (its revision index), started when the dashboard is built.
    """

    def __init__(self, build: Callable[[], Dashboard]) -> None:
        self._build = build
        self._dashboard: Dashboard | None = None
        self._lock = trio.Lock()
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the nursery the built dashboard's index runs in, until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def dashboard(self) -> Dashboard:
        """The dashboard, built (and its index started) by the first caller."""
        async with self._lock:
            if self._dashboard is None:
                if self._nursery is None:
                    raise RuntimeError("LazyDashboard.run must be started before requests are served")
                await trio.to_thread.run_sync(importlib.import_module, "porch_embedded.dashboard._app")
                dashboard = self._build()
                await self._nursery.start(dashboard.run)
                self._dashboard = dashboard
            return self._dashboard

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await (await self.dashboard())(scope, receive, send)

    async def drain(self) -> None:
        """Drain the dashboard if it was ever built; else there is nothing in flight."""
        if self._dashboard is not None:
            await self._dashboard.drain()


def mount(api: Asgi, dashboard: Asgi) -> Asgi:
    """One ASGI app: ``/ui`` and below to the dashboard, everything else (and lifespan) to the API."""

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            if path == PREFIX:
                scope = {**scope, "path": PREFIX + "/", "raw_path": (PREFIX + "/").encode()}
            await dashboard(scope, receive, send)
        else:
            await api(scope, receive, send)

    return dispatch
