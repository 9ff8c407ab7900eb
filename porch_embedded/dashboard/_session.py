"""Sign-in, sign-out, the session cookie and CSRF protection.

The session is Quart's signed cookie (itsdangerous, key from the data directory), scoped
to ``/ui``, HttpOnly, Secure and SameSite=Strict, and expiring after ``session_lifetime``.
It holds who signed in (name, uid, groups, as the API's Authenticator said) and the CSRF
token, never the bearer token itself. Every write (any method but GET/HEAD) must carry the
session's CSRF token as the ``csrf_token`` form field or the ``X-CSRF-Token`` header
(htmx sends it from the page's ``hx-headers``); without it the answer is 403, whoever asks.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from quart import Blueprint, Response, g, redirect, render_template, request, session, url_for

from porch_embedded.dashboard._services import services
from porch_embedded.errors import Forbidden, StatusError, Unauthorized
from porch_embedded.meta import UserInfo

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "blueprint", "check_csrf", "client_certificate", "load_user"]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN_ENDPOINTS = frozenset({"session.login", "session.login_form", "static"})

blueprint = Blueprint("session", __name__)


def csrf_token() -> str:
    """This session's CSRF token, made on first use (also before sign-in: the login form has one)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


async def check_csrf() -> None:
    """Refuse a write whose CSRF token is missing or is not this session's (403)."""
    if request.method in _SAFE_METHODS:
        return
    expected = session.get("csrf") or ""
    given = request.headers.get(CSRF_HEADER, "")
    if not given:
        form = await request.form
        given = form.get(CSRF_FIELD, "")
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise Forbidden("the form's CSRF token is missing or stale: reload the page and try again")


def load_user() -> Response | None:
    """Put the signed-in user on ``g.user``; send anyone else to the sign-in page."""
    stored = session.get("user")
    if stored:
        g.user = UserInfo(stored["name"], uid=stored.get("uid", ""), groups=tuple(stored.get("groups", ())))
        return None
    if request.endpoint in _OPEN_ENDPOINTS:
        return None
    if request.headers.get("HX-Request"):
        response = Response("", status=401)
        response.headers["HX-Redirect"] = url_for("session.login_form")
        return response
    target = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    return redirect(url_for("session.login_form", next=target if request.method == "GET" else None))


def client_certificate() -> bytes | None:
    """The DER client certificate this TLS connection presented (verified against the client CA), if any."""
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    der = tls.get("client_cert_der")
    return der if isinstance(der, bytes) else None


async def _certificate_user() -> UserInfo | None:
    """Who the connection's client certificate names, when the API accepts it."""
    der = client_certificate()
    if der is None:
        return None
    try:
        user = await services().authenticator.authenticate({}, der)
    except StatusError:
        return None
    return None if user.is_anonymous else user


def _safe_next(target: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect to another site."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return url_for("repositories.index")


@blueprint.get("/login")
async def login_form() -> Any:
    return await render_template("login.html", certificate_user=await _certificate_user(),
                                 next=request.args.get("next", ""), error="")


@blueprint.post("/login")
async def login() -> Any:
    form = await request.form
    user: UserInfo | None
    try:
        if form.get("method") == "certificate":
            user = await _certificate_user()
            if user is None:
                raise Unauthorized("this connection presented no client certificate that the server accepts")
        else:
            token = form.get("token", "").strip()
            if not token:
                raise Unauthorized("enter the bearer token from your kubeconfig (users[].user.token)")
            user = await services().authenticator.authenticate({"authorization": f"Bearer {token}"}, None)
            if user.is_anonymous:
                raise Unauthorized("the token was not accepted")
    except Unauthorized as error:
        body = await render_template("login.html", certificate_user=await _certificate_user(),
                                     next=form.get("next", ""), error=error.message)
        return Response(body, status=401)
    session.clear()
    session.permanent = True
    session["user"] = {"name": user.name, "uid": user.uid, "groups": list(user.groups)}
    csrf_token()
    return redirect(_safe_next(form.get("next")))


@blueprint.post("/logout")
async def logout() -> Any:
    session.clear()
    return redirect(url_for("session.login_form"))
