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
``/cases/{case}/thumb.png``, ``/report.csv`` (what ``ctlabel team report --csv`` prints).
The log-in and the forms' checks are :mod:`ctlabel.team.dashboard_session`; ``/users`` (add, rotate,
revoke) :mod:`ctlabel.team.dashboard_users`; ``/manage`` (users, rates, guidelines, adding cases,
exports as background jobs) :mod:`ctlabel.team.dashboard_manage`.
"""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctlabel.errors import CtlabelError
from ctlabel.team import console_alerts, console_data, dashboard_manage, dashboard_users, sessions, thumbnails
from ctlabel.team import dashboard_data as data
from ctlabel.team import dashboard_pages as pages
from ctlabel.team import dashboard_views as views
from ctlabel.team import report as reporting
from ctlabel.team.dashboard_session import (
    COOKIE,
    Lead,
    Refused,
    Session,
    checked_form,
    csrf_token,
    lead_session,
    lookup,
    set_cookie,
    start,
)
from ctlabel.team.errors import TeamError
from ctlabel.team.service import Service
from ctlabel.team.sessions import SessionPolicy

router = APIRouter(include_in_schema=False)


def install(app) -> None:
    """Mount the dashboard on the API's app (its routes, the Manage pages and the handler of refused pages)."""
    from ctlabel.team.jobs import JobBoard

    app.state.jobs = JobBoard()
    app.include_router(router)
    app.include_router(dashboard_users.router)
    app.include_router(dashboard_manage.router)
    from ctlabel.team import dashboard_accuracy  # /accuracy: annotators' accuracy, the threshold, gold cases

    app.include_router(dashboard_accuracy.router)

    @app.exception_handler(Refused)
    async def _refused(_request: Request, exc: Refused) -> Response:
        return exc.response


# --- log in and out -----------------------------------------------------------------------------------
@router.post("/login")
async def login(request: Request, token: Annotated[str, Form()] = "") -> Response:
    svc: Service = request.app.state.service
    policy: SessionPolicy = request.app.state.sessions
    user = await run_in_threadpool(lookup, svc, token.strip(), False, policy)
    if user is None:
        return HTMLResponse(views.login_page("The token is not valid (revoked or mistyped).", error=True), 401)
    if user.role != "lead":
        return HTMLResponse(views.login_page(f"{user.name} is {user.role}: the dashboard is for the lead.",
                                             error=True), 403)
    resp = RedirectResponse("/", 303)
    set_cookie(resp, request, await run_in_threadpool(start, svc, user, policy))
    return resp


def _end(svc: Service, session_id: str) -> None:
    with svc.tx() as db:
        sessions.end(db, session_id, "logout")


@router.post("/logout")
async def logout(request: Request, s: Lead) -> Response:
    await checked_form(request, s)
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
    form = await checked_form(request, s)
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


@router.get("/report.csv")
async def report_csv(s: Lead, since: str | None = None, until: str | None = None) -> Response:
    rep = await run_in_threadpool(reporting.report, s.svc, since or None, until or None)
    name = "pay-report" + (f"-{since}" if since else "") + (f"-{until}" if until else "") + ".csv"
    return Response(reporting.to_csv(rep), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


__all__ = ["COOKIE", "Session", "csrf_token", "install", "lead_session", "router"]  # the session names: re-exported
