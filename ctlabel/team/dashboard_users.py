"""The lead's console: users and their tokens (``/users``, and the users section of ``/manage``).

List everybody with their role and whether their token works; add a user (their token is shown
once, on the answer to the form, and never again: only its hash is stored); rotate a token (the
new one shown once); revoke one (the cases they held go back to the pool, named on the answer).
Every action is :mod:`ctlabel.team.admin`'s, as ``ctlabel team user add|rotate|revoke`` runs it.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from ctlabel.errors import CtlabelError
from ctlabel.team import admin
from ctlabel.team import dashboard_views as views
from ctlabel.team.dashboard_session import Lead, Session, checked_form, set_cookie, start
from ctlabel.team.db import ROLES, User
from ctlabel.team.errors import TeamError

router = APIRouter(include_in_schema=False)
#: Answers that show a token: never kept by the browser or a proxy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def refusal(s: Session, exc: CtlabelError, back: str = "/manage") -> HTMLResponse:
    """The page of a refused action: its reason (escaped) and the status the API would answer."""
    status = exc.status if isinstance(exc, TeamError) else 422
    return s.page("Refused", f'<p class="err" id="err">{escape(str(exc))}</p><p><a href="{escape(back)}">Back</a>'
                             '</p>', status)


def users_section(s: Session) -> str:
    """Everybody with role and token state, the rotate and revoke buttons, and the form adding a user."""
    with s.svc.read() as db:
        users = list(db.scalars(select(User).order_by(User.role, User.name)))
    rows = []
    for u in users:
        acts = views.post_form(f"/users/{quote(u.name)}/rotate", s.csrf, "Rotate", form_id=f"rotate-{u.name}")
        if u.active and u.id != s.user.id:
            acts += " " + views.post_form(f"/users/{quote(u.name)}/revoke", s.csrf, "Revoke",
                                          form_id=f"revoke-{u.name}")
        rows.append([u.name, u.role, "active" if u.active else "revoked", acts])
    roles = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
    add = views.post_form("/users/add", s.csrf, "Add user", form_id="add-user", fields=(
        '<label>name <input name="name" id="user-name" required maxlength="64" pattern="[A-Za-z0-9_.@-]+"></label>'
        f'<label>role <select name="role" id="user-role">{roles}</select></label>'))
    return ('<section id="users"><h2>Users and tokens</h2><p class="muted">Add gives a token, shown once (only its '
            'hash is stored). Rotate gives a new token (the old one stops working at once). Revoke stops a token '
            'and puts the cases the person held back in the pool, drafts kept.</p>'
            + views.table(["user", "role", "token", ""], rows, raw=(3,), cls="users") + add + "</section>")


@router.get("/users", response_class=HTMLResponse)
async def users(s: Lead) -> Response:
    return s.page("Users", "<h1>Users and tokens</h1>" + await run_in_threadpool(users_section, s))


def _token_page(s: Session, name: str, token: str, what: str) -> HTMLResponse:
    resp = s.page("New token", f'<p class="msg" id="msg">{escape(what)}. The token of {escape(name)}, shown once '
                               f'(only its hash is stored; copy it now):</p><p><code id="token">{escape(token)}</code>'
                               '</p><p><a href="/manage">Back to Manage</a></p>')
    resp.headers.update(NO_STORE)
    return resp


@router.post("/users/add")
async def add_user(request: Request, s: Lead) -> Response:
    form = await checked_form(request, s)
    name, role = form.get("name", "").strip(), form.get("role", "")
    try:
        token = await run_in_threadpool(admin.add_user, s.svc, name, role)
    except CtlabelError as exc:
        return refusal(s, exc)
    return _token_page(s, name, token, f"Added {name} as {role}")


def _released_text(name: str, released: list[dict]) -> str:
    if not released:
        return f"The token of {escape(name)} is revoked; they held no case."
    cases = ", ".join(f'<a href="/cases/{quote(r["case"])}">{escape(r["case"])}</a> ({escape(r["lease"])})'
                      for r in released)
    return (f"The token of {escape(name)} is revoked; {len(released)} case(s) they held went back to the pool "
            f'(drafts kept): <span id="released">{cases}</span>')


@router.post("/users/{name}/{action}")
async def user_action(request: Request, s: Lead, name: str, action: str) -> Response:
    await checked_form(request, s)
    if action not in ("rotate", "revoke"):
        return s.page("Refused", '<p class="err">unknown action</p>', 404)
    try:
        if action == "rotate":
            token = await run_in_threadpool(admin.rotate, s.svc, name)
        else:
            out = await run_in_threadpool(admin.revoke, s.svc, name, s.user)
    except CtlabelError as exc:
        return refusal(s, exc, "/users")
    if action == "revoke":
        if name == s.user.name:
            return RedirectResponse("/", 303)
        return s.page("Revoked", f'<p class="msg" id="msg">{_released_text(name, out["released"])}</p>'
                                 '<p><a href="/manage">Back to Manage</a></p>')
    shown = s
    if name == s.user.name and s.cookie:  # the rotation ended the lead's sessions: a new one for this browser
        shown = Session(s.svc, s.user, await run_in_threadpool(start, s.svc, s.user, request.app.state.sessions),
                        True)
    resp = _token_page(shown, name, token, "Rotated")
    if shown is not s:
        set_cookie(resp, request, shown.token)
    return resp


__all__ = ["NO_STORE", "refusal", "router", "users_section"]
