"""What the server tells strangers: security headers on every answer, /health without the project's name,
no CDN-loading /docs unless asked, and a warning when tokens would travel in clear."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from team_helpers import free_port, make_project

from ctlabel.cli.main import main
from ctlabel.team import admin
from ctlabel.team.api import CONTENT_SECURITY_POLICY, create_app, plain_http_warning


@pytest.fixture
def project(tmp_path, philips_template):
    svc = make_project(tmp_path / "secret_hospital_project", None, philips_template, n_cases=1)
    yield svc
    svc.engine.dispose()


def _secure(r) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_security_headers_health_and_docs(project):
    svc = project
    lead = admin.add_user(svc, "boss", "lead")
    ann = admin.add_user(svc, "ann", "annotator")
    web = TestClient(create_app(svc))
    # the dashboard's pages, logged in or not, and the API: all with the headers
    for path, token in (("/", None), ("/", lead), ("/users", lead), ("/api/v1/me", ann)):
        r = web.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})
        assert r.status_code == 200, (path, r.status_code)
        _secure(r)
        csp = r.headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in csp and "script-src" not in csp
    case = web.post("/api/v1/cases/next", headers={"Authorization": f"Bearer {ann}"}).json()["case"]
    r = web.get(f"/api/v1/cases/{case}/files/ct.nii.gz", headers={"Authorization": f"Bearer {ann}"})
    assert r.status_code == 200 and r.content == (svc.cases_dir / case / "ct.nii.gz").read_bytes()
    _secure(r)
    r = web.get("/api/v1/cases/nope", headers={"Authorization": f"Bearer {ann}"})
    assert r.status_code == 404
    _secure(r)
    # /health answers without a login, and says nothing about the project
    r = web.get("/api/v1/health")
    assert r.status_code == 200 and r.json() == {"ok": True} and "secret_hospital" not in r.text
    # /docs and /redoc load their scripts from a CDN: off unless asked; the OpenAPI description stays
    assert web.get("/docs").status_code == 404 and web.get("/redoc").status_code == 404
    assert "/api/v1/cases/{name}/draft" in web.get("/openapi.json").json()["paths"]
    with_docs = TestClient(create_app(svc, docs=True))
    r = with_docs.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    _secure(r)
    assert "content-security-policy" not in r.headers  # Swagger UI's own scripts and CDN
    assert with_docs.get("/redoc").status_code == 200


def test_plain_http_beyond_this_machine_warns(project, monkeypatch, capsys):
    for host in ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"):
        assert plain_http_warning(host) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.20", "labels.example.org"):
        assert "travel in clear" in plain_http_warning(host), host
    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append((app, kw)))
    assert main(["team", "serve", str(project.root), "--host", "0.0.0.0", "--port", "1", "--volume-workers", "0",
                 "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning: serving plain HTTP on 0.0.0.0" in err and "TLS" in err
    assert apps[-1][1]["host"] == "0.0.0.0" and apps[-1][0].docs_url is None
    assert main(["team", "serve", str(project.root), "--port", "1", "--volume-workers", "0", "--docs",
                 "--json"]) == 0
    assert "warning" not in capsys.readouterr().err and apps[-1][0].docs_url == "/docs"


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and not os.environ.get("CI"),
                    reason="chromium and chromedriver are not installed")
def test_dashboard_pages_break_no_rule_of_their_content_policy(project):
    """Chromium loads the lead's pages under the policy and reports no violation (inline styles, SVG, images, forms)."""
    import threading

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    lead = admin.add_user(project, "boss", "lead")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(project), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        driver.get(url + "/")
        driver.find_element(By.ID, "token").send_keys(lead)
        driver.find_element(By.ID, "login").click()  # a form posting to the server itself
        case = next(iter(project.cases_dir.iterdir())).name
        for page in ("/", "/cases", f"/cases/{case}", "/users"):
            driver.get(url + page)
            assert "log out" in driver.page_source.lower(), page  # logged in: the form post worked
            # the inline style sheet applies (the policy allows inline styles, nothing else inline)
            assert driver.execute_script("return document.styleSheets.length") >= 1
        violations = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
        assert not violations, violations
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(10)
