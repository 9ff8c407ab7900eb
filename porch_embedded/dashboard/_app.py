"""The dashboard's quart-trio application and its mount beside the API.

``Dashboard`` builds the app once per server: routes are blueprints under ``/ui`` (so the
app sees the whole path, and links and the cookie path agree), the session and CSRF
checks run before every route, and any StatusError a route raises (the engine's own,
or a refusal here) becomes a page, or an htmx fragment in the page's message area, with
the error's HTTP code and message. ``mount`` is the one ASGI dispatch: ``/ui`` to the
dashboard, everything else to the API.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from quart import Response, g, render_template, request
from quart_trio import QuartTrio

from porch_embedded.dashboard import _diffs, _edits, _packages, _queue, _repositories, _revisions, _session, _variants
from porch_embedded.dashboard._flash import take_notice
from porch_embedded.dashboard._index import RevisionIndex
from porch_embedded.dashboard._live import EVENTS_PATH, LiveSettings, serve_events
from porch_embedded.dashboard._mount import PREFIX
from porch_embedded.dashboard._services import EXTENSION, INDEX_EXTENSION, Services, may
from porch_embedded.errors import Internal, ServiceUnavailable, StatusError

__all__ = ["Dashboard", "DashboardSettings"]

log = logging.getLogger("porch_embedded.dashboard")

INDEX_WAIT_S = 30.0
"""How long a page waits for the revision index right after the server started."""
_HERE = Path(__file__).parent

@dataclass(frozen=True)
class DashboardSettings:
    secret_key: bytes
    """Signs the session cookie; the composition root keeps it in the data directory."""
    session_lifetime_s: float = 8 * 3600.0


class Dashboard:
    """The dashboard app, an ASGI callable; ``run`` keeps its index current, ``drain`` ends its
    live-update streams."""

    def __init__(self, services: Services, settings: DashboardSettings) -> None:
        app = QuartTrio(__name__, static_folder=str(_HERE / "static"), static_url_path=f"{PREFIX}/static",
                        template_folder=str(_HERE / "templates"))
        app.config.update(
            SECRET_KEY=settings.secret_key,
            SESSION_COOKIE_NAME="porch_ui_session",
            SESSION_COOKIE_PATH=PREFIX,
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SECURE=True,
            SESSION_COOKIE_SAMESITE="Strict",
            PERMANENT_SESSION_LIFETIME=_dt.timedelta(seconds=settings.session_lifetime_s),
            MAX_CONTENT_LENGTH=1024 * 1024,
            TEMPLATES_AUTO_RELOAD=False,
        )
        app.jinja_env.autoescape = True
        self.index = RevisionIndex(services.store)
        app.extensions[EXTENSION] = services
        app.extensions[INDEX_EXTENSION] = self.index
        app.jinja_env.globals.update(csrf_token=_session.csrf_token, CSRF_FIELD=_session.CSRF_FIELD,
                                     CSRF_HEADER=_session.CSRF_HEADER, may=may, take_notice=take_notice,
                                     events_path=EVENTS_PATH)
        for blueprint in (_session.blueprint, _repositories.blueprint, _packages.blueprint, _revisions.blueprint,
                          _queue.blueprint, _variants.blueprint, _diffs.blueprint, _edits.blueprint):
            app.register_blueprint(blueprint, url_prefix=PREFIX)
        app.before_request(self._before)
        app.after_request(_security_headers)
        app.register_error_handler(StatusError, self._status_error)
        app.register_error_handler(Exception, self._unexpected)
        self.app = app
        self.services = services
        self.settings = settings
        self.live = LiveSettings()
        self.stopping = trio.Event()
        """Set on drain: every live-update stream ends, so in-flight requests can finish."""
        self._in_flight = 0
        self._quiet = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the revision index current, from the first signed-in page on, until cancelled.

        Reports started at once: the API must not wait for the dashboard's index (a store
        of 10,000 revisions takes seconds to list), so pages wait for it instead
        (``INDEX_WAIT_S``), and a server that just started answers its API at once. The
        index is built only when a signed-in page first asks for it, so a server whose
        dashboard nobody opens never lists its revisions for it.
        """
        await self.index.run(task_status=task_status)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self._in_flight += 1
        try:
            if scope["type"] == "http" and scope.get("path") == EVENTS_PATH:
                serializer = self.app.session_interface.get_signing_serializer(self.app)  # type: ignore[attr-defined]
                await serve_events(scope, receive, send, services=self.services, serializer=serializer,
                                   cookie_name=self.app.config["SESSION_COOKIE_NAME"],
                                   max_age_s=int(self.settings.session_lifetime_s), stopping=self.stopping,
                                   settings=self.live)
            else:
                await self.app(scope, receive, send)  # type: ignore[arg-type]
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._quiet.set()

    async def drain(self) -> None:
        """End every live-update stream (with its final chunk) and wait for in-flight requests.

        The caller bounds the wait with its grace period, as for the API's drain.
        """
        self.stopping.set()
        while self._in_flight:
            self._quiet = trio.Event()
            await self._quiet.wait()

    async def _before(self) -> Response | None:
        redirect = _session.load_user()
        if redirect is not None:
            return redirect
        await _session.check_csrf()
        if request.endpoint != "static" and g.get("user") is not None:  # the sign-in page needs no index
            self.index.want()
            with trio.move_on_after(INDEX_WAIT_S):
                await self.index.ready.wait()
            if not self.index.ready.is_set():
                raise ServiceUnavailable("the dashboard is still reading the store after the server started; "
                                         "try again in a few seconds")
        return None

    async def _status_error(self, error: StatusError) -> Any:
        return await _error_response(error.code, error.message)

    async def _unexpected(self, error: Exception) -> Any:
        code = getattr(error, "code", None)
        if isinstance(code, int) and 400 <= code < 500:  # werkzeug's NotFound, MethodNotAllowed, ...
            return await _error_response(code, getattr(error, "description", str(error)))
        log.exception("unexpected error serving %s %s", request.method, request.path)
        failure = Internal("an internal error occurred; the server log has the details")
        return await _error_response(failure.code, failure.message)


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Scripts only from the dashboard's own files (no inline script), and never inside another site's
frame: an approve button must not be clickable through someone else's page. htmx adds one inline
style element for its request indicators, hence 'unsafe-inline' for styles only."""


async def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _error_response(code: int, message: str) -> Response:
    """The error as the message area's content for htmx, else as a page of its own."""
    if request.headers.get("HX-Request"):
        body = await render_template("_error.html", code=code, message=message)
        response = Response(body, status=code)
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return Response(await render_template("error.html", code=code, message=message), status=code)
