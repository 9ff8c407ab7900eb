"""One-line notices carried to the next page (in the session), and how a write answers."""

from __future__ import annotations

from typing import Any

from quart import Response, redirect, request, session

__all__ = ["done", "take_notice"]


def done(notice: str, target: str) -> Any:
    """Answer a successful write: go to ``target`` and show ``notice`` there.

    A plain form gets a 303 redirect; an htmx request an ``HX-Redirect`` (the browser
    navigates, so the page shown is whole and current).
    """
    session["notice"] = notice
    if request.headers.get("HX-Request"):
        response = Response("", status=200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def take_notice() -> str:
    """The notice left by the last write, once."""
    return str(session.pop("notice", "") or "")
