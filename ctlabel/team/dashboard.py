"""The lead's dashboard in the browser: ``/`` on the team server (mounted by :func:`ctlabel.team.api.create_app`).

Log in with a lead token (a form; a token of anybody else is refused with 403): the server
starts a session (:mod:`ctlabel.team.sessions`) whose random id, never the token, is kept in a
cookie that is HttpOnly, SameSite=Strict, Path=/ and, over HTTPS, Secure; it ends after 12 h,
after 1 h unused, at *Log out*, or when the token is rotated or revoked. Scripts may send
``Authorization: Bearer <token>`` instead. Every change is a POST form carrying a CSRF token
(an HMAC keyed by the session's id), or a request with the bearer header.

Pages (bodies in :mod:`ctlabel.team.dashboard_pages`): ``/`` (progress per stage, forecast,
alerts, review queue, team now, throughput per day as an inline SVG, double reading),
``/alerts``, ``/people`` (per person: claims, last activity, figures, pay), ``/cases``
(thumbnails, labels; filter by stage, search by id or label, pages), ``/cases/{case}`` (label,
thumbnail, readable history; reassign, release the lease, reopen with a reason),
``/cases/{case}/thumb.png``, ``/users`` (revoke, rotate tokens), ``/report.csv`` (what
``ctlabel team report --csv`` prints).
"""

from __future__ import annotations

import hashlib
import hmac
from html import escape
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from ctlabel.errors import CtlabelError
from ctlabel.team import admin, console_alerts, console_data, sessions, thumbnails
from ctlabel.team import dashboard_data as data
from ctlabel.team import dashboard_pages as pages
from ctlabel.team import dashboard_views as views
from ctlabel.team import report as reporting
from ctlabel.team.auth import user_for_token
from ctlabel.team.db import User
from ctlabel.team.errors import TeamError
from ctlabel.team.service import Service
from ctlabel.team.sessions import SessionPolicy

