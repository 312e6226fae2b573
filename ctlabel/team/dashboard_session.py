"""The lead's log-in on the dashboard: who is behind a request, its CSRF token, its bounded forms.

A request carries the session's random id in a cookie (:data:`COOKIE`; :mod:`ctlabel.team.sessions`
keeps the sessions) or ``Authorization: Bearer <token>`` (scripts). :func:`lead_session` resolves
it before anything of the request's body is read: no session gives the login page, another role
than lead gives 403. Every change is a POST form carrying the session's CSRF token (an HMAC keyed
by the session's id), read by :func:`checked_form` within a size limit; bearer requests need none.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from ctlabel.team import dashboard_views as views
from ctlabel.team import sessions
from ctlabel.team.auth import user_for_token
from ctlabel.team.db import User
from ctlabel.team.service import Service
from ctlabel.team.sessions import SessionPolicy

COOKIE = "ctlabel_lead"
#: The largest form a dashboard page posts, unless the route allows more (the guidelines).
FORM_LIMIT = 64 * 1024


class Refused(Exception):
    """A page to answer with instead of the route's (login, 403, a refused form)."""

    def __init__(self, response: Response) -> None:
        self.response = response


class Session:
    """The logged-in lead of a request: the user, the session id (``cookie``) or bearer token it came with."""

    def __init__(self, svc: Service, user: User, token: str, cookie: bool) -> None:
        self.svc, self.user, self.token, self.cookie = svc, user, token, cookie

    @property
    def csrf(self) -> str:
        return csrf_token(self.token) if self.cookie else ""

    def page(self, title: str, body: str, status: int = 200, head: str = "") -> HTMLResponse:
        return HTMLResponse(views.page(title, body, user=self.user.name, csrf=self.csrf, head=head), status)


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of a fixed label keyed by the session's id."""
    return hmac.new(session_id.encode("utf-8"), b"ctlabel-dashboard-csrf", hashlib.sha256).hexdigest()


def _token(request: Request) -> tuple[str | None, bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    return request.cookies.get(COOKIE), True


def lookup(svc: Service, token: str | None, cookie: bool, policy: SessionPolicy) -> User | None:
    """The user of a session id (``cookie``) or of a bearer token; None when neither is live."""
    with svc.tx() as db:
        return sessions.resolve(db, token, policy) if cookie else user_for_token(db, token)


def start(svc: Service, user: User, policy: SessionPolicy) -> str:
    """A new session of ``user``; its id."""
    with svc.tx() as db:
        return sessions.start(db, user, policy)


def set_cookie(resp: Response, request: Request, session_id: str) -> None:
    """The session's cookie; Secure when the request came over HTTPS (or through a trusted TLS proxy).

    No Max-Age: the browser forgets it when closed; the server ends the session anyway.
    """
    resp.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/",
                    secure=request.url.scheme == "https")


async def lead_session(request: Request) -> Session:
    """The lead behind the request; a login form (401) without a live session or a valid token, 403 for another role."""
    svc: Service = request.app.state.service
    token, cookie = _token(request)
    user = await run_in_threadpool(lookup, svc, token, cookie, request.app.state.sessions) if token else None
    if user is None:
        msg = "Your session ended (logged out, expired, token revoked or rotated); log in again." if token else ""
        refused = HTMLResponse(views.login_page(msg, error=bool(token)), 401 if token else 200)
        if token and cookie:
            refused.delete_cookie(COOKIE, path="/")
        raise Refused(refused)
    if user.role != "lead":
        raise Refused(HTMLResponse(views.login_page(f"{user.name} is {user.role}: the dashboard is for the "
                                                    "lead.", error=True), 403))
    assert token is not None  # the user was found by it
    return Session(svc, user, token, cookie)


Lead = Annotated[Session, Depends(lead_session)]


async def _body(request: Request, s: Session, limit: int) -> bytes:
    """The request's body, refused (413) past ``limit`` bytes: by Content-Length before reading, else as it comes."""
    too_big = Refused(s.page("Refused", f'<p class="err">The form is larger than this page accepts '
                                        f'({limit // 1024} KiB).</p>', 413))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


async def checked_form(request: Request, s: Session, limit: int = FORM_LIMIT) -> dict[str, str]:
    """The fields of a POSTed form (URL-encoded, at most ``limit`` bytes), after checking its CSRF token.

    A cookie session's form must carry the session's CSRF token (403 otherwise); a request with
    the bearer header needs none. A field given twice keeps its last value.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":  # curl -F: parsed by Starlette once its declared size is within the limit
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():
            raise Refused(s.page("Refused", '<p class="err">A multipart form needs a Content-Length.</p>', 411))
        if int(declared) > limit:
            await _body(request, s, limit)  # refused: 413
        form = {k: str(v) for k, v in (await request.form()).items()}
    else:
        form = dict(parse_qsl((await _body(request, s, limit)).decode("utf-8", "replace"), keep_blank_values=True))
    if s.cookie and not hmac.compare_digest(str(form.get("csrf", "")), s.csrf):
        raise Refused(s.page("Refused", '<p class="err">The form is stale or came from another site '
                                        '(CSRF token missing or wrong). Reload the page and try again.</p>', 403))
    return form


__all__ = ["COOKIE", "FORM_LIMIT", "Lead", "Refused", "Session", "checked_form", "csrf_token", "lead_session",
           "lookup", "set_cookie", "start"]
