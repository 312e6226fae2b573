"""The lead's dashboard session (issue 20, item 4): the cookie holds a random session id, never the token;
it is HttpOnly, SameSite=Strict and, over HTTPS (directly or through a trusted proxy), Secure; the session
expires (absolute and idle), and logging out, rotating or revoking the token ends it.

Over HTTP against the real app (``TestClient``) on SQLite and PostgreSQL; the proxy headers also through
what ``ctlabel team serve`` hands uvicorn, with and without ``--trust-proxy``, served on a loopback port.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from team_helpers import free_port, make_project

from ctlabel.cli.main import main
from ctlabel.team import admin
from ctlabel.team.api import create_app
from ctlabel.team.dashboard import COOKIE, csrf_token
from ctlabel.team.db import DashboardSession, User
from ctlabel.team.sessions import SessionPolicy, hash_id


def _team(tmp_path, db_url):
    svc = make_project(tmp_path / "p", db_url)
    tokens = {n: admin.add_user(svc, n, r) for n, r in (("boss", "lead"), ("boss2", "lead"), ("ann", "annotator"))}
    return svc, tokens


def _login(web, token: str) -> tuple[str, str]:
    """Log in; return the Set-Cookie header and the cookie's value."""
    r = web.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    value = re.match(rf"{COOKIE}=([^;]+);", cookie).group(1)
    return cookie, value


def _page(app, sid: str, base_url: str = "http://testserver") -> httpx.Response:
    """``/`` with nothing but this cookie (a fresh browser holding it)."""
    return TestClient(app, base_url=base_url).get("/", headers={"Cookie": f"{COOKIE}={sid}"})


def _in(r: httpx.Response) -> bool:
    """The dashboard itself (not the login form)."""
    return r.status_code == 200 and 'action="/logout"' in r.text and 'id="token"' not in r.text


def _rows(svc, user: str) -> list[DashboardSession]:
    with svc.read() as db:
        uid = db.scalar(select(User.id).where(User.name == user))
        return list(db.scalars(select(DashboardSession).where(DashboardSession.user_id == uid)
                               .order_by(DashboardSession.id)))


def test_cookie_is_a_session_id_not_the_token(tmp_path, db_url):
    svc, tokens = _team(tmp_path, db_url)
    app = create_app(svc)
    web = TestClient(app)
    cookie, sid = _login(web, tokens["boss"])
    assert tokens["boss"] not in cookie and sid != tokens["boss"] and not sid.startswith("ctl_") and len(sid) >= 43
    flags = [f.strip().lower() for f in cookie.split(";")[1:]]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http, no trusted proxy
    assert _in(web.get("/"))
    # stored hashed, with its times: 12 h absolute by default
    (row,) = _rows(svc, "boss")
    assert row.id_hash == hash_id(sid) and sid not in row.id_hash
    assert row.revoked is None and row.revoked_why is None
    assert (row.expires - row.created) == dt.timedelta(hours=12) and row.last_seen >= row.created
    # the raw token as a cookie opens nothing any more
    assert not _in(_page(app, tokens["boss"]))
    # the CSRF token is derived from the session id: the page's forms carry it, another is refused
    page = web.get("/users").text
    assert f'value="{csrf_token(sid)}"' in page and csrf_token(tokens["boss"]) not in page
    assert web.post("/users/ann/rotate", data={"csrf": csrf_token(tokens["boss"])}).status_code == 403
    assert 'id="token"' in web.post("/users/ann/rotate", data={"csrf": csrf_token(sid)}).text
    # every log-in gets its own id
    _, sid2 = _login(TestClient(app), tokens["boss"])
    assert sid2 != sid and len(_rows(svc, "boss")) == 2
    # scripts keep the bearer header (no session, no cookie)
    r = TestClient(app).get("/", headers={"Authorization": f"Bearer {tokens['boss']}"})
    assert _in(r) and "set-cookie" not in r.headers
    svc.engine.dispose()


def test_secure_over_https(tmp_path, db_url):
    svc, tokens = _team(tmp_path, db_url)
    app = create_app(svc)
    web = TestClient(app, base_url="https://testserver")  # a TLS connection to the app
    cookie, sid = _login(web, tokens["boss"])
    assert "secure" in [f.strip().lower() for f in cookie.split(";")]
    assert _in(web.get("/"))  # the browser sends it back over https
    # behind a TLS proxy: X-Forwarded-Proto counts only from the proxy the server was told to trust
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    for trust, client, secure in ((None, "127.0.0.1", False), ("127.0.0.1", "127.0.0.1", True),
                                  ("127.0.0.1", "192.0.2.7", False)):
        c = TestClient(create_app(svc, trust_proxy=trust), client=(client, 40000))
        r = c.post("/login", data={"token": tokens["boss"]}, headers=proxied, follow_redirects=False)
        assert ("secure" in r.headers["set-cookie"].lower()) is secure, (trust, client)
    svc.engine.dispose()