COOKIE = "ctlabel_lead"
router = APIRouter(include_in_schema=False)


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class Session:
    """The logged-in lead of a request: the user, the session id (``cookie``) or bearer token it came with."""

    def __init__(self, svc: Service, user: User, token: str, cookie: bool) -> None:
        self.svc, self.user, self.token, self.cookie = svc, user, token, cookie

    @property
    def csrf(self) -> str:
        return csrf_token(self.token) if self.cookie else ""

    def page(self, title: str, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(views.page(title, body, user=self.user.name, csrf=self.csrf), status)


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of a fixed label keyed by the session's id."""
    return hmac.new(session_id.encode("utf-8"), b"ctlabel-dashboard-csrf", hashlib.sha256).hexdigest()


def _token(request: Request) -> tuple[str | None, bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    return request.cookies.get(COOKIE), True


def _lookup(svc: Service, token: str | None, cookie: bool, policy: SessionPolicy) -> User | None:
    with svc.tx() as db:
        return sessions.resolve(db, token, policy) if cookie else user_for_token(db, token)


def _start(svc: Service, user: User, policy: SessionPolicy) -> str:
    with svc.tx() as db:
        return sessions.start(db, user, policy)


def _set_cookie(resp: Response, request: Request, session_id: str) -> None:
    """The session's cookie; Secure when the request came over HTTPS (or through a trusted TLS proxy).

    No Max-Age: the browser forgets it when closed; the server ends the session anyway.
    """
    resp.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/",
                    secure=request.url.scheme == "https")


async def lead_session(request: Request) -> Session:
    """The lead behind the request; a login form (401) without a live session or a valid token, 403 for another role."""
    svc: Service = request.app.state.service
    token, cookie = _token(request)
    user = await run_in_threadpool(_lookup, svc, token, cookie, request.app.state.sessions) if token else None
    if user is None:
        msg = "Your session ended (logged out, expired, token revoked or rotated); log in again." if token else ""
        refused = HTMLResponse(views.login_page(msg, error=bool(token)), 401 if token else 200)
        if token and cookie:
            refused.delete_cookie(COOKIE, path="/")
        raise _Refused(refused)
    if user.role != "lead":
        raise _Refused(HTMLResponse(views.login_page(f"{user.name} is {user.role}: the dashboard is for the "
                                                     "lead.", error=True), 403))
    assert token is not None  # the user was found by it
    return Session(svc, user, token, cookie)


Lead = Annotated[Session, Depends(lead_session)]


async def _checked(request: Request, s: Session) -> dict:
    """The form of a POST, after checking its CSRF token (cookie sessions only)."""
    form = dict(await request.form())
    if s.cookie and not hmac.compare_digest(str(form.get("csrf", "")), s.csrf):
        raise _Refused(s.page("Refused", '<p class="err">The form is stale or came from another site '
                                         '(CSRF token missing or wrong). Reload the page and try again.</p>', 403))
    return form


def install(app) -> None:
    """Mount the dashboard on the API's app (its routes and the handler of refused pages)."""
    app.include_router(router)

    @app.exception_handler(_Refused)
    async def _refused(_request: Request, exc: _Refused) -> Response:
        return exc.response


# --- log in and out -----------------------------------------------------------------------------------
@router.post("/login")
async def login(request: Request, token: Annotated[str, Form()] = "") -> Response:
    svc: Service = request.app.state.service
    policy: SessionPolicy = request.app.state.sessions
    user = await run_in_threadpool(_lookup, svc, token.strip(), False, policy)
    if user is None:
        return HTMLResponse(views.login_page("The token is not valid (revoked or mistyped).", error=True), 401)
    if user.role != "lead":
        return HTMLResponse(views.login_page(f"{user.name} is {user.role}: the dashboard is for the lead.",
                                             error=True), 403)
    resp = RedirectResponse("/", 303)
    _set_cookie(resp, request, await run_in_threadpool(_start, svc, user, policy))
    return resp


def _end(svc: Service, session_id: str) -> None:
    with svc.tx() as db:
        sessions.end(db, session_id, "logout")


@router.post("/logout")
async def logout(request: Request, s: Lead) -> Response:
    await _checked(request, s)
    if s.cookie:
        await run_in_threadpool(_end, s.svc, s.token)
    resp = RedirectResponse("/", 303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


# --- pages ------------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
async def summary(s: Lead) -> Response:
    return s.page("Summary", await run_in_threadpool(pages.summary_body, s.svc))


@router.get("/people", response_class=HTMLResponse)
async def people(s: Lead) -> Response:
    return s.page("People", await run_in_threadpool(pages.people_body, s.svc))


@router.get("/alerts", response_class=HTMLResponse)
async def alerts(s: Lead, stall_hours: float = console_alerts.STALL_HOURS) -> Response:
    hours = stall_hours if 0 < stall_hours < 1e6 else console_alerts.STALL_HOURS
    return s.page("Alerts", await run_in_threadpool(pages.alerts_body, s.svc, hours))


@router.get("/cases", response_class=HTMLResponse)
async def cases(s: Lead, state: str = "", stage: str = "", annotator: str = "", q: str = "",
                page: int = 1) -> Response:
    stage = stage if stage in console_data.STAGES else ""
    return s.page("Cases", await run_in_threadpool(pages.cases_body, s.svc, state, stage, annotator, q, page))


@router.get("/cases/{name}", response_class=HTMLResponse)
async def case(s: Lead, name: str, msg: str = "", err: str = "") -> Response:
    try:
        body = await run_in_threadpool(pages.case_body, s.svc, s.csrf, name, msg, err)
    except TeamError as exc:
        return s.page("No such case", f'<p class="err">{escape(exc.reason)}</p>', exc.status)
    return s.page(f"Case {name}", body)


def _thumb(svc: Service, name: str) -> bytes | None:
    with svc.read() as db:
        row = svc.get_case(db, name)
    return thumbnails.thumbnail(svc.root, row.name, svc.folder(row).root)


@router.get("/cases/{name}/thumb.png")
async def thumb(s: Lead, name: str) -> Response:
    """The case's thumbnail (404 for an image whose source may carry burned-in text)."""
    try:
        png = await run_in_threadpool(_thumb, s.svc, name)
    except CtlabelError as exc:
        return Response(str(getattr(exc, "reason", exc)), 404 if isinstance(exc, TeamError) else 422,
                        media_type="text/plain")
    if png is None:
        return Response("no thumbnail: the image may carry burned-in text", 404, media_type="text/plain")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


async def _act(request: Request, s: Session, name: str, fn, ok: str) -> Response:
    form = await _checked(request, s)
    try:
        await run_in_threadpool(fn, form)
        query = {"msg": ok}
    except TeamError as exc:
        query = {"err": exc.reason}
    if request.headers.get("authorization"):
        return Response(status_code=200 if "msg" in query else 409, content=query.get("err", ok))
    return RedirectResponse(f"/cases/{quote(name)}?{urlencode(query)}", 303)


@router.post("/cases/{name}/reassign")
async def reassign(request: Request, s: Lead, name: str) -> Response:
    return await _act(request, s, name, lambda f: data.reassign(s.svc, s.user, name, str(f.get("to", ""))),
                      "reassigned")


@router.post("/cases/{name}/release")
async def release(request: Request, s: Lead, name: str) -> Response:
    return await _act(request, s, name, lambda f: data.release(s.svc, s.user, name), "lease released")


@router.post("/cases/{name}/reopen")
async def reopen(request: Request, s: Lead, name: str) -> Response:
    return await _act(request, s, name, lambda f: s.svc.reopen(s.user, name, str(f.get("reason", ""))),
                      "reopened (a new draft)")


def _users_body(s: Session) -> str:
    with s.svc.tx() as db:
        users = list(db.scalars(select(User).order_by(User.role, User.name)))
    rows = []
    for u in users:
        acts = views.post_form(f"/users/{quote(u.name)}/rotate", s.csrf, "Rotate", form_id=f"rotate-{u.name}")
        if u.active and u.id != s.user.id:
            acts += " " + views.post_form(f"/users/{quote(u.name)}/revoke", s.csrf, "Revoke",
                                          form_id=f"revoke-{u.name}")
        rows.append([u.name, u.role, "active" if u.active else "revoked", acts])
    return ('<h1>Users and tokens</h1><section><p class="muted">Rotate gives a new token (shown once; the old one '
            'stops working at once). Revoke stops a token; rotate gives the person a new one. Add people with '
            '<code>ctlabel team user add</code>.</p>'
            + views.table(["user", "role", "token", ""], rows, raw=(3,), cls="users") + "</section>")


@router.get("/users", response_class=HTMLResponse)
async def users(s: Lead) -> Response:
    return s.page("Tokens", await run_in_threadpool(_users_body, s))


@router.post("/users/{name}/{action}")
async def user_action(request: Request, s: Lead, name: str, action: str) -> Response:
    await _checked(request, s)
    if action not in ("rotate", "revoke"):
        return s.page("Refused", '<p class="err">unknown action</p>', 404)
    try:
        if action == "rotate":
            token = await run_in_threadpool(admin.rotate, s.svc, name)
        else:
            await run_in_threadpool(admin.revoke, s.svc, name)
    except TeamError as exc:
        return s.page("Refused", f'<p class="err">{escape(exc.reason)}</p>', exc.status)
    if action == "revoke":
        if name == s.user.name:
            return RedirectResponse("/", 303)
        return s.page("Revoked", f'<p class="msg" id="msg">The token of {escape(name)} is revoked.</p>'
                                 '<p><a href="/users">Back to users</a></p>')
    shown = s
    if name == s.user.name and s.cookie:  # the rotation ended the lead's sessions: a new one for this browser
        shown = Session(s.svc, s.user, await run_in_threadpool(_start, s.svc, s.user, request.app.state.sessions),
                        True)
    resp = shown.page("New token", f'<p class="msg">New token for {escape(name)} (shown once, only its hash is '
                                   f'stored):</p><p><code id="token">{escape(token)}</code></p>'
                                   '<p><a href="/users">Back to users</a></p>')
    if shown is not s:
        _set_cookie(resp, request, shown.token)
    return resp


@router.get("/report.csv")
async def report_csv(s: Lead, since: str | None = None, until: str | None = None) -> Response:
    rep = await run_in_threadpool(reporting.report, s.svc, since or None, until or None)
    name = "pay-report" + (f"-{since}" if since else "") + (f"-{until}" if until else "") + ".csv"
    return Response(reporting.to_csv(rep), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


__all__ = ["COOKIE", "Session", "csrf_token", "install", "lead_session", "router"]
