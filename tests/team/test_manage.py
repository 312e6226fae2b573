"""The console's *Manage* page over HTTP, on SQLite and PostgreSQL: users, rates, guidelines, adding cases,
exports (background jobs, their progress and refusals, the download), and what it refuses (CSRF, roles, sizes).

The browser run of the same page is ``test_manage_chromium.py``.
"""

from __future__ import annotations

import io
import re
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from served import DATABASES
from team_helpers import make_project

from ctlabel.case import review
from ctlabel.case.folder import Case
from ctlabel.team import admin
from ctlabel.team.api import create_app
from ctlabel.team.dashboard import COOKIE, csrf_token
from ctlabel.team.db import CaseRow

ROOT = Path(__file__).resolve().parents[2]
#: The smallest CT series of the test data (tests/data_paths.py: CT3): three slices.
CT3_SERIES = ROOT / "tests" / "data" / "ct" / "dcmqi_ct3slice_seg" / "dicom" / "ct-3slice"


def approve_copy(template: Path, dest: Path) -> Path:
    """A copy of a case folder with a painted draft, submitted and approved (local review functions)."""
    shutil.copytree(template, dest)
    case = Case.open(dest)
    grid = case.image_grid()
    labels = np.zeros(grid.shape, np.uint8)
    n, rows, cols = grid.shape
    labels[n // 2 - 2:n // 2 + 2, rows // 2 - 30:rows // 2 + 30, cols // 2 - 30:cols // 2 + 30] = 1
    review.save_draft(case, labels, grid, "ann", annotator="ann", painted={1: [n // 2 - 2, n // 2 + 1]})
    review.submit(case, "ann", force=True)
    review.approve(case, "rev")
    return dest


@pytest.fixture(scope="session")
def approved_template(tmp_path_factory, philips_template) -> Path:
    return approve_copy(philips_template, tmp_path_factory.mktemp("approved") / philips_template.name)


@pytest.fixture(scope="module", params=DATABASES)
def site(request, tmp_path_factory, philips_template, approved_template):
    """A project with two Philips cases (one approved), a lead, an annotator; the app and a logged-in browser."""
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_cluster").create_database()
    svc = make_project(tmp_path_factory.mktemp("manage") / "p", url, philips_template, n_cases=1)
    dest = svc.cases_dir / "approved_case"
    shutil.copytree(approved_template, dest)
    admin.register_case(svc, dest)
    tokens = {n: admin.add_user(svc, n, r) for n, r in (("boss", "lead"), ("ann", "annotator"))}
    app = create_app(svc)
    web = TestClient(app)
    assert web.post("/login", data={"token": tokens["boss"]}, follow_redirects=False).status_code == 303
    yield svc, app, web, tokens
    web.close()
    svc.engine.dispose()


def _csrf(web: TestClient) -> str:
    return csrf_token(web.cookies[COOKIE])


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _wait(web: TestClient, job: int, timeout: float = 90) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while True:
        j = web.get(f"/manage/jobs/{job}.json").json()
        if j["state"] != "running" or time.monotonic() > deadline:
            return j
        time.sleep(0.1)


def _job_id(resp) -> int:
    assert resp.status_code == 303, resp.text[:2000]
    return int(re.search(r"/manage/jobs/(\d+)$", resp.headers["location"]).group(1))


# --- who may, and CSRF ------------------------------------------------------------------------------
def test_refusals_before_anything_is_read(site):
    svc, app, web, tokens = site
    ann = TestClient(app, headers=_bearer(tokens["ann"]))
    for path in ("/manage", "/users", "/manage/jobs/1", "/manage/exports/x.zip"):
        assert ann.get(path).status_code == 403, path
    # an annotator's post is refused as such (403), even one far past the size limit: the body is never read
    big = {"text": "x" * (8 * 1024 * 1024)}
    for path in ("/manage/guidelines", "/manage/add-cases", "/manage/export", "/manage/rates", "/users/add"):
        assert ann.post(path, data=big).status_code == 403, path
    assert ann.post("/manage/add-cases", data={"source": str(CT3_SERIES)}).status_code == 403
    assert app.state.jobs.list() == []
    # no session: the login page, nothing done
    anon = TestClient(app)
    assert "Lead token" in anon.post("/manage/rates", data={"annotation": "1"}).text
    # the lead's form without (or with a wrong) CSRF token: refused, nothing changed
    before = admin.rates(svc)
    for data in ({"annotation": "777"}, {"annotation": "777", "csrf": "0" * 64}):
        r = web.post("/manage/rates", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    r = web.post("/users/add", data={"name": "eve", "role": "lead"})
    assert r.status_code == 403
    r = web.post("/manage/add-cases", data={"source": str(CT3_SERIES)})
    assert r.status_code == 403 and app.state.jobs.list() == []
    assert admin.rates(svc) == before
    assert "<td>eve</td>" not in web.get("/manage").text
    # too large a form from the lead: 413 before it is parsed
    r = web.post("/manage/rates", data={"csrf": _csrf(web), "currency": "x" * 70_000})
    assert r.status_code == 413


# --- users ------------------------------------------------------------------------------------------
def test_add_user_token_shown_once_and_revoke_names_the_cases(site):
    svc, app, web, tokens = site
    r = web.post("/users/add", data={"csrf": _csrf(web), "name": "ann3", "role": "annotator"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = re.search(r'<code id="token">(ctl_[^<]+)</code>', r.text).group(1)
    me = TestClient(app, headers=_bearer(token))
    assert me.get("/api/v1/me").json()["user"] == "ann3"
    for page in ("/manage", "/users"):  # never shown again
        html = web.get(page).text
        assert token not in html and "ann3" in html
    row = re.search(r"<tr><td>ann3</td><td>annotator</td><td>active</td>", web.get("/manage").text)
    assert row
    # the same name again, a bad role, a bad name: refused with the reason
    r = web.post("/users/add", data={"csrf": _csrf(web), "name": "ann3", "role": "annotator"})
    assert r.status_code == 409 and "exists" in r.text
    r = web.post("/users/add", data={"csrf": _csrf(web), "name": "x<b>", "role": "annotator"})
    assert r.status_code == 422 and "<b>" not in r.text
    assert web.post("/users/add", data={"csrf": _csrf(web), "name": "y", "role": "king"}).status_code == 422
    # ann3 claims a case; revoking them puts it back in the pool, named on the page
    held = me.post("/api/v1/cases/next").json()["case"]
    r = web.post("/users/ann3/revoke", data={"csrf": _csrf(web)})
    assert r.status_code == 200 and f">{held}</a> (annotate)" in r.text and "back to the pool" in r.text
    assert me.get("/api/v1/me").status_code == 401
    with svc.tx() as db:
        assert db.query(CaseRow).filter_by(name=held).one().annotator_id is None
    assert re.search(r"<tr><td>ann3</td><td>annotator</td><td>revoked</td>", web.get("/manage").text)


# --- rates and guidelines ---------------------------------------------------------------------------
def test_rates_and_guidelines(site):
    svc, app, web, tokens = site
    r = web.post("/manage/rates", data={"csrf": _csrf(web), "annotation": "450", "review": "120", "rework": "",
                                        "currency": "CHF"})
    assert r.status_code == 200 and "annotation 4.50" in r.text
    assert admin.rates(svc)["annotation"] == 450 and admin.rates(svc)["review"] == 120
    with svc.read() as db:
        assert svc.settings(db).currency == "CHF"
    for bad in ("-1", "abc", "1e12"):
        r = web.post("/manage/rates", data={"csrf": _csrf(web), "annotation": bad})
        assert r.status_code == 422, bad
    assert admin.rates(svc)["annotation"] == 450
    text = "# Rules\n\nPaint the <script>alert(1)</script> ventricles & nothing else.\n"
    r = web.post("/manage/guidelines", data={"csrf": _csrf(web), "text": text})
    assert r.status_code == 200
    assert admin.guidelines(svc) == text  # what the CLI and the API's clients read
    page = web.get("/manage").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    r = web.post("/manage/guidelines", data={"csrf": _csrf(web), "text": "a" * (1024 * 1024 + 1)})
    assert r.status_code == 422 and "at most 1 MiB" in r.text
    assert admin.guidelines(svc) == text


# --- add cases ----------------------------------------------------------------------------------------
def test_add_cases_checks_the_source(site, tmp_path):
    svc, app, web, tokens = site
    afile = tmp_path / "a.dcm"
    afile.write_bytes(b"x")
    for source, says in [(str(tmp_path / "nope"), "does not exist"), (str(afile), "is not a folder"),
                         ("relative/dir", "full path"), ("ftp://pacs.example.org/x", "http:// or https://"),
                         ("http://127.0.0.1:9/dicom-web", "say what to pull"), ("", "name a DICOM folder")]:
        r = web.post("/manage/add-cases", data={"csrf": _csrf(web), "source": source})
        assert r.status_code == 422 and says in r.text, (source, r.text[-600:])
    r = web.post("/manage/add-cases", data={"csrf": _csrf(web), "source": str(CT3_SERIES), "jobs": "99999"})
    assert r.status_code == 422 and "jobs lies between 1" in r.text
    r = web.post("/manage/add-cases", data={"csrf": _csrf(web), "source": str(CT3_SERIES), "series": "1.2.3"})
    assert r.status_code == 422 and "DICOMweb URL" in r.text
    assert app.state.jobs.list() == [] or all(j.kind != "add-cases" for j in app.state.jobs.list())


def test_add_cases_job_and_one_at_a_time(site):
    svc, app, web, tokens = site
    with svc.read() as db:
        before = {r.name for r in db.query(CaseRow)}
    job = _job_id(web.post("/manage/add-cases", data={"csrf": _csrf(web), "source": str(CT3_SERIES),
                                                      "priority": "5"}, follow_redirects=False))
    j = _wait(web, job)
    assert j["state"] == "done", j
    assert j["done"] == j["total"] == 1 and j["stage"] == "series" and j["current"]
    with svc.read() as db:
        rows = {r.name: r for r in db.query(CaseRow)}
    added = set(rows) - before
    assert added == set(j["result"]["added"]) and len(added) == 1
    assert rows[added.pop()].priority == 5
    page = web.get(f"/manage/jobs/{job}").text
    assert 'id="job-state" class="tag tag-done">done' in page and "1 case(s) added" in page
    assert 'http-equiv="refresh"' not in page  # done: no more reloads
    # the same folder again: nothing new, already there
    job = _job_id(web.post("/manage/add-cases", data={"csrf": _csrf(web), "source": str(CT3_SERIES)},
                           follow_redirects=False))
    assert _wait(web, job)["result"]["summary"] == "0 case(s) added, 1 already there"
    # a second job of a kind while one runs is refused with a message; another kind may start
    gate = threading.Event()
    held = app.state.jobs.start("add-cases", "held", "test", lambda listener: gate.wait(30) and {})
    try:
        assert 'http-equiv="refresh"' in web.get(f"/manage/jobs/{held.id}").text  # running: reloads itself
        r = web.post("/manage/add-cases", data={"csrf": _csrf(web), "source": str(CT3_SERIES)})
        assert r.status_code == 409 and f"job {held.id}" in r.text and "running already" in r.text
    finally:
        gate.set()
    assert _wait(web, held.id)["state"] == "done"


# --- export -------------------------------------------------------------------------------------------
def test_export_job_download_and_failure(site):
    svc, app, web, tokens = site
    r = web.post("/manage/export", data={"csrf": _csrf(web), "format": "nnunet", "name": "first", "split": "2"},
                 follow_redirects=False)
    j = _wait(web, _job_id(r))
    assert j["state"] == "done" and j["result"]["exported"] == 1, j
    assert j["stage"] == "files packed" and j["done"] == j["total"]
    # the unapproved cases are refused, named with the reason
    assert any("not approved" in n and "(on this page: include unapproved cases)" in n for n in j["result"]["notes"])
    page = web.get(f"/manage/jobs/{j['id']}").text
    assert 'id="download" href="/manage/exports/first.zip"' in page
    r = web.get("/manage/exports/first.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert "first/ctlabel_manifest.json" in names and "first/dataset.json" in names
    assert any(n.startswith("first/imagesTr/") for n in names) and "first/splits_final.json" not in names
    # the split option reached export_dataset: two folds of one case cannot be made, and the page says so
    assert any("cannot make 2 folds from 1 case" in n for n in j["result"]["notes"]) and not j["result"]["ok"]
    assert (svc.root / "exports" / "first" / "ctlabel_manifest.json").is_file()
    # only to the lead, only archives in PROJECT/exports
    assert TestClient(app, headers=_bearer(tokens["ann"])).get("/manage/exports/first.zip").status_code == 403
    assert TestClient(app).get("/manage/exports/first.zip").status_code == 200 and (
        "Lead token" in TestClient(app).get("/manage/exports/first.zip").text)
    (svc.root / "secret.zip").write_bytes(b"PK")
    for name in ("..%2Fsecret", "../secret", "nope", "first.zip"):
        assert web.get(f"/manage/exports/{name}.zip").status_code == 404, name
    (svc.root / "exports" / "link.zip").symlink_to(svc.root / "secret.zip")
    assert web.get("/manage/exports/link.zip").status_code == 404
    # the same name again without update: the job fails, saying which folder and why
    j = _wait(web, _job_id(web.post("/manage/export", data={"csrf": _csrf(web), "format": "nnunet",
                                                              "name": "first"}, follow_redirects=False)))
    assert j["state"] == "failed" and str(svc.root / "exports" / "first") in j["error"]
    assert "not empty" in j["error"]
    page = web.get(f"/manage/jobs/{j['id']}").text
    assert 'id="job-error"' in page and "not empty" in page
    # bad options are refused before a job starts
    for data, says in [({"format": "zip"}, "unknown format"), ({"format": "monai", "split": "3"}, "nnunet"),
                       ({"format": "nnunet", "name": "../up"}, "an export&#x27;s name")]:
        r = web.post("/manage/export", data={"csrf": _csrf(web), **data})
        assert r.status_code == 422 and says in r.text, (data, r.text[-500:])
    # with update, the same name adds to it
    j = _wait(web, _job_id(web.post("/manage/export", data={"csrf": _csrf(web), "format": "nnunet", "name": "first",
                                                              "update": "on"}, follow_redirects=False)))
    assert j["state"] == "done", j