def test_proxy_headers_need_trust_proxy(tmp_path, db_url, monkeypatch):
    """``ctlabel team serve`` believes X-Forwarded-Proto only with ``--trust-proxy`` (uvicorn alone believes
    any process on the machine): the command's app and uvicorn settings, served here on a free port."""
    svc, tokens = _team(tmp_path, db_url)
    runs = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: runs.append((app, kw)))
    proxied = {"X-Forwarded-Proto": "https"}
    for args, secure in (((), False), (("--trust-proxy", "127.0.0.1,::1"), True)):
        port = free_port()
        assert main(["team", "serve", str(svc.root), "--port", str(port), "--volume-workers", "0", "--json",
                     *args]) == 0
        app, kw = runs[-1]
        server = uvicorn.Server(uvicorn.Config(app, **kw))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            while not server.started and thread.is_alive():
                time.sleep(0.02)
            r = httpx.post(f"http://127.0.0.1:{port}/login", data={"token": tokens["boss"]}, headers=proxied)
        finally:
            server.should_exit = True
            thread.join(10)
        assert r.status_code == 303 and ("secure" in r.headers["set-cookie"].lower()) is secure, args
    svc.engine.dispose()


def test_session_expires(tmp_path, db_url):
    svc, tokens = _team(tmp_path, db_url)
    app = create_app(svc, sessions=SessionPolicy(absolute_s=3600, idle_s=600))
    _, sid = _login(TestClient(app), tokens["boss"])
    (row,) = _rows(svc, "boss")
    assert row.expires - row.created == dt.timedelta(hours=1)

    def move(**ago: float) -> None:  # move the session's times back, as if that much time had passed
        now = dt.datetime.now(dt.UTC)
        with svc.tx() as db:
            db.execute(update(DashboardSession).where(DashboardSession.id_hash == hash_id(sid))
                       .values({k: now - dt.timedelta(minutes=m) for k, m in ago.items()}))

    # used 5 minutes ago: alive, and the request moves last_seen
    move(last_seen=5)
    assert _in(_page(app, sid))
    assert dt.datetime.now(dt.UTC) - _aware(_rows(svc, "boss")[0].last_seen) < dt.timedelta(minutes=1)
    # unused for 11 minutes: over the 10-minute idle limit; the login page drops the cookie
    move(last_seen=11)
    r = _page(app, sid)
    assert not _in(r) and r.status_code == 401 and "session ended" in r.text
    assert f'{COOKIE}=""' in r.headers["set-cookie"] and "max-age=0" in r.headers["set-cookie"].lower()
    # past the absolute end, however busy
    _, sid = _login(TestClient(app), tokens["boss"])
    assert _in(_page(app, sid))
    move(created=61, expires=1, last_seen=0)
    assert not _in(_page(app, sid))
    # a server restarted with a shorter absolute limit ends older sessions at once
    _, sid = _login(TestClient(app), tokens["boss"])
    move(created=30)
    assert _in(_page(app, sid))
    assert not _in(_page(create_app(svc, sessions=SessionPolicy(absolute_s=20 * 60, idle_s=600)), sid))
    svc.engine.dispose()


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def test_logout_rotate_and_revoke_end_sessions(tmp_path, db_url):
    svc, tokens = _team(tmp_path, db_url)
    app = create_app(svc)
    web, other = TestClient(app), TestClient(app)  # the lead in two browsers
    _, sid = _login(web, tokens["boss"])
    _, sid_other = _login(other, tokens["boss"])
    # log out: a POST with the CSRF token, refused without it
    assert web.post("/logout", data={}).status_code == 403 and _in(_page(app, sid))
    r = web.post("/logout", data={"csrf": csrf_token(sid)}, follow_redirects=False)
    assert r.status_code == 303 and "max-age=0" in r.headers["set-cookie"].lower()
    assert not _in(_page(app, sid)) and _page(app, sid).status_code == 401  # the old cookie: the login page
    assert _in(_page(app, sid_other))  # the other browser's session goes on
    assert [s.revoked_why for s in _rows(svc, "boss")] == ["logout", None]
    # rotating the token (CLI, API or another lead's page) ends every session it opened
    new = admin.rotate(svc, "boss")
    assert not _in(_page(app, sid_other))
    assert [s.revoked_why for s in _rows(svc, "boss")] == ["logout", "token_rotated"]
    # revoking the user (ctlabel team user revoke) ends theirs
    _, sid2 = _login(TestClient(app), tokens["boss2"])
    assert _in(_page(app, sid2))
    admin.revoke(svc, "boss2")
    assert not _in(_page(app, sid2)) and [s.revoked_why for s in _rows(svc, "boss2")] == ["token_revoked"]
    # a lead rotating their own token on the dashboard: shown the new token, this browser gets a new session
    _, sid3 = _login(web, new)
    r = web.post("/users/boss/rotate", data={"csrf": csrf_token(sid3)})
    newest = re.search(r'<code id="token">(ctl_[^<]+)</code>', r.text).group(1)
    sid4 = web.cookies[COOKIE]
    assert sid4 != sid3 and not _in(_page(app, sid3)) and _in(_page(app, sid4))
    assert f'value="{csrf_token(sid4)}"' in r.text  # the page's forms belong to the new session
    assert _in(TestClient(app).get("/", headers={"Authorization": f"Bearer {newest}"}))
    # the table's CHECK constraints: a known reason, given exactly when revoked
    for values in ({"revoked_why": "stolen", "revoked": dt.datetime.now(dt.UTC)}, {"revoked_why": "logout"}):
        with pytest.raises(IntegrityError), svc.tx() as db:
            db.execute(update(DashboardSession).where(DashboardSession.id_hash == hash_id(sid4)).values(values))
    assert _in(_page(app, sid4))
    svc.engine.dispose()
